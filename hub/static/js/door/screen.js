// The paired door's screen: gate and direction, the scan field (typed codes
// and keyboard-wedge scanners, which type the code and press Enter), the
// verdict, and what the operator needs to trust it: online or not, people
// inside, scans waiting to sync and the conflicts a sync reported.

import htm from "../../vendor/htm.module.js";
import { formatters } from "../i18n.js";
import { Camera } from "./camera.js";
import { saveDevice } from "./device.js";
import { signal } from "./feedback.js";
import { Station } from "./station.js";
import { DoorStore } from "./store.js";
import { Verdict, reasonText } from "./verdict.js";

const { createElement, useEffect, useMemo, useRef, useState } = window.React;
const html = htm.bind(createElement);
const VERDICT_MS = 4000; // full screen this long, then a strip until the next scan

function useStation(device) {
  const [view, setView] = useState(null);
  const station = useRef(null);
  useEffect(() => {
    let live = true;
    DoorStore.open().then((store) => {
      if (!live) return;
      station.current = new Station(device, store, (next) => live && setView(next));
      station.current.start();
    });
    return () => {
      live = false;
      station.current?.stop();
    };
  }, [device.token]);
  return [view, station];
}

function Setup({ t, device, gates, onChange }) {
  const choices = (gates ?? []).filter((gate) => !device.gates || device.gates.includes(gate));
  const direction = device.direction ?? "in";
  return html`<div class="setup">
    ${choices.length
      ? html`<label>${t("door.gate")}
          <select value=${device.gate ?? ""} onChange=${(e) => onChange({ gate: e.target.value })} data-testid="gate">
            <option value="" disabled>${t("door.gate.choose")}</option>
            ${choices.map((gate) => html`<option key=${gate} value=${gate}>${gate}</option>`)}
          </select>
        </label>`
      : html`<p>${t("door.gate.none")}</p>`}
    <fieldset class="direction">
      <legend>${t("door.direction")}</legend>
      ${[["in", t("door.direction.in")], ["out", t("door.direction.out")]].map(([value, label]) => html`
        <label key=${value} class="direction-choice">
          <input type="radio" name="direction" value=${value} checked=${direction === value}
            onChange=${() => onChange({ direction: value })} />
          ${label}
        </label>`)}
    </fieldset>
  </div>`;
}

function Conflicts({ t, format, conflicts }) {
  if (!conflicts.length) return null;
  return html`<section aria-labelledby="conflicts-title">
    <h2 id="conflicts-title">${t("door.conflicts", { count: format.number(conflicts.length) })}</h2>
    <ul class="conflicts" data-testid="conflicts">
      ${conflicts.map((c) => html`<li key=${c.nonce}>
        <strong>${c.ticket?.holder ?? t("door.conflict.no_ticket")}</strong>
        ${" "}${reasonText(t, c.reason)}
        ${" "}${t("door.conflict.at", { gate: c.gate, at: format.date(c.scanned_at) })}
      </li>`)}
    </ul>
  </section>`;
}

function Status({ t, format, view }) {
  const online = view.connection === "open" && view.online;
  return html`<div class="door-status">
    <p role="status" data-testid="connection" data-online=${String(online)}>
      ${online ? t("door.online") : view.bundleAt
        ? t("door.offline", { at: format.date(view.bundleAt) })
        : t("door.offline.no_bundle")}
    </p>
    ${view.bundleAt && html`<p data-testid="bundle">${t("door.bundle", { at: format.date(view.bundleAt) })}</p>`}
    <p class="inside">${t("door.inside")} <strong data-testid="inside">${view.inside === null ? "–" : format.number(view.inside)}</strong></p>
    <p data-testid="queued" data-count=${view.queued}>${t("door.queued", { count: format.number(view.queued) })}</p>
    ${view.error && html`<p role="alert" class="error" data-testid="door-error">${reasonText(t, view.error.code)}</p>`}
  </div>`;
}

export function DoorScreen({ t, language, device, onDevice, onUnpair }) {
  const [view, station] = useStation(device);
  // Times in the event's zone once the hub has told it, as every page shows them.
  const format = useMemo(
    () => formatters(language, view?.timeZone ? { timeZone: view.timeZone } : {}),
    [language, view?.timeZone],
  );
  const [code, setCode] = useState("");
  const [verdict, setVerdict] = useState(null);
  const [full, setFull] = useState(false);
  const input = useRef(null);
  const shown = useRef(0);

  function show(next) {
    const mine = (shown.current += 1);
    setVerdict({ ...next, count: mine });
    setFull(true);
    signal(next.status === "ok" ? "ok" : "refused");
    setTimeout(() => shown.current === mine && setFull(false), VERDICT_MS);
  }

  async function decide(scanned) {
    if (!scanned || !device.gate || !station.current) return;
    show(await station.current.scan(scanned, device.gate, device.direction ?? "in"));
  }

  function submit(event) {
    event.preventDefault();
    // What the field holds now: a wedge scanner types a code and Enter faster than a
    // busy phone re-renders, and the rendered `code` may still be the previous scan's.
    const typed = input.current?.value ?? code;
    setCode("");
    decide(typed.trim());
  }

  function change(changes) {
    const next = { ...device, ...changes };
    saveDevice(next);
    onDevice(next);
  }

  function dismiss() {
    setFull(false);
    input.current?.focus();
  }

  if (view === null) return null;
  return html`<div class="door">
    <p class="event" data-testid="event">${view.eventName ?? t("door.event", { id: device.event_id })}</p>
    <${Setup} t=${t} device=${device} gates=${view.gates} onChange=${change} />
    <form class="scan" onSubmit=${submit}>
      <label>${t("door.code")}
        <input ref=${input} type="text" autocomplete="off" autocapitalize="off" spellcheck="false" autofocus
          enterkeyhint="go" value=${code} onInput=${(e) => setCode(e.target.value)} data-testid="code" />
      </label>
      <button type="submit" disabled=${!device.gate}>${t("door.check")}</button>
    </form>
    ${device.gate && html`<${Camera} t=${t} onCode=${(read) => decide(read.trim())} />`}
    <${Verdict} t=${t} format=${format} verdict=${verdict} full=${full} onDismiss=${dismiss} />
    <${Status} t=${t} format=${format} view=${view} />
    <${Conflicts} t=${t} format=${format} conflicts=${view.conflicts} />
    <section class="unpair" aria-labelledby="unpair-title">
      <h2 id="unpair-title">${t("door.unpair.title")}</h2>
      ${view.queued > 0 && html`<p>${t("door.unpair.queued")}</p>`}
      <button type="button" disabled=${view.queued > 0} onClick=${() => station.current.store.clear().then(onUnpair)}>
        ${t("door.unpair")}
      </button>
    </section>
  </div>`;
}

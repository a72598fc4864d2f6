// Door device pairing (docs/accounts.md §Door devices): a one-time code for
// this event, shown with a QR code of its pairing URL for a phone to scan off
// the screen (the QR is drawn here, with the vendored encoder, as SVG
// elements); and the event's paired devices, with their use, to revoke.

import qrcode from "../../vendor/qrcode.mjs";
import { devices, pairDevice, revokeDevice } from "./api.js";
import { ErrorNote, React, html, useSubmit } from "./ui.js";

const QUIET = 4; // modules of white around the code (ISO/IEC 18004 quiet zone)

/** The dark modules of `text`'s QR code as one SVG path, and the code's size in modules. */
function qrPath(text) {
  const code = qrcode(0, "M");
  code.addData(text);
  code.make();
  const size = code.getModuleCount();
  let path = "";
  for (let row = 0; row < size; row += 1) {
    for (let col = 0; col < size; col += 1) {
      if (code.isDark(row, col)) path += `M${col + QUIET} ${row + QUIET}h1v1h-1z`;
    }
  }
  return { path, size: size + 2 * QUIET };
}

function Qr({ text, label }) {
  const { path, size } = React.useMemo(() => qrPath(text), [text]);
  return html`<svg class="qr" role="img" aria-label=${label} viewBox=${`0 0 ${size} ${size}`}
    data-testid="pairing-qr">
    <rect width=${size} height=${size} fill="#fff" />
    <path d=${path} fill="#000" />
  </svg>`;
}

function Devices({ t, format, event, org }) {
  const [list, setList] = React.useState(null);
  const [error, setError] = React.useState(null);
  const load = React.useCallback(() => {
    setError(null);
    devices(org).then((found) => setList(found.devices.filter((d) => d.event_id === event.id)), setError);
  }, [org, event.id]);
  React.useEffect(load, [load]);
  async function revoke(id) {
    setError(null);
    try {
      await revokeDevice(org, id);
      load();
    } catch (failure) {
      setError(failure);
    }
  }
  return html`<section aria-labelledby="devices-title" class="card">
    <h2 id="devices-title">${t("organizer.devices.title")}</h2>
    <${ErrorNote} t=${t} error=${error} />
    <button type="button" onClick=${load}>${t("organizer.devices.refresh")}</button>
    ${list?.length === 0 && html`<p>${t("organizer.devices.none")}</p>`}
    ${list?.length > 0 &&
    html`<ul class="keys" data-testid="devices">
      ${list.map((d) => html`<li key=${d.id} data-revoked=${String(d.revoked_at !== null)}>
        <strong>${d.name}</strong> ·
        ${t("organizer.devices.use", {
          scans: format.number(d.scans),
          seen: format.date(d.last_seen_at ?? d.paired_at),
        })}
        ${d.revoked_at
          ? ` · ${t("organizer.devices.revoked")}`
          : html` <button type="button" onClick=${() => revoke(d.id)}>
              ${t("organizer.devices.revoke", { name: d.name })}
            </button>`}
      </li>`)}
    </ul>`}
  </section>`;
}

export function Pairing({ t, format, event, org }) {
  return html`<${PairDevice} t=${t} format=${format} event=${event} org=${org} />
    <${Devices} t=${t} format=${format} event=${event} org=${org} />`;
}

function PairDevice({ t, format, event, org }) {
  const [name, setName] = React.useState("");
  const [pairing, setPairing] = React.useState(null);
  const { submit, error, busy } = useSubmit(async () => {
    setPairing(null);
    setPairing(await pairDevice(org, event.id, name));
  });

  return html`<section aria-labelledby="pair-title" class="card">
    <h2 id="pair-title">${t("organizer.pair.title")}</h2>
    <p class="hint">${t("organizer.pair.explain")}</p>
    <form onSubmit=${submit}>
      <label>${t("organizer.pair.name")}
        <input required maxlength="100" value=${name} onInput=${(e) => setName(e.target.value)} />
      </label>
      <${ErrorNote} t=${t} error=${error} />
      <button type="submit" disabled=${busy}>${t("organizer.pair.create")}</button>
    </form>
    <div aria-live="polite">
      ${pairing &&
      html`<div class="pairing">
        <${Qr} text=${pairing.url} label=${t("organizer.pair.qr", { name: pairing.name })} />
        <p>${t("organizer.pair.code")} <strong class="code" data-testid="pairing-code">${pairing.code}</strong></p>
        <p>${t("organizer.pair.expires", { time: format.date(pairing.expires_at) })}</p>
      </div>`}
    </div>
  </section>`;
}

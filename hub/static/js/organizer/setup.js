// Setting an event up: its own fields (events.update), its ticket types with
// prices (tickettypes.list, tickettypes.create), its gates (gates.set).

import { EventForm } from "./events.js";
import { ErrorNote, React, html, useSubmit } from "./ui.js";
import { wallClock } from "./zoned.js";

/** Digits after the point in `currency` (ISO 4217 minor unit, as Intl knows it). */
function digitsOf(currency) {
  return new Intl.NumberFormat("en", { style: "currency", currency }).resolvedOptions().maximumFractionDigits;
}

function EditEvent({ t, event, client, onChanged }) {
  const [saved, setSaved] = React.useState(false);
  const initial = {
    name: event.name,
    starts: wallClock(event.starts_at, event.timezone),
    ends: wallClock(event.ends_at, event.timezone),
    timezone: event.timezone,
    locale: event.locale,
    currency: event.currency,
  };
  async function save(fields) {
    setSaved(false);
    onChanged(await client.rpc("events.update", { event_id: event.id, ...fields }));
    setSaved(true);
  }
  return html`<section aria-labelledby="edit-title" class="card">
    <h2 id="edit-title">${t("organizer.setup.event")}</h2>
    <${EventForm} key=${event.updated_at} t=${t} initial=${initial} submitLabel=${t("organizer.setup.save")}
      onSubmit=${save} />
    <p role="status" data-testid="event-saved">${saved && t("organizer.setup.saved")}</p>
  </section>`;
}

function TicketTypes({ t, format, event, client }) {
  const [types, setTypes] = React.useState(null);
  const [error, setError] = React.useState(null);
  const [name, setName] = React.useState("");
  const [price, setPrice] = React.useState("");
  const [quota, setQuota] = React.useState("");
  const digits = digitsOf(event.currency);

  const load = React.useCallback(() => {
    client.rpc("tickettypes.list", { event_id: event.id }).then((found) => setTypes(found.ticket_types), setError);
  }, [client, event.id]);
  React.useEffect(load, [load]);

  const { submit, error: refused, busy } = useSubmit(async () => {
    const params = { event_id: event.id, name, price_minor: Math.round(Number(price) * 10 ** digits) };
    if (quota !== "") params.quota = Number(quota);
    await client.rpc("tickettypes.create", params);
    setName("");
    setPrice("");
    setQuota("");
    load();
  });

  return html`<section aria-labelledby="types-title" class="card">
    <h2 id="types-title">${t("organizer.types.title")}</h2>
    <${ErrorNote} t=${t} error=${error} />
    ${types?.length === 0 && html`<p>${t("organizer.types.none")}</p>`}
    ${types?.length > 0 &&
    html`<table class="types" data-testid="ticket-types">
      <thead><tr>
        <th scope="col">${t("organizer.types.name")}</th>
        <th scope="col">${t("organizer.types.price")}</th>
        <th scope="col">${t("organizer.types.quota")}</th>
        <th scope="col">${t("organizer.types.sold")}</th>
        <th scope="col">${t("organizer.types.remaining")}</th>
      </tr></thead>
      <tbody>
        ${types.map((type) => html`<tr key=${type.id}>
          <th scope="row">${type.name}</th>
          <td>${format.money(type.price_minor, type.currency)}</td>
          <td>${type.seated ? t("organizer.types.seated") : type.quota === null ? "∞" : format.number(type.quota)}</td>
          <td>${format.number(type.sold)}</td>
          <td>${type.remaining === null ? "∞" : format.number(type.remaining)}</td>
        </tr>`)}
      </tbody>
    </table>`}
    <h3>${t("organizer.types.new")}</h3>
    <form onSubmit=${submit}>
      <label>${t("organizer.types.name")}
        <input required maxlength="200" value=${name} onInput=${(e) => setName(e.target.value)} />
      </label>
      <label>${t("organizer.types.price_in", { currency: event.currency })}
        <input type="number" required min="0" step=${10 ** -digits} value=${price}
          onInput=${(e) => setPrice(e.target.value)} />
      </label>
      <label>${t("organizer.types.quota_optional")}
        <input type="number" min="0" step="1" value=${quota} onInput=${(e) => setQuota(e.target.value)} />
      </label>
      <${ErrorNote} t=${t} error=${refused} />
      <button type="submit" disabled=${busy}>${t("organizer.types.create")}</button>
    </form>
  </section>`;
}

function Gates({ t, event, client }) {
  const [gates, setGates] = React.useState("");
  const [reentry, setReentry] = React.useState(false);
  const [saved, setSaved] = React.useState(null);
  const [error, setError] = React.useState(null);
  React.useEffect(() => {
    client.rpc("gates.list", { event_id: event.id }).then((found) => {
      setGates(found.gates.join(", "));
      setReentry(found.allow_reentry);
    }, setError);
  }, [client, event.id]);
  const { submit, error: refused, busy } = useSubmit(async () => {
    const names = gates.split(/[,\s]+/).filter(Boolean);
    const stored = await client.rpc("gates.set", { event_id: event.id, gates: names, allow_reentry: reentry });
    setGates(stored.gates.join(", "));
    setSaved(stored);
  });
  return html`<section aria-labelledby="gates-title" class="card">
    <h2 id="gates-title">${t("organizer.gates.title")}</h2>
    <${ErrorNote} t=${t} error=${error} />
    <form onSubmit=${submit}>
      <label>${t("organizer.gates.names")}
        <input required value=${gates} onInput=${(e) => setGates(e.target.value)} />
      </label>
      <label class="check">
        <input type="checkbox" checked=${reentry} onChange=${(e) => setReentry(e.target.checked)} />
        ${t("organizer.gates.reentry")}
      </label>
      <${ErrorNote} t=${t} error=${refused} />
      <button type="submit" disabled=${busy}>${t("organizer.gates.save")}</button>
    </form>
    <p role="status" data-testid="gates-saved">
      ${saved && t("organizer.gates.saved", { count: saved.gates.length })}
    </p>
  </section>`;
}

export function Setup({ t, format, event, client, onChanged }) {
  return html`<div>
    <${EditEvent} t=${t} event=${event} client=${client} onChanged=${onChanged} />
    <${TicketTypes} t=${t} format=${format} event=${event} client=${client} />
    <${Gates} t=${t} event=${event} client=${client} />
  </div>`;
}

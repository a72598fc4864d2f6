// An event's ticket types with their prices, entered in the event currency's
// units and sent in minor units: the list with sales, adding one, and changing
// a type's name, price (for holds from then on) or quota (docs/allocation.md
// §Ticket types and issuing).

import { ErrorNote, React, html, useSubmit } from "./ui.js";

/** Digits after the point in `currency` (ISO 4217 minor unit, as Intl knows it). */
function digitsOf(currency) {
  return new Intl.NumberFormat("en", { style: "currency", currency }).resolvedOptions().maximumFractionDigits;
}

function TypeForm({ t, currency, initial, submitLabel, onSubmit }) {
  const digits = digitsOf(currency);
  const [name, setName] = React.useState(initial.name);
  const [price, setPrice] = React.useState(initial.price);
  const [quota, setQuota] = React.useState(initial.quota);
  const { submit, error, busy } = useSubmit(async () => {
    await onSubmit({
      name,
      price_minor: Math.round(Number(price) * 10 ** digits),
      quota: quota === "" ? null : Number(quota),
    });
    setName(initial.name);
    setPrice(initial.price);
    setQuota(initial.quota);
  });
  return html`<form onSubmit=${submit}>
    <label>${t("organizer.types.name")}
      <input required maxlength="200" value=${name} onInput=${(e) => setName(e.target.value)} />
    </label>
    <label>${t("organizer.types.price_in", { currency })}
      <input type="number" required min="0" step=${10 ** -digits} value=${price}
        onInput=${(e) => setPrice(e.target.value)} />
    </label>
    <label>${t("organizer.types.quota_optional")}
      <input type="number" min="0" step="1" value=${quota} onInput=${(e) => setQuota(e.target.value)} />
    </label>
    <${ErrorNote} t=${t} error=${error} />
    <button type="submit" disabled=${busy}>${submitLabel}</button>
  </form>`;
}

export function TicketTypes({ t, format, event, client }) {
  const [types, setTypes] = React.useState(null);
  const [error, setError] = React.useState(null);
  const [editing, setEditing] = React.useState(null);
  const load = React.useCallback(() => {
    client.rpc("tickettypes.list", { event_id: event.id }).then((found) => setTypes(found.ticket_types), setError);
  }, [client, event.id]);
  React.useEffect(load, [load]);

  async function create(fields) {
    const params = { event_id: event.id, name: fields.name, price_minor: fields.price_minor };
    if (fields.quota !== null) params.quota = fields.quota;
    await client.rpc("tickettypes.create", params);
    load();
  }
  async function update(fields) {
    await client.rpc("tickettypes.update", { event_id: event.id, ticket_type_id: editing.id, ...fields });
    setEditing(null);
    load();
  }
  const units = (type) => String(type.price_minor / 10 ** digitsOf(type.currency));

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
        <th scope="col"><span class="visually-hidden">${t("organizer.members.actions")}</span></th>
      </tr></thead>
      <tbody>
        ${types.map((type) => html`<tr key=${type.id}>
          <th scope="row">${type.name}</th>
          <td>${format.money(type.price_minor, type.currency)}</td>
          <td>${type.seated ? t("organizer.types.seated") : type.quota === null ? "∞" : format.number(type.quota)}</td>
          <td>${format.number(type.sold)}</td>
          <td>${type.remaining === null ? "∞" : format.number(type.remaining)}</td>
          <td><button type="button" onClick=${() => setEditing(type)}>
            ${t("organizer.types.edit", { name: type.name })}
          </button></td>
        </tr>`)}
      </tbody>
    </table>`}
    ${editing &&
    html`<h3>${t("organizer.types.editing", { name: editing.name })}</h3>
      <${TypeForm} key=${editing.id} t=${t} currency=${editing.currency}
        initial=${{ name: editing.name, price: units(editing), quota: editing.quota === null ? "" : String(editing.quota) }}
        submitLabel=${t("organizer.types.save")} onSubmit=${update} />`}
    <h3>${t("organizer.types.new")}</h3>
    <${TypeForm} t=${t} currency=${event.currency} initial=${{ name: "", price: "", quota: "" }}
      submitLabel=${t("organizer.types.create")} onSubmit=${create} />
  </section>`;
}

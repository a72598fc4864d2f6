// Setting an event up: its own fields (events.update) or deleting it, its
// ticket types (types.js), its gates (gates.set).

import { EventForm } from "./events.js";
import { TicketTypes } from "./types.js";
import { ErrorNote, React, html, useSubmit } from "./ui.js";
import { wallClock } from "./zoned.js";

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

/** Deleting the event: refused while it has tickets, orders or active holds (the counts are told). */
function DeleteEvent({ t, event, client }) {
  const [error, setError] = React.useState(null);
  async function remove() {
    if (!window.confirm(t("organizer.setup.delete_confirm", { name: event.name }))) return;
    setError(null);
    try {
      await client.rpc("events.delete", { event_id: event.id });
      location.hash = "#events";
    } catch (failure) {
      setError(failure);
    }
  }
  const busy = error?.code === "conflict" && error.details?.reason === "not_empty";
  return html`<section aria-labelledby="delete-title" class="card">
    <h2 id="delete-title">${t("organizer.setup.delete_title")}</h2>
    ${busy
      ? html`<p role="alert" class="error" data-testid="error" data-code="conflict">
          ${t("organizer.setup.not_empty", {
            tickets: error.details.tickets ?? 0,
            orders: error.details.orders ?? 0,
            holds: error.details.active_holds ?? 0,
          })}
        </p>`
      : html`<${ErrorNote} t=${t} error=${error} />`}
    <button type="button" onClick=${remove}>${t("organizer.setup.delete")}</button>
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
    <${DeleteEvent} t=${t} event=${event} client=${client} />
  </div>`;
}

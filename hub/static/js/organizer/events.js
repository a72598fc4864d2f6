// The organization's events: the list, and a form creating one (name, times
// in its time zone, locale, currency) that opens it once created.

import { formatters } from "../i18n.js";
import { ErrorNote, React, html, useSubmit } from "./ui.js";
import { zonedIso } from "./zoned.js";

const PAGE = 500;

async function allEvents(client) {
  const events = [];
  let after;
  do {
    const page = await client.rpc("events.list", after ? { limit: PAGE, after } : { limit: PAGE });
    events.push(...page.events);
    after = page.next;
  } while (after);
  return events;
}

export function Events({ t, language, client }) {
  const [events, setEvents] = React.useState(null);
  const [error, setError] = React.useState(null);

  React.useEffect(() => {
    let current = true;
    allEvents(client)
      .then((found) => current && setEvents(found))
      .catch((failure) => current && setError(failure));
    return () => {
      current = false;
    };
  }, [client]);

  return html`<section aria-labelledby="events-title" class="card">
      <h2 id="events-title">${t("organizer.events.title")}</h2>
      <${ErrorNote} t=${t} error=${error} />
      ${events === null && !error && html`<p role="status">${t("organizer.loading")}</p>`}
      ${events?.length === 0 && html`<p>${t("organizer.events.none")}</p>`}
      ${events?.length > 0 &&
      html`<ul class="events" data-testid="events">
        ${events.map((event) => {
          const when = formatters(language, { timeZone: event.timezone }).date(event.starts_at);
          return html`<li key=${event.id}>
            <a href=${`#event/${event.id}`}>${event.name}</a> <span>${when}</span>
          </li>`;
        })}
      </ul>`}
    </section>
    <${CreateEvent} t=${t} client=${client} />`;
}

/** The event's fields as a form: times on the wall clocks of its zone. */
export function EventForm({ t, initial, submitLabel, onSubmit }) {
  const zones = React.useMemo(() => {
    const known = Intl.supportedValuesOf("timeZone");
    return known.includes(initial.timezone) ? known : [initial.timezone, ...known];
  }, [initial.timezone]);
  const currencies = React.useMemo(() => Intl.supportedValuesOf("currency"), []);
  const [fields, setFields] = React.useState(initial);
  const set = (name) => (e) => setFields({ ...fields, [name]: e.target.value });
  const { submit, error, busy } = useSubmit(() =>
    onSubmit({
      name: fields.name,
      starts_at: zonedIso(fields.starts, fields.timezone),
      ends_at: zonedIso(fields.ends, fields.timezone),
      timezone: fields.timezone,
      locale: fields.locale,
      currency: fields.currency,
    }),
  );

  return html`<form onSubmit=${submit}>
    <label>${t("organizer.create.name")}
      <input required maxlength="200" value=${fields.name} onInput=${set("name")} />
    </label>
    <label>${t("organizer.create.starts")}
      <input type="datetime-local" required value=${fields.starts} onInput=${set("starts")} />
    </label>
    <label>${t("organizer.create.ends")}
      <input type="datetime-local" required min=${fields.starts} value=${fields.ends}
        onInput=${set("ends")} />
    </label>
    <label>${t("organizer.create.timezone")}
      <select value=${fields.timezone} onChange=${set("timezone")}>
        ${zones.map((zone) => html`<option key=${zone} value=${zone}>${zone}</option>`)}
      </select>
    </label>
    <label>${t("organizer.create.locale")}
      <input required maxlength="35" value=${fields.locale} onInput=${set("locale")} />
    </label>
    <label>${t("organizer.create.currency")}
      <select value=${fields.currency} onChange=${set("currency")}>
        ${currencies.map((code) => html`<option key=${code} value=${code}>${code}</option>`)}
      </select>
    </label>
    <${ErrorNote} t=${t} error=${error} />
    <button type="submit" disabled=${busy}>${submitLabel}</button>
  </form>`;
}

function CreateEvent({ t, client }) {
  const here = Intl.DateTimeFormat().resolvedOptions().timeZone;
  const initial = { name: "", starts: "", ends: "", timezone: here, locale: navigator.language, currency: "EUR" };
  async function create(fields) {
    const event = await client.rpc("events.create", fields);
    location.hash = `#event/${event.id}`;
  }
  return html`<section aria-labelledby="create-title" class="card">
    <h2 id="create-title">${t("organizer.create.title")}</h2>
    <${EventForm} t=${t} initial=${initial} submitLabel=${t("organizer.create.submit")} onSubmit=${create} />
  </section>`;
}

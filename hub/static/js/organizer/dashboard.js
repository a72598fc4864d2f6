// The live dashboard of an event: `event.{id}.dashboard` followed through the
// client module; every publication is the whole dashboard (docs/insight.md
// §Live dashboard), so the page shows the latest one it has.

import { ScansChart } from "./chart.js";
import { useLive } from "./live.js";
import { ErrorNote, html } from "./ui.js";

const latest = (_, { snapshot, data }) => snapshot ?? data;

function reasons(t) {
  return {
    invalid: t("organizer.reason.invalid"),
    wrong_event: t("organizer.reason.wrong_event"),
    unknown: t("organizer.reason.unknown"),
    revoked: t("organizer.reason.revoked"),
    already_inside: t("organizer.reason.already_inside"),
    not_inside: t("organizer.reason.not_inside"),
    reentry_forbidden: t("organizer.reason.reentry_forbidden"),
    gate_not_allowed: t("organizer.reason.gate_not_allowed"),
    device_rejected: t("organizer.reason.device_rejected"),
  };
}

function roles(t) {
  return {
    attendee: t("organizer.role.attendee"),
    staff: t("organizer.role.staff"),
    viewer: t("organizer.role.viewer"),
    organizer: t("organizer.role.organizer"),
    service: t("organizer.role.service"),
  };
}

/** One figure: a label and a number, found by its test id. */
function Figure({ label, value, id }) {
  return html`<div class="figure"><dt>${label}</dt><dd data-testid=${id}>${value}</dd></div>`;
}

/** A table of named counts, or a line saying there are none. */
function Counts({ caption, names, counts, format, id, none }) {
  const rows = Object.entries(counts ?? {});
  if (rows.length === 0) return html`<p data-testid=${id}>${caption}: ${none}</p>`;
  return html`<table data-testid=${id}>
    <caption>${caption}</caption>
    <tbody>
      ${rows.map(
        ([name, n]) => html`<tr key=${name} data-name=${name}>
          <th scope="row">${names?.[name] ?? name}</th><td>${format.number(n)}</td>
        </tr>`,
      )}
    </tbody>
  </table>`;
}

export function Dashboard({ t, format, event, client }) {
  const { state: board, error } = useLive(client, `event.${event.id}.dashboard`, latest);
  const none = t("organizer.dashboard.none");
  const n = (value) => format.number(value ?? 0);

  return html`<section aria-labelledby="dashboard-title" class="card dashboard">
    <h2 id="dashboard-title">${t("organizer.dashboard.title")}</h2>
    <${ErrorNote} t=${t} error=${error} />
    ${board === null && !error && html`<p role="status">${t("organizer.loading")}</p>`}
    ${board &&
    html`<div>
      <p class="hint" aria-live="polite" data-testid="dashboard-minute">
        ${t("organizer.dashboard.as_of", { time: format.date(board.minute) })}
      </p>
      <h3>${t("organizer.dashboard.doors")}</h3>
      <dl class="figures">
        <${Figure} label=${t("organizer.dashboard.inside")} value=${n(board.inside)} id="inside" />
        <${Figure} label=${t("organizer.dashboard.checked_in")} value=${n(board.checked_in)} id="checked-in" />
        <${Figure} label=${t("organizer.dashboard.conflicts")} value=${n(board.offline_conflicts)}
          id="conflicts" />
      </dl>
      <${Counts} caption=${t("organizer.dashboard.by_gate")} counts=${board.inside_by_gate}
        format=${format} id="inside-by-gate" none=${none} />
      <${Counts} caption=${t("organizer.dashboard.rejections")} names=${reasons(t)}
        counts=${board.rejections} format=${format} id="rejections" none=${none} />
      <${ScansChart} t=${t} format=${format} timeZone=${event.timezone} minute=${board.minute}
        counts=${board.scans_per_minute} />
      <h3>${t("organizer.dashboard.sales")}</h3>
      <dl class="figures">
        <${Figure} label=${t("organizer.dashboard.tickets")} value=${n(board.sales.tickets)} id="tickets" />
        <${Figure} label=${t("organizer.dashboard.orders")} value=${n(board.sales.orders)} id="orders" />
        ${Object.entries(board.sales.revenue).map(
          ([currency, minor]) => html`<${Figure} key=${currency}
            label=${t("organizer.dashboard.revenue", { currency })}
            value=${format.money(minor, currency)} id=${`revenue-${currency}`} />`,
        )}
        <${Figure} label=${t("organizer.dashboard.available")} value=${n(board.seats.available)}
          id="seats-available" />
        <${Figure} label=${t("organizer.dashboard.held")} value=${n(board.seats.held)} id="seats-held" />
        <${Figure} label=${t("organizer.dashboard.sold")} value=${n(board.seats.sold)} id="seats-sold" />
      </dl>
      <h3>${t("organizer.dashboard.audience")}</h3>
      <${Counts} caption=${t("organizer.dashboard.online")} names=${roles(t)} counts=${board.online}
        format=${format} id="online" none=${none} />
      <dl class="figures">
        <${Figure} label=${t("organizer.dashboard.polls_open")} value=${n(board.polls.open)} id="polls-open" />
        <${Figure} label=${t("organizer.dashboard.questions_open")} value=${n(board.questions.open)}
          id="questions-open" />
      </dl>
      <${Counts} caption=${t("organizer.dashboard.voters")} counts=${board.polls.voters} format=${format}
        names=${Object.fromEntries(
          Object.keys(board.polls.voters).map((id) => [id, t("organizer.dashboard.poll", { id })]),
        )} id="voters" none=${none} />
    </div>`}
  </section>`;
}

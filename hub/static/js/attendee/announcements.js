// The organizers' announcements as they arrive on event.{id}.announcements.
// An announcement is any JSON an organizer published: its `text` when it has
// one, else the JSON itself, always shown as text (markup is never run).

import htm from "../../vendor/htm.module.js";
import { useChannel } from "./live.js";

const { createElement, useState } = window.React;
const html = htm.bind(createElement);
const MAX_SHOWN = 50;

function textOf(data) {
  if (typeof data === "string") return data;
  if (typeof data?.text === "string") return data.text;
  return JSON.stringify(data);
}

export function Announcements({ t, format, client, eventId }) {
  const [shown, setShown] = useState([]);
  const [error, setError] = useState(null);
  useChannel(
    client,
    `event.${eventId}.announcements`,
    {
      onPublication: ({ offset, epoch, data }) =>
        setShown((now) => [{ key: `${epoch}:${offset}`, text: textOf(data), at: Date.now() }, ...now].slice(0, MAX_SHOWN)),
    },
    setError,
  );
  return html`<section aria-labelledby="announcements-title">
    <h2 id="announcements-title">${t("attendee.announcements.title")}</h2>
    ${error && html`<p role="alert" class="error" data-code=${error.code}>${t("attendee.error", { code: error.code })}</p>`}
    <div role="log" aria-live="polite" aria-labelledby="announcements-title">
    <ol class="announcements" data-testid="announcements">
      ${shown.map(
        (item) => html`<li key=${item.key}>
          <p>${item.text}</p>
          <small>${t("attendee.announcements.at", { at: format.date(item.at) })}</small>
        </li>`,
      )}
    </ol>
    </div>
    ${shown.length === 0 && html`<p>${t("attendee.announcements.none")}</p>`}
  </section>`;
}

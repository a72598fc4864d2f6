// The attendee's page (docs/web.md §Attendee page): /e/{event_id} shows one
// event live to a signed-in attendee, where they buy, with their tickets;
// /signin is where a mailed sign-in link lands.

import htm from "../../vendor/htm.module.js";
import { formatters } from "../i18n.js";
import { Shell } from "../shell.js";
import { call, whoAmI } from "./api.js";
import { LiveEvent } from "./event.js";
import { Landing, SignIn } from "./signin.js";
import { MyTickets, forgetTickets, savedAttendee } from "./tickets.js";

const { createElement, useEffect, useState } = window.React;
const html = htm.bind(createElement);
const { event: eventParam } = document.body.dataset;
const eventId = eventParam ? Number(eventParam) : null;


function SignedIn({ t, language, format, attendee, onSignedOut }) {
  const [bought, setBought] = useState(0); // purchases made here: my tickets reload after each
  const [error, setError] = useState(null);
  async function signOut() {
    setError(null);
    try {
      await call("POST", "/api/v1/attendee/signout");
    } catch (failure) {
      // `unauthorized`: no session left (signed out in another tab, or it ended) — signed out.
      if (failure.code !== "unauthorized") {
        setError(failure); // still signed in on the hub: say so rather than pretend
        return;
      }
    }
    forgetTickets();
    onSignedOut();
  }
  return html`<p>
      ${t("attendee.signed_in", { email: attendee.email })}
      ${" "}<button type="button" onClick=${signOut}>${t("attendee.signout")}</button>
    </p>
    ${error && html`<p role="alert" class="error" data-code=${error.code}>${t("attendee.error", { code: error.code })}</p>`}
    ${eventId !== null && html`<${LiveEvent} t=${t} language=${language} eventId=${eventId} attendee=${attendee}
      onBought=${() => setBought((n) => n + 1)} />`}
    <${MyTickets} t=${t} format=${format} attendee=${attendee} version=${bought} />`;
}

function Body({ t, language, format }) {
  const [attendee, setAttendee] = useState(undefined);
  const [error, setError] = useState(null);
  const landing = location.pathname === "/signin";

  useEffect(() => {
    if (landing) return;
    whoAmI()
      .then(setAttendee)
      .catch((failure) => {
        // Offline (a page sw.js served from its cache): the tickets saved on this device.
        const saved = failure.code === "unavailable" ? savedAttendee() : null;
        if (saved) setAttendee(saved);
        else setError(failure);
      });
  }, []);

  if (landing && attendee === undefined) return html`<${Landing} t=${t} onSignedIn=${setAttendee} />`;
  if (error) return html`<p role="alert" class="error" data-code=${error.code}>${t("attendee.error", { code: error.code })}</p>`;
  if (attendee === undefined) return null;
  if (attendee === null) return html`<${SignIn} t=${t} language=${language} />`;
  return html`<${SignedIn} t=${t} language=${language} format=${format} attendee=${attendee}
    onSignedOut=${() => setAttendee(null)} />`;
}

function page(t, language) {
  return html`<${Body} t=${t} language=${language} format=${formatters(language)} />`;
}

window.ReactDOM.createRoot(document.getElementById("root")).render(html`<${Shell} app="attendee" render=${page} />`);
if (eventId !== null) {
  // Offline reading is a bonus: a browser without service workers still has the page.
  navigator.serviceWorker?.register("/e/sw.js", { scope: "/e/" }).catch(() => {});
}

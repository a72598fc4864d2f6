// The attendee's page (docs/web.md §Attendee page): /e/{event_id} shows one
// event live to a signed-in attendee, where they buy, with their tickets;
// /signin is where a mailed sign-in link lands.

import htm from "../../vendor/htm.module.js";
import {
  LANGUAGES,
  browserLanguage,
  formatters,
  loadCatalogue,
  rememberLanguage,
  translator,
} from "../i18n.js";
import { call, whoAmI } from "./api.js";
import { LiveEvent } from "./event.js";
import { Landing, SignIn } from "./signin.js";
import { MyTickets, forgetTickets, savedAttendee } from "./tickets.js";

const { createElement, useEffect, useState } = window.React;
const html = htm.bind(createElement);
const { event: eventParam, i18n: i18nBase } = document.body.dataset;
const eventId = eventParam ? Number(eventParam) : null;

function LanguageSwitch({ t, language, onChange }) {
  return html`<label class="language">
    ${t("language.label")}
    <select value=${language} onChange=${(e) => onChange(e.target.value)} data-testid="language">
      ${LANGUAGES.map((code) => html`<option key=${code} value=${code}>${t(`language.${code}`)}</option>`)}
    </select>
  </label>`;
}

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

function Page() {
  const [language, setLanguage] = useState(browserLanguage);
  const [catalogue, setCatalogue] = useState(null);
  const [failed, setFailed] = useState(false);

  useEffect(() => {
    let current = true;
    loadCatalogue(i18nBase, language)
      .then((loaded) => current && setCatalogue({ language, strings: loaded }))
      .catch(() => current && setFailed(true));
    return () => {
      current = false;
    };
  }, [language]);

  if (failed) return html`<p role="alert">Bilten: the catalogue could not be loaded.</p>`;
  if (catalogue === null) return null;
  const t = translator(catalogue.strings);
  document.documentElement.lang = catalogue.language;
  document.title = t("app.attendee");

  function choose(next) {
    rememberLanguage(next);
    setLanguage(next);
  }

  return html`<header>
      <h1 data-testid="title">${t("app.attendee")}</h1>
      <${LanguageSwitch} t=${t} language=${catalogue.language} onChange=${choose} />
    </header>
    <${Body} t=${t} language=${catalogue.language} format=${formatters(catalogue.language)} />`;
}

window.ReactDOM.createRoot(document.getElementById("root")).render(html`<${Page} />`);
if (eventId !== null) {
  // Offline reading is a bonus: a browser without service workers still has the page.
  navigator.serviceWorker?.register("/e/sw.js", { scope: "/e/" }).catch(() => {});
}

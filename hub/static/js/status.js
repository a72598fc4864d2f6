// The status page every app route shows until its app lands: it proves the
// stack in the browser (the vendored React and htm, the client module, the
// catalogue) by connecting with a token and following one channel live.
// docs/web.md §Pages.

import htm from "../vendor/htm.module.js";
import { BiltenClient } from "./bilten.js";
import {
  LANGUAGES,
  browserLanguage,
  formatters,
  loadCatalogue,
  rememberLanguage,
  translator,
} from "./i18n.js";

const { createElement, useEffect, useRef, useState } = window.React;
const html = htm.bind(createElement);
const { app, event: eventId, i18n: i18nBase } = document.body.dataset;
const MAX_SHOWN = 50; // publications kept on screen

function socketUrl() {
  return `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`;
}

function LanguageSwitch({ t, language, onChange }) {
  return html`<label class="language">
    ${t("language.label")}
    <select value=${language} onChange=${(e) => onChange(e.target.value)} data-testid="language">
      ${LANGUAGES.map((code) => html`<option key=${code} value=${code}>${t(`language.${code}`)}</option>`)}
    </select>
  </label>`;
}

function Live({ t, format }) {
  const [token, setToken] = useState("");
  const [channel, setChannel] = useState(eventId ? `event.${eventId}.announcements` : "");
  const [state, setState] = useState("idle");
  const [subscription, setSubscription] = useState(null);
  const [publications, setPublications] = useState([]);
  const [error, setError] = useState(null);
  const client = useRef(null);
  const tokenRef = useRef(token);
  tokenRef.current = token;

  useEffect(() => () => client.current?.close(), []);

  async function follow(event) {
    event.preventDefault();
    client.current?.close();
    setError(null);
    setPublications([]);
    setSubscription(null);
    const live = new BiltenClient(socketUrl(), { token: () => tokenRef.current });
    client.current = live;
    live.onState((next) => {
      setState(next);
      if (next === "closed" && live.error) setError(live.error);
    });
    try {
      await live.connect();
      await live.subscribe(channel, {
        onSubscribed: (frame) => setSubscription(frame),
        onPublication: (pub) =>
          setPublications((shown) => [{ ...pub, at: Date.now() }, ...shown].slice(0, MAX_SHOWN)),
        onError: (failure) => setError(failure),
      });
    } catch (failure) {
      setError(failure);
    }
  }

  return html`<section aria-labelledby="live-title">
    <h2 id="live-title">${t("live.title")}</h2>
    <form onSubmit=${follow}>
      <label>${t("live.token")}
        <input type="password" autocomplete="off" required value=${token}
          onInput=${(e) => setToken(e.target.value)} data-testid="token" />
      </label>
      <label>${t("live.channel")}
        <input type="text" required value=${channel} placeholder="event.42.announcements"
          onInput=${(e) => setChannel(e.target.value)} data-testid="channel" />
      </label>
      <button type="submit" data-testid="follow">${t("live.follow")}</button>
    </form>
    <p role="status" aria-live="polite">
      ${t("live.state")} <strong data-testid="state" data-state=${state}>${t(`state.${state}`)}</strong>
    </p>
    ${subscription &&
    html`<p data-testid="subscription" data-recovered=${String(subscription.recovered)}>
      ${t(subscription.recovered ? "live.recovered" : "live.subscribed", {
        channel: subscription.channel,
        offset: format.number(subscription.offset),
      })}
    </p>`}
    ${error &&
    html`<p role="alert" class="error" data-testid="error" data-code=${error.code}>
      ${t("live.error", { code: error.code })}
    </p>`}
    <h3>${t("live.publications", { count: format.number(publications.length) })}</h3>
    <ol class="publications" data-testid="publications">
      ${publications.map(
        (pub) => html`<li key=${`${pub.epoch}:${pub.offset}`} data-offset=${pub.offset}>
          <span>${t("live.publication", { offset: format.number(pub.offset), at: format.date(pub.at) })}</span>
          <code>${JSON.stringify(pub.data)}</code>
        </li>`,
      )}
    </ol>
  </section>`;
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
  const format = formatters(catalogue.language);
  document.documentElement.lang = catalogue.language;
  document.title = t(`app.${app}`);

  function choose(next) {
    rememberLanguage(next);
    setLanguage(next);
  }

  return html`<header>
      <h1 data-testid="title">${t(`app.${app}`)}</h1>
      <${LanguageSwitch} t=${t} language=${catalogue.language} onChange=${choose} />
    </header>
    <p>${t("page.notice")}</p>
    <${Live} t=${t} format=${format} />`;
}

window.ReactDOM.createRoot(document.getElementById("root")).render(html`<${Page} />`);

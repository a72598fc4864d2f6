// The door device (`/door`): pair once with the organizer's code, pick a gate,
// scan; verdicts come from the hub, or from the check-in bundle while offline.
// An installable web app: a manifest and a service worker (/door/sw.js) keep
// it loading without a network. docs/web.md §Door.

import htm from "../vendor/htm.module.js";
import { forgetDevice, loadDevice, saveDevice } from "./door/device.js";
import { PairForm } from "./door/pair.js";
import { DoorScreen } from "./door/screen.js";
import { LANGUAGES, browserLanguage, loadCatalogue, rememberLanguage, translator } from "./i18n.js";

const { createElement, useEffect, useState } = window.React;
const html = htm.bind(createElement);
const { i18n: i18nBase } = document.body.dataset;

function LanguageSwitch({ t, language, onChange }) {
  return html`<label class="language">
    ${t("language.label")}
    <select value=${language} onChange=${(e) => onChange(e.target.value)} data-testid="language">
      ${LANGUAGES.map((code) => html`<option key=${code} value=${code}>${t(`language.${code}`)}</option>`)}
    </select>
  </label>`;
}

function Page() {
  const [language, setLanguage] = useState(browserLanguage);
  const [catalogue, setCatalogue] = useState(null);
  const [failed, setFailed] = useState(false);
  const [device, setDevice] = useState(loadDevice);

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
  document.title = t("app.door");

  function choose(next) {
    rememberLanguage(next);
    setLanguage(next);
  }

  function paired(redeemed) {
    saveDevice(redeemed);
    setDevice(redeemed);
  }

  function unpaired() {
    forgetDevice();
    setDevice(null);
  }

  return html`<header>
      <h1 data-testid="title">${t("app.door")}</h1>
      <${LanguageSwitch} t=${t} language=${catalogue.language} onChange=${choose} />
    </header>
    ${device
      ? html`<${DoorScreen} t=${t} language=${catalogue.language} device=${device} onDevice=${setDevice} onUnpair=${unpaired} />`
      : html`<${PairForm} t=${t} onPaired=${paired} />`}`;
}

if ("serviceWorker" in navigator) {
  navigator.serviceWorker.register("/door/sw.js", { scope: "/door" }).catch(() => {});
}
window.ReactDOM.createRoot(document.getElementById("root")).render(html`<${Page} />`);

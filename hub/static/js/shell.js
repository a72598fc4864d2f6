// What every app page shares: its catalogue in the chosen language, the title and
// the language switch (docs/web.md §Languages), over the app's own body.

import htm from "../vendor/htm.module.js";
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

/** The page of `app`: nothing until its catalogue is loaded (a notice if it cannot
 * be), then the header and `render(t, language)`. */
export function Shell({ app, render }) {
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
  const title = t(`app.${app}`);
  document.documentElement.lang = catalogue.language;
  document.title = title;

  function choose(next) {
    rememberLanguage(next);
    setLanguage(next);
  }

  return html`<header>
      <h1 data-testid="title">${title}</h1>
      <${LanguageSwitch} t=${t} language=${catalogue.language} onChange=${choose} />
    </header>
    ${render(t, catalogue.language)}`;
}

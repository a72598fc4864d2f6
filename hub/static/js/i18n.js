// The catalogue: every visible string comes from i18n/{language}.json, chosen
// from the browser's languages or the reader's switch; dates, numbers and money
// go through Intl. docs/web.md §Languages.

export const LANGUAGES = ["en", "tr"];
export const FALLBACK = "en";
const STORED = "bilten.language";

/** The language to show: the stored choice, else the first of `preferred` we have, else English. */
export function pickLanguage(preferred, stored = null) {
  if (LANGUAGES.includes(stored)) return stored;
  for (const tag of preferred ?? []) {
    const base = String(tag).toLowerCase().split("-")[0];
    if (LANGUAGES.includes(base)) return base;
  }
  return FALLBACK;
}

/** The language of this browser, honouring a choice made with the switch. */
export function browserLanguage() {
  let stored = null;
  try {
    stored = globalThis.localStorage?.getItem(STORED) ?? null;
  } catch {
    stored = null; // storage refused (private mode): the browser's languages decide
  }
  return pickLanguage(globalThis.navigator?.languages ?? [], stored);
}

/** Remember the reader's choice for the next visit. */
export function rememberLanguage(language) {
  try {
    globalThis.localStorage?.setItem(STORED, language);
  } catch {
    // storage refused: the choice lasts for this page only
  }
}

/** Fetch a language's catalogue from `base` (the versioned i18n/ URL). */
export async function loadCatalogue(base, language) {
  const response = await fetch(`${base}${language}.json`);
  if (!response.ok) throw new Error(`no catalogue for ${language}: ${response.status}`);
  return response.json();
}

/**
 * `t(key, values)`: the catalogue's string with `{name}` replaced by `values.name`.
 * A missing key shows as ⟦key⟧, so a missing string is seen, not silently English.
 */
export function translator(catalogue) {
  return (key, values = {}) => {
    const text = catalogue[key];
    if (typeof text !== "string") return `⟦${key}⟧`;
    return text.replace(/\{(\w+)\}/g, (whole, name) => (name in values ? String(values[name]) : whole));
  };
}

/** Date, number and money formatting for a language, in a time zone. */
export function formatters(language, { timeZone } = {}) {
  const dates = new Intl.DateTimeFormat(language, { dateStyle: "medium", timeStyle: "medium", timeZone });
  const numbers = new Intl.NumberFormat(language);
  return {
    date: (value) => dates.format(new Date(value)),
    number: (value) => numbers.format(value),
    // Amounts travel in minor units (kuruş, cents); Intl knows each currency's digits.
    money: (minor, currency) => {
      const format = new Intl.NumberFormat(language, { style: "currency", currency });
      const digits = format.resolvedOptions().maximumFractionDigits;
      return format.format(minor / 10 ** digits);
    },
  };
}

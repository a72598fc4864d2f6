// What the organizer's views share: htm bound to React, the hash route, the
// stylesheets, and how a refusal is told to the reader.

import htm from "../../vendor/htm.module.js";

export const React = window.React;
export const html = htm.bind(React.createElement);

/** Add the chart library's stylesheet (by URL: the policy refuses inline styles); the
 * console's own, css/organizer.css, is linked by the page (hub/pages.py). */
export function loadStyles() {
  for (const path of ["../../vendor/uPlot.min.css"]) {
    const link = document.createElement("link");
    link.rel = "stylesheet";
    link.href = new URL(path, import.meta.url).href;
    document.head.append(link);
  }
}

/** The route in the URL's fragment: `#event/42` → ["event", "42"]. */
export function useRoute() {
  const read = () => location.hash.replace(/^#\/?/, "").split("/").filter(Boolean);
  const [route, setRoute] = React.useState(read);
  React.useEffect(() => {
    const follow = () => setRoute(read());
    window.addEventListener("hashchange", follow);
    return () => window.removeEventListener("hashchange", follow);
  }, []);
  return route;
}

/** The sentence for a refusal: the common codes in words, any other by its code. */
export function refusal(t, error) {
  const known = {
    bad_credentials: t("organizer.error.bad_credentials"),
    email_taken: t("organizer.error.email_taken"),
    weak_password: t("organizer.error.weak_password"),
    rate_limited: t("organizer.error.rate_limited"),
    forbidden: t("organizer.error.forbidden"),
    unavailable: t("organizer.error.unavailable"),
    bad_request: t("organizer.error.bad_request"),
  };
  return known[error.code] ?? t("organizer.error.other", { code: error.code });
}

/** A refusal shown as an alert, or nothing. */
export function ErrorNote({ t, error, testId = "error" }) {
  if (!error) return null;
  return html`<p role="alert" class="error" data-testid=${testId} data-code=${error.code}>
    ${refusal(t, error)}
  </p>`;
}

/** A handler that runs `work` for a form, keeping its refusal and whether it is busy. */
export function useSubmit(work) {
  const [error, setError] = React.useState(null);
  const [busy, setBusy] = React.useState(false);
  async function submit(event) {
    event.preventDefault();
    setError(null);
    setBusy(true);
    try {
      await work(event);
    } catch (failure) {
      setError(failure);
    } finally {
      setBusy(false);
    }
  }
  return { submit, error, busy };
}

// The pages behind mailed one-time links (docs/accounts.md §Flows): `/join`
// accepts an invitation, `/reset` sets a new password. The token is in the
// URL's fragment, which never reaches a server; once used, the address bar
// goes back to /organizer so the token is not left in history.

import { call } from "./api.js";
import { ErrorNote, React, html, useSubmit } from "./ui.js";

/** The one-time token of a mailed link: `#token=…`, or "". */
function linkToken() {
  return new URLSearchParams(location.hash.slice(1)).get("token") ?? "";
}

function forget() {
  history.replaceState(null, "", "/organizer");
}

export function Join({ t, onSignedIn }) {
  const [password, setPassword] = React.useState("");
  const { submit, error, busy } = useSubmit(async () => {
    const session = await call("POST", "/auth/invitations/accept", { token: linkToken(), password });
    forget();
    onSignedIn(session);
  });
  return html`<section aria-labelledby="join-title" class="card auth">
    <h2 id="join-title">${t("organizer.join.title")}</h2>
    <p>${t("organizer.join.explain")}</p>
    <form onSubmit=${submit}>
      <label>${t("organizer.auth.password")}
        <input type="password" required value=${password} autocomplete="current-password"
          onInput=${(e) => setPassword(e.target.value)} />
      </label>
      <${ErrorNote} t=${t} error=${error} />
      <button type="submit" disabled=${busy}>${t("organizer.join.submit")}</button>
    </form>
  </section>`;
}

export function Reset({ t, onDone }) {
  const [password, setPassword] = React.useState("");
  const { submit, error, busy } = useSubmit(async () => {
    await call("POST", "/auth/password-reset/confirm", { token: linkToken(), password });
    forget();
    onDone();
  });
  return html`<section aria-labelledby="reset-title" class="card auth">
    <h2 id="reset-title">${t("organizer.reset.title")}</h2>
    <form onSubmit=${submit}>
      <label>${t("organizer.reset.password")}
        <input type="password" required minlength="10" value=${password} autocomplete="new-password"
          onInput=${(e) => setPassword(e.target.value)} />
      </label>
      <p class="hint">${t("organizer.auth.password_rule")}</p>
      <${ErrorNote} t=${t} error=${error} />
      <button type="submit" disabled=${busy}>${t("organizer.reset.submit")}</button>
    </form>
  </section>`;
}

/** Asking for a reset link: the same answer whether or not the address has an account. */
export function Forgot({ t, language, onBack }) {
  const [email, setEmail] = React.useState("");
  const [sent, setSent] = React.useState(false);
  const { submit, error, busy } = useSubmit(async () => {
    await call("POST", "/auth/password-reset", { email, locale: language });
    setSent(true);
  });
  return html`<section aria-labelledby="forgot-title" class="card auth">
    <h2 id="forgot-title">${t("organizer.forgot.title")}</h2>
    <form onSubmit=${submit}>
      <label>${t("organizer.auth.email")}
        <input type="email" required value=${email} autocomplete="email" onInput=${(e) => setEmail(e.target.value)} />
      </label>
      <${ErrorNote} t=${t} error=${error} />
      <button type="submit" disabled=${busy}>${t("organizer.forgot.submit")}</button>
    </form>
    <p role="status" data-testid="forgot-sent">${sent && t("organizer.forgot.sent", { email })}</p>
    <button type="button" class="link" onClick=${onBack}>${t("organizer.auth.to_signin")}</button>
  </section>`;
}

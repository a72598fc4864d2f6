// The signed-in person's own account: a new password (every other session
// ends) and signing out everywhere; and, for owners, the organization's audit
// log (docs/accounts.md §Flows, §Audit).

import { audit, changePassword, signOutEverywhere } from "./api.js";
import { ErrorNote, React, html, useSubmit } from "./ui.js";

function Password({ t, format }) {
  const [password, setPassword] = React.useState("");
  const [next, setNext] = React.useState("");
  const [done, setDone] = React.useState(null);
  const { submit, error, busy } = useSubmit(async () => {
    setDone(null);
    setDone(await changePassword(password, next));
    setPassword("");
    setNext("");
  });
  return html`<section aria-labelledby="password-title" class="card auth">
    <h2 id="password-title">${t("organizer.account.password_title")}</h2>
    <form onSubmit=${submit}>
      <label>${t("organizer.account.current")}
        <input type="password" required value=${password} autocomplete="current-password"
          onInput=${(e) => setPassword(e.target.value)} />
      </label>
      <label>${t("organizer.account.new")}
        <input type="password" required minlength="10" value=${next} autocomplete="new-password"
          onInput=${(e) => setNext(e.target.value)} />
      </label>
      <p class="hint">${t("organizer.auth.password_rule")}</p>
      <${ErrorNote} t=${t} error=${error} />
      <button type="submit" disabled=${busy}>${t("organizer.account.change")}</button>
    </form>
    <p role="status" data-testid="password-changed">
      ${done && t("organizer.account.changed", { count: format.number(done.signed_out) })}
    </p>
  </section>`;
}

function Everywhere({ t, onSignedOut }) {
  const [error, setError] = React.useState(null);
  async function leave() {
    setError(null);
    try {
      await signOutEverywhere();
      onSignedOut();
    } catch (failure) {
      setError(failure);
    }
  }
  return html`<section aria-labelledby="everywhere-title" class="card">
    <h2 id="everywhere-title">${t("organizer.account.everywhere_title")}</h2>
    <p>${t("organizer.account.everywhere_explain")}</p>
    <${ErrorNote} t=${t} error=${error} />
    <button type="button" onClick=${leave}>${t("organizer.account.everywhere")}</button>
  </section>`;
}

function Audit({ t, format, org }) {
  const [entries, setEntries] = React.useState([]);
  const [next, setNext] = React.useState(undefined);
  const [error, setError] = React.useState(null);
  const more = React.useCallback(
    (before) =>
      audit(org, before).then((page) => {
        setEntries((shown) => (before ? [...shown, ...page.entries] : page.entries));
        setNext(page.next);
      }, setError),
    [org],
  );
  React.useEffect(() => {
    more(null);
  }, [more]);
  return html`<section aria-labelledby="audit-title" class="card">
    <h2 id="audit-title">${t("organizer.audit.title")}</h2>
    <${ErrorNote} t=${t} error=${error} />
    ${entries.length > 0 &&
    html`<table class="types" data-testid="audit">
      <thead><tr>
        <th scope="col">${t("organizer.audit.at")}</th>
        <th scope="col">${t("organizer.audit.action")}</th>
        <th scope="col">${t("organizer.audit.address")}</th>
      </tr></thead>
      <tbody>
        ${entries.map((entry) => html`<tr key=${entry.id} data-action=${entry.action}>
          <td>${format.date(entry.at)}</td><td>${entry.action}</td><td>${entry.address ?? ""}</td>
        </tr>`)}
      </tbody>
    </table>`}
    ${next && html`<button type="button" onClick=${() => more(next)}>${t("organizer.audit.more")}</button>`}
  </section>`;
}

export function Account({ t, format, org, onSignedOut }) {
  return html`<${Password} t=${t} format=${format} />
    <${Everywhere} t=${t} onSignedOut=${onSignedOut} />
    <${Audit} t=${t} format=${format} org=${org} />`;
}

// The organization's API keys (owners only): each key's secret is shown once,
// when it is made; listed keys show their use and can be revoked
// (docs/accounts.md §API keys).

import { apiKeys, createApiKey, revokeApiKey } from "./api.js";
import { ErrorNote, React, html, useSubmit } from "./ui.js";

const ROLES = ["organizer", "staff", "attendee"];

export function ApiKeys({ t, format, org }) {
  const [keys, setKeys] = React.useState(null);
  const [error, setError] = React.useState(null);
  const [name, setName] = React.useState("");
  const [role, setRole] = React.useState("organizer");
  const [made, setMade] = React.useState(null);
  const roles = {
    organizer: t("organizer.role.organizer"),
    staff: t("organizer.role.staff"),
    attendee: t("organizer.role.attendee"),
  };
  const load = React.useCallback(() => {
    apiKeys(org).then((found) => setKeys(found.api_keys), setError);
  }, [org]);
  React.useEffect(load, [load]);

  const { submit, error: refused, busy } = useSubmit(async () => {
    setMade(null);
    setMade(await createApiKey(org, name, role));
    setName("");
    load();
  });

  async function revoke(id) {
    setError(null);
    try {
      await revokeApiKey(org, id);
      load();
    } catch (failure) {
      setError(failure);
    }
  }

  return html`<section aria-labelledby="keys-title" class="card">
    <h2 id="keys-title">${t("organizer.keys.title")}</h2>
    <${ErrorNote} t=${t} error=${error} />
    ${keys?.length === 0 && html`<p>${t("organizer.keys.none")}</p>`}
    ${keys?.length > 0 &&
    html`<ul class="keys" data-testid="api-keys">
      ${keys.map((key) => html`<li key=${key.id} data-revoked=${String(key.revoked_at !== null)}>
        <strong>${key.name}</strong> · ${roles[key.role] ?? key.role} ·
        ${key.revoked_at
          ? t("organizer.keys.revoked", { at: format.date(key.revoked_at) })
          : key.last_used_at
            ? t("organizer.keys.used", { at: format.date(key.last_used_at) })
            : t("organizer.keys.unused")}
        ${!key.revoked_at &&
        html` <button type="button" onClick=${() => revoke(key.id)}>
          ${t("organizer.keys.revoke", { name: key.name })}
        </button>`}
      </li>`)}
    </ul>`}
    <h3>${t("organizer.keys.new")}</h3>
    <form onSubmit=${submit}>
      <label>${t("organizer.keys.name")}
        <input required maxlength="100" value=${name} onInput=${(e) => setName(e.target.value)} />
      </label>
      <label>${t("organizer.keys.role")}
        <select value=${role} onChange=${(e) => setRole(e.target.value)}>
          ${ROLES.map((r) => html`<option key=${r} value=${r}>${roles[r]}</option>`)}
        </select>
      </label>
      <${ErrorNote} t=${t} error=${refused} />
      <button type="submit" disabled=${busy}>${t("organizer.keys.create")}</button>
    </form>
    ${made &&
    html`<div role="status" class="secret">
      <p>${t("organizer.keys.once")}</p>
      <code data-testid="api-key">${made.key}</code>
    </div>`}
  </section>`;
}

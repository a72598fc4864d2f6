// The organization's team (owners only): members with their roles, changing
// or removing them, and invitations by e-mail (docs/accounts.md §Flows, §Roles).

import { invite, members, removeMember, updateMember } from "./api.js";
import { ErrorNote, React, html, useSubmit } from "./ui.js";

const ROLES = ["owner", "manager", "door", "viewer"];

function roleNames(t) {
  return {
    owner: t("organizer.members.role.owner"),
    manager: t("organizer.members.role.manager"),
    door: t("organizer.members.role.door"),
    viewer: t("organizer.members.role.viewer"),
  };
}

function Invite({ t, language, org }) {
  const [email, setEmail] = React.useState("");
  const [role, setRole] = React.useState("manager");
  const [sent, setSent] = React.useState(null);
  const names = roleNames(t);
  const { submit, error, busy } = useSubmit(async () => {
    setSent(null);
    setSent(await invite(org, email, role, language));
    setEmail("");
  });
  return html`<form onSubmit=${submit}>
    <label>${t("organizer.members.email")}
      <input type="email" required value=${email} onInput=${(e) => setEmail(e.target.value)} />
    </label>
    <label>${t("organizer.members.role")}
      <select value=${role} onChange=${(e) => setRole(e.target.value)}>
        ${ROLES.map((r) => html`<option key=${r} value=${r}>${names[r]}</option>`)}
      </select>
    </label>
    <${ErrorNote} t=${t} error=${error} />
    <button type="submit" disabled=${busy}>${t("organizer.members.invite")}</button>
    <p role="status" data-testid="invited">${sent && t("organizer.members.invited", { email: sent.email })}</p>
  </form>`;
}

export function Members({ t, language, org, session }) {
  const [list, setList] = React.useState(null);
  const [error, setError] = React.useState(null);
  const names = roleNames(t);
  const load = React.useCallback(() => {
    members(org).then((found) => setList(found.members), setError);
  }, [org]);
  React.useEffect(load, [load]);

  async function act(work) {
    setError(null);
    try {
      await work();
      load();
    } catch (failure) {
      setError(failure);
    }
  }

  return html`<section aria-labelledby="members-title" class="card">
    <h2 id="members-title">${t("organizer.members.title")}</h2>
    <${ErrorNote} t=${t} error=${error} />
    ${list &&
    html`<table class="types" data-testid="members">
      <thead><tr>
        <th scope="col">${t("organizer.members.email")}</th>
        <th scope="col">${t("organizer.members.role")}</th>
        <th scope="col"><span class="visually-hidden">${t("organizer.members.actions")}</span></th>
      </tr></thead>
      <tbody>
        ${list.map((m) => html`<tr key=${m.account_id} data-email=${m.email}>
          <th scope="row">${m.email}</th>
          <td>
            <select aria-label=${t("organizer.members.role_of", { email: m.email })} value=${m.role}
              onChange=${(e) => act(() => updateMember(org, m.account_id, e.target.value))}>
              ${ROLES.map((r) => html`<option key=${r} value=${r}>${names[r]}</option>`)}
            </select>
          </td>
          <td>
            ${m.account_id !== session.account.id &&
            html`<button type="button" onClick=${() => act(() => removeMember(org, m.account_id))}>
              ${t("organizer.members.remove", { email: m.email })}
            </button>`}
          </td>
        </tr>`)}
      </tbody>
    </table>`}
    <h3>${t("organizer.members.new")}</h3>
    <${Invite} t=${t} language=${language} org=${org} />
  </section>`;
}

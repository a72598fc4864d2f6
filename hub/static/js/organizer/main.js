// The organizer's console (/organizer, and /join and /reset for mailed links):
// sign in, the organization's events,
// team, API keys, webhooks, the account and audit log, and each event's live dashboard and tools. docs/web.md §Organizer console.

import { BiltenClient } from "../bilten.js";
import { formatters } from "../i18n.js";
import { Shell } from "../shell.js";
import { me, signOut, tokenSource } from "./api.js";
import { Account } from "./account.js";
import { ApiKeys } from "./apikeys.js";
import { Auth } from "./auth.js";
import { EventView } from "./event.js";
import { Events } from "./events.js";
import { Join, Reset } from "./links.js";
import { Members } from "./members.js";
import { Webhooks } from "./webhooks.js";
import { ErrorNote, React, html, loadStyles, useRoute } from "./ui.js";


function socketUrl() {
  return `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`;
}


/** The signed-in console of one organization: one WebSocket, tokens minted from the session. */
function Console({ t, language, session, onSignedOut, onEnded }) {
  const memberships = session.memberships;
  const [org, setOrg] = React.useState(memberships[0]?.org ?? null);
  const [client, setClient] = React.useState(null);
  const [state, setState] = React.useState("idle");
  const [error, setError] = React.useState(null);
  const route = useRoute();
  const ended = React.useRef(onEnded);
  ended.current = onEnded;

  React.useEffect(() => {
    if (org === null) return undefined;
    const live = new BiltenClient(socketUrl(), { token: tokenSource(org, () => ended.current()) });
    const stop = live.onState(setState);
    live.connect().catch(() => {}); // requests wait for the connection; its state is shown
    setClient(live);
    return () => {
      stop();
      live.close();
    };
  }, [org]);

  async function leave() {
    setError(null);
    try {
      await signOut();
      onSignedOut();
    } catch (failure) {
      setError(failure);
    }
  }

  const eventId = route[0] === "event" ? Number(route[1]) : null;
  const page = eventId === null ? (route[0] ?? "events") : "event";
  const sections = [
    ["events", t("organizer.nav.events")],
    ["team", t("organizer.nav.team")],
    ["keys", t("organizer.nav.keys")],
    ["webhooks", t("organizer.nav.webhooks")],
    ["account", t("organizer.nav.account")],
  ];
  return html`<div class="console">
    <div class="account">
      <span data-testid="account">${t("organizer.account", { email: session.account.email })}</span>
      ${memberships.length > 1 &&
      html`<label>${t("organizer.organization")}
        <select value=${org} onChange=${(e) => setOrg(e.target.value)}>
          ${memberships.map((m) => html`<option key=${m.org} value=${m.org}>${m.name}</option>`)}
        </select>
      </label>`}
      ${memberships.length === 1 && html`<span data-testid="organization">${memberships[0].name}</span>`}
      <span role="status" aria-live="polite">
        ${t("organizer.connection")} <strong data-testid="state" data-state=${state}>${t(`state.${state}`)}</strong>
      </span>
      <button type="button" onClick=${leave}>${t("organizer.signout")}</button>
    </div>
    <${ErrorNote} t=${t} error=${error} />
    ${org === null && html`<p>${t("organizer.no_organization")}</p>`}
    ${org !== null &&
    html`<nav aria-label=${t("organizer.nav.label")} class="views">
      ${sections.map(([name, label]) => html`<a key=${name} href=${`#${name}`}
        aria-current=${name === page ? "page" : undefined}>${label}</a>`)}
    </nav>`}
    ${client && page === "events" && html`<${Events} t=${t} language=${language} client=${client} />`}
    ${org !== null && page === "team" &&
    html`<${Members} t=${t} language=${language} org=${org} session=${session} />`}
    ${org !== null && page === "keys" &&
    html`<${ApiKeys} t=${t} format=${formatters(language)} org=${org} />`}
    ${org !== null && page === "account" &&
    html`<${Account} t=${t} format=${formatters(language)} org=${org} onSignedOut=${onSignedOut} />`}
    ${client && page === "webhooks" &&
    html`<${Webhooks} t=${t} format=${formatters(language)} client=${client} />`}
    ${client &&
    eventId !== null &&
    html`<${EventView} key=${eventId} t=${t} language=${language} client=${client}
      org=${org} eventId=${eventId} view=${route[2]} detail=${route[3]} />`}
  </div>`;
}

function Session({ t, language }) {
  const [session, setSession] = React.useState(undefined);
  const [error, setError] = React.useState(null);
  const [link, setLink] = React.useState(() => location.pathname.slice(1)); // "join", "reset"
  const [notice, setNotice] = React.useState(null);
  React.useEffect(() => {
    // A link's sign-in (/join) may answer first: it wins over this older answer.
    me().then((found) => setSession((current) => (current === undefined ? found : current)), setError);
  }, []);
  if (link === "join") {
    const joined = (answer) => {
      setLink(null);
      setSession(answer);
    };
    return html`<${Join} t=${t} onSignedIn=${joined} />`;
  }
  if (link === "reset") {
    const done = () => {
      setLink(null);
      setSession(null);
      setNotice(t("organizer.reset.done"));
    };
    return html`<${Reset} t=${t} onDone=${done} />`;
  }
  if (error) return html`<${ErrorNote} t=${t} error=${error} />`;
  if (session === undefined) return html`<p role="status">${t("organizer.loading")}</p>`;
  function ended() {
    setSession(null);
    setNotice(t("organizer.session_ended"));
  }
  if (session === null) {
    const signedIn = (answer) => {
      setNotice(null);
      setSession(answer);
    };
    return html`<${Auth} t=${t} language=${language} onSignedIn=${signedIn} notice=${notice} />`;
  }
  return html`<${Console} key=${session.account.id} t=${t} language=${language} session=${session}
    onSignedOut=${() => setSession(null)} onEnded=${ended} />`;
}

function page(t, language) {
  return html`<${Session} t=${t} language=${language} />`;
}

loadStyles();
window.ReactDOM.createRoot(document.getElementById("root")).render(html`<${Shell} app="organizer" render=${page} />`);

// Sign in and sign up (docs/accounts.md §Flows): the hub sets the session
// cookie, and the answer's account and memberships open the console.

import { signIn, signUp } from "./api.js";
import { Forgot } from "./links.js";
import { ErrorNote, React, html, useSubmit } from "./ui.js";

export function Auth({ t, language, onSignedIn, notice = null }) {
  const [mode, setMode] = React.useState("signin");
  const [email, setEmail] = React.useState("");
  const [password, setPassword] = React.useState("");
  const [organization, setOrganization] = React.useState("");
  const joining = mode === "signup";
  const { submit, error, busy } = useSubmit(async () => {
    onSignedIn(joining ? await signUp(email, password, organization) : await signIn(email, password));
  });

  if (mode === "forgot") return html`<${Forgot} t=${t} language=${language} onBack=${() => setMode("signin")} />`;
  return html`<section aria-labelledby="auth-title" class="card auth">
    ${notice && html`<p role="status" data-testid="notice">${notice}</p>`}
    <h2 id="auth-title">${joining ? t("organizer.auth.signup_title") : t("organizer.auth.signin_title")}</h2>
    <form onSubmit=${submit}>
      ${joining &&
      html`<label>${t("organizer.auth.organization")}
        <input required maxlength="200" value=${organization} autocomplete="organization"
          onInput=${(e) => setOrganization(e.target.value)} />
      </label>`}
      <label>${t("organizer.auth.email")}
        <input type="email" required value=${email} autocomplete="email"
          onInput=${(e) => setEmail(e.target.value)} />
      </label>
      <label>${t("organizer.auth.password")}
        <input type="password" required minlength=${joining ? 10 : 1} value=${password}
          autocomplete=${joining ? "new-password" : "current-password"}
          onInput=${(e) => setPassword(e.target.value)} />
      </label>
      ${joining && html`<p class="hint">${t("organizer.auth.password_rule")}</p>`}
      <${ErrorNote} t=${t} error=${error} />
      <button type="submit" disabled=${busy}>
        ${joining ? t("organizer.auth.signup") : t("organizer.auth.signin")}
      </button>
    </form>
    <p class="links">
      <button type="button" class="link" onClick=${() => setMode(joining ? "signin" : "signup")}>
        ${joining ? t("organizer.auth.to_signin") : t("organizer.auth.to_signup")}
      </button>
      ${!joining &&
      html`<button type="button" class="link" onClick=${() => setMode("forgot")}>${t("organizer.auth.forgot")}</button>`}
    </p>
  </section>`;
}

// Signing in by a link mailed to the buyer's address (docs/accounts.md
// §Attendees): the form asks for the link and remembers which event page
// asked, and the link's landing (/signin#token=…) redeems it and goes back there.

import htm from "../../vendor/htm.module.js";
import { call } from "./api.js";

const { createElement, useEffect, useState } = window.React;
const html = htm.bind(createElement);
const RETURN = "bilten.attendee.return";

function remember(path) {
  try {
    localStorage.setItem(RETURN, path);
  } catch {
    // storage refused: the landing then shows the tickets where it is
  }
}

function returnPath() {
  try {
    const path = localStorage.getItem(RETURN);
    return path && /^\/e\/[1-9][0-9]*$/.test(path) ? path : null;
  } catch {
    return null;
  }
}

/** The e-mail form; once sent, the page says to check the mailbox. */
export function SignIn({ t, language }) {
  const [email, setEmail] = useState("");
  const [status, setStatus] = useState("idle"); // idle, sending, sent, failed
  const [error, setError] = useState(null);

  async function send(event) {
    event.preventDefault();
    setStatus("sending");
    setError(null);
    remember(location.pathname);
    try {
      await call("POST", "/api/v1/auth/signin-link", { email: email.trim(), locale: language });
      setStatus("sent");
    } catch (failure) {
      setError(failure);
      setStatus("failed");
    }
  }

  return html`<section aria-labelledby="signin-title">
    <h2 id="signin-title">${t("attendee.signin.title")}</h2>
    <p>${t("attendee.signin.why")}</p>
    <form onSubmit=${send}>
      <label>${t("attendee.signin.email")}
        <input type="email" required autocomplete="email" value=${email}
          onInput=${(e) => setEmail(e.target.value)} />
      </label>
      <button type="submit" disabled=${status === "sending"}>${t("attendee.signin.send")}</button>
    </form>
    <div role="status" aria-live="polite" data-testid="signin-status">
      ${status === "sent" && html`<p>${t("attendee.signin.sent", { email: email.trim() })}</p>`}
    </div>
    ${error && html`<p role="alert" class="error" data-code=${error.code}>${t("attendee.error", { code: error.code })}</p>`}
  </section>`;
}

/** /signin#token=…: redeem the link, then back to the event page that asked for it. */
export function Landing({ t, onSignedIn }) {
  const [error, setError] = useState(null);

  useEffect(() => {
    const token = new URLSearchParams(location.hash.slice(1)).get("token");
    history.replaceState(null, "", location.pathname); // the secret leaves the address bar
    if (!token) {
      setError({ code: "not_found" });
      return;
    }
    call("POST", "/api/v1/auth/signin-link/redeem", { token })
      .then(({ attendee }) => {
        const back = returnPath();
        if (back) location.replace(back);
        else onSignedIn(attendee);
      })
      .catch(setError);
  }, []);

  if (error) {
    return html`<p role="alert" class="error" data-code=${error.code}>
      ${error.code === "not_found" ? t("attendee.landing.expired") : t("attendee.error", { code: error.code })}
    </p>`;
  }
  return html`<p role="status" aria-live="polite">${t("attendee.landing.signing_in")}</p>`;
}

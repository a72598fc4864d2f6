// Pairing: the organizer's one-time code, typed or arriving in the URL of
// their QR (`/pair#code=…` leads here), redeemed for this device's token.

import htm from "../../vendor/htm.module.js";
import { codeFromHash, redeem } from "./device.js";
import { reasonText } from "./verdict.js";

const { createElement, useEffect, useState } = window.React;
const html = htm.bind(createElement);

export function PairForm({ t, onPaired }) {
  const [code, setCode] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);

  async function pair(typed) {
    setBusy(true);
    setError(null);
    try {
      onPaired(await redeem(typed));
    } catch (failure) {
      setError(failure.code ?? "unavailable");
      setBusy(false);
    }
  }

  useEffect(() => {
    const fromQr = codeFromHash(location.hash);
    if (fromQr) {
      history.replaceState(null, "", location.pathname); // the code is single use: drop it
      setCode(fromQr);
      pair(fromQr);
    }
  }, []);

  function submit(event) {
    event.preventDefault();
    pair(code);
  }

  return html`<section class="pair" aria-labelledby="pair-title">
    <h2 id="pair-title">${t("door.pair.title")}</h2>
    <p>${t("door.pair.help")}</p>
    <form onSubmit=${submit}>
      <label>${t("door.pair.code")}
        <input type="text" required autocomplete="off" autocapitalize="characters" spellcheck="false"
          value=${code} onInput=${(e) => setCode(e.target.value)} data-testid="pair-code" />
      </label>
      <button type="submit" disabled=${busy}>${t("door.pair.submit")}</button>
    </form>
    <p role="alert" class=${error ? "error" : ""} data-testid="pair-error">
      ${error === "not_found" ? t("door.pair.not_found")
        : error === "rate_limited" ? t("door.pair.rate_limited")
        : error ? reasonText(t, error) : ""}
    </p>
  </section>`;
}

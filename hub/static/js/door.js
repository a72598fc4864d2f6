// The door device (`/door`): pair once with the organizer's code, pick a gate,
// scan; verdicts come from the hub, or from the check-in bundle while offline.
// An installable web app: a manifest and a service worker (/door/sw.js) keep
// it loading without a network. docs/web.md §Door.

import htm from "../vendor/htm.module.js";
import { forgetDevice, loadDevice, saveDevice } from "./door/device.js";
import { PairForm } from "./door/pair.js";
import { DoorScreen } from "./door/screen.js";
import { Shell } from "./shell.js";

const { createElement, useState } = window.React;
const html = htm.bind(createElement);

/** Paired: the door's screen; not yet: the pairing form. */
function Door({ t, language }) {
  const [device, setDevice] = useState(loadDevice);

  function paired(redeemed) {
    saveDevice(redeemed);
    setDevice(redeemed);
  }

  function unpaired() {
    forgetDevice();
    setDevice(null);
  }

  return device
    ? html`<${DoorScreen} t=${t} language=${language} device=${device} onDevice=${setDevice} onUnpair=${unpaired} />`
    : html`<${PairForm} t=${t} onPaired=${paired} />`;
}

if ("serviceWorker" in navigator) {
  navigator.serviceWorker.register("/door/sw.js", { scope: "/door" }).catch(() => {});
}
window.ReactDOM.createRoot(document.getElementById("root")).render(
  html`<${Shell} app="door" render=${(t, language) => html`<${Door} t=${t} language=${language} />`} />`,
);

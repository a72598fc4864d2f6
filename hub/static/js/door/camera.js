// Scanning with the camera: the browser's BarcodeDetector where it reads QR
// codes, else the vendored jsQR decoder (loaded only when the camera starts)
// on frames drawn to a canvas. A code held in front of the camera counts once
// until another code is seen or it has been gone a while.

import htm from "../../vendor/htm.module.js";

const { createElement, useEffect, useRef, useState } = window.React;
const html = htm.bind(createElement);
const FRAME_MS = 150; // a frame looked at this often
const REPEAT_MS = 3000; // the same code again after this long is a new scan

async function qrReader() {
  const Detector = globalThis.BarcodeDetector;
  if (Detector && (await Detector.getSupportedFormats()).includes("qr_code")) {
    const detector = new Detector({ formats: ["qr_code"] });
    return async (video) => (await detector.detect(video))[0]?.rawValue ?? null;
  }
  const { default: jsQR } = await import("../../vendor/jsQR.js");
  const canvas = document.createElement("canvas");
  const context = canvas.getContext("2d", { willReadFrequently: true });
  return async (video) => {
    const { videoWidth: width, videoHeight: height } = video;
    if (!width || !height) return null;
    canvas.width = width;
    canvas.height = height;
    context.drawImage(video, 0, 0, width, height);
    const found = jsQR(context.getImageData(0, 0, width, height).data, width, height, { inversionAttempts: "dontInvert" });
    return found?.data || null;
  };
}

/** A camera view while on; each code it reads goes to `onCode`. */
export function Camera({ t, onCode }) {
  const [on, setOn] = useState(false);
  const [failed, setFailed] = useState(false);
  const video = useRef(null);
  const handler = useRef(onCode);
  handler.current = onCode;

  useEffect(() => {
    if (!on) return undefined;
    let stream = null;
    let timer = null;
    let stopped = false;
    let last = { code: null, at: 0 };
    (async () => {
      try {
        stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } });
        const read = await qrReader();
        if (stopped) return;
        video.current.srcObject = stream;
        await video.current.play();
        timer = setInterval(async () => {
          const code = await read(video.current).catch(() => null);
          const now = Date.now();
          if (code && (code !== last.code || now - last.at > REPEAT_MS)) handler.current(code);
          if (code) last = { code, at: now };
        }, FRAME_MS);
      } catch {
        if (!stopped) setFailed(true);
      }
    })();
    return () => {
      stopped = true;
      clearInterval(timer);
      stream?.getTracks().forEach((track) => track.stop());
    };
  }, [on]);

  function toggle() {
    setFailed(false);
    setOn(!on);
  }

  return html`<div class="camera">
    <button type="button" aria-pressed=${String(on)} onClick=${toggle}>${t("door.camera")}</button>
    ${failed && html`<p role="alert" class="error">${t("door.camera.failed")}</p>`}
    ${on && html`<video ref=${video} class="camera-view" muted playsinline aria-label=${t("door.camera.view")}></video>`}
  </div>`;
}

// The verdict heard and felt, not only seen: a short beep (one high note to let
// through, two low ones to turn away) and a vibration where the device has one.

const TONES = {
  ok: { notes: [880], type: "sine", vibrate: [80] },
  refused: { notes: [220, 220], type: "square", vibrate: [120, 60, 120] },
};
const NOTE_S = 0.12;
const GAP_S = 0.06;
let audio = null;

function context() {
  const Audio = globalThis.AudioContext ?? globalThis.webkitAudioContext;
  if (!Audio) return null;
  audio ??= new Audio();
  if (audio.state === "suspended") audio.resume();
  return audio;
}

/** Beep and vibrate for a verdict: `ok` or `refused`. */
export function signal(kind) {
  const tone = TONES[kind];
  const ctx = context();
  if (ctx) {
    tone.notes.forEach((frequency, n) => {
      const start = ctx.currentTime + n * (NOTE_S + GAP_S);
      const oscillator = ctx.createOscillator();
      const gain = ctx.createGain();
      oscillator.type = tone.type;
      oscillator.frequency.value = frequency;
      gain.gain.setValueAtTime(0.2, start);
      gain.gain.exponentialRampToValueAtTime(0.001, start + NOTE_S);
      oscillator.connect(gain).connect(ctx.destination);
      oscillator.start(start);
      oscillator.stop(start + NOTE_S);
    });
  }
  navigator.vibrate?.(tone.vibrate);
}

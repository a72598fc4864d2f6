// A wall-clock time in an event's time zone as ISO 8601 with the offset in
// force then, as events.create wants it (docs/protocol.md §Events).

/** Minutes `timeZone` is ahead of UTC at the instant `utcMs`. */
function zoneOffset(utcMs, timeZone) {
  const parts = new Intl.DateTimeFormat("en-US", {
    timeZone, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit", second: "2-digit",
  }).formatToParts(new Date(utcMs));
  const part = Object.fromEntries(parts.map(({ type, value }) => [type, Number(value)]));
  const wall = Date.UTC(part.year, part.month - 1, part.day, part.hour, part.minute, part.second);
  return Math.round((wall - Math.floor(utcMs / 1000) * 1000) / 60000);
}

/** `2027-06-01T19:00` in Europe/Sarajevo → `2027-06-01T19:00:00+02:00`. */
export function zonedIso(local, timeZone) {
  const naive = Date.parse(`${local}:00Z`);
  const offset = zoneOffset(naive - zoneOffset(naive, timeZone) * 60000, timeZone);
  const sign = offset < 0 ? "-" : "+";
  const hours = String(Math.floor(Math.abs(offset) / 60)).padStart(2, "0");
  const minutes = String(Math.abs(offset) % 60).padStart(2, "0");
  return `${local}:00${sign}${hours}:${minutes}`;
}

/** The inverse: an instant as `YYYY-MM-DDTHH:MM` on the wall clocks of `timeZone`. */
export function wallClock(iso, timeZone) {
  const utcMs = Date.parse(iso);
  const shifted = new Date(utcMs + zoneOffset(utcMs, timeZone) * 60000);
  return shifted.toISOString().slice(0, 16);
}

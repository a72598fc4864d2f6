// What this attendee did on this device (voted in a poll, upvoted a
// question), so the page shows it after a reload. The hub is the judge:
// `already_voted` and `already_upvoted` answers are remembered too.

const KEY = "bilten.attendee.done";

function read() {
  try {
    return JSON.parse(localStorage.getItem(KEY) ?? "{}");
  } catch {
    return {};
  }
}

/** Whether `what` (e.g. `vote:7`) was done by attendee `attendeeId`. */
export function done(attendeeId, what) {
  return Boolean(read()[`${attendeeId}:${what}`]);
}

/** Remember (or, with `value` false, forget) that attendee `attendeeId` did `what`. */
export function remember(attendeeId, what, value = true) {
  const all = read();
  if (value) all[`${attendeeId}:${what}`] = 1;
  else delete all[`${attendeeId}:${what}`];
  try {
    localStorage.setItem(KEY, JSON.stringify(all));
  } catch {
    // storage refused: remembered for this page only, through React's state
  }
}

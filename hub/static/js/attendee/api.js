// The attendee's REST calls (docs/accounts.md §Attendees): same origin, with the
// attendee cookie. The page's policy is `no-referrer`, under which a browser
// sends `Origin: null` on a same-origin POST; the hub's CSRF rule needs the
// real origin, so each request names a policy that keeps it.

import { BiltenError } from "../bilten.js";

/** A REST call: the decoded answer, or a BiltenError with the hub's code (`unavailable` offline). */
export async function call(method, path, body = undefined) {
  let response;
  try {
    response = await fetch(path, {
      method,
      credentials: "same-origin",
      referrerPolicy: "same-origin",
      headers: body === undefined ? {} : { "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (error) {
    throw new BiltenError("unavailable", `the hub could not be reached: ${error}`);
  }
  const answer = await response.json().catch(() => null);
  if (!response.ok) throw BiltenError.fromWire(answer?.error);
  return answer;
}

/** The signed-in attendee, or null when this browser has no attendee session. */
export async function whoAmI() {
  try {
    return (await call("GET", "/api/v1/attendee/me")).attendee;
  } catch (error) {
    if (error.code === "unauthorized") return null;
    throw error;
  }
}

/** Every page of a paged attendee list (`orders` or `tickets`), up to `pages` pages. */
export async function everything(name, limit, pages = 25) {
  const found = [];
  let after = null;
  for (let page = 0; page < pages; page += 1) {
    const query = after === null ? `limit=${limit}` : `limit=${limit}&after=${after}`;
    const answer = await call("GET", `/api/v1/attendee/${name}?${query}`);
    found.push(...answer[name]);
    if (answer.next === null) break;
    after = answer.next;
  }
  return found;
}

/** A 5-minute attendee connection token for one event, bought from or not. */
export async function connectionToken(eventId) {
  return (await call("POST", "/api/v1/attendee/tokens", { events: [eventId] })).token;
}

// The organizer's REST calls that take the session cookie (docs/accounts.md):
// sign up, in and out, the connection token for the WebSocket, door pairing,
// members and invitations, API keys.
// Everything else goes over the WebSocket with `client.rpc`.

import { BiltenError } from "../bilten.js";

/** A JSON call under /api/v1; a refusal throws a BiltenError with the hub's code. */
export async function call(method, path, body) {
  let response;
  try {
    response = await fetch(`/api/v1${path}`, {
      method,
      credentials: "same-origin",
      headers: body === undefined ? {} : { "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new BiltenError("unavailable", "the hub could not be reached");
  }
  const answer = await response.json().catch(() => null);
  if (!response.ok) throw BiltenError.fromWire(answer?.error);
  return answer;
}

export const signUp = (email, password, organization) =>
  call("POST", "/auth/signup", { email, password, organization });
export const signIn = (email, password) => call("POST", "/auth/signin", { email, password });
export const signOut = () => call("POST", "/auth/signout", {});

/** The signed-in account and memberships, or null without a live session. */
export async function me() {
  try {
    return await call("GET", "/auth/me");
  } catch (error) {
    if (error.code === "unauthorized") return null;
    throw error;
  }
}

const ENDED = new Set(["unauthorized", "forbidden"]); // the session, or the membership, is gone
const TOKEN_RETRY_MAX_MS = 10000;

/** A fresh five-minute connection token for `org`. */
export async function connectionToken(org) {
  return (await call("POST", "/auth/tokens", { org })).token;
}

/**
 * The WebSocket's token function: a fresh token before every connection. A hub
 * out of reach is asked again (doubling waits up to 10 s); a session that ended
 * calls `onEnded` and fails, which closes the client for good.
 */
export function tokenSource(org, onEnded) {
  return async () => {
    for (let wait = 500; ; wait = Math.min(2 * wait, TOKEN_RETRY_MAX_MS)) {
      try {
        return await connectionToken(org);
      } catch (error) {
        if (ENDED.has(error.code)) {
          onEnded(error);
          throw error;
        }
        await new Promise((resume) => setTimeout(resume, wait));
      }
    }
  };
}

/** A one-time door pairing code of an event (docs/accounts.md §Door devices). */
export const pairDevice = (id, eventId, name) =>
  call("POST", `/orgs/${encodeURIComponent(id)}/devices/pairings`, { event_id: eventId, name });

const orgPath = (id) => `/orgs/${encodeURIComponent(id)}`;

/** The organization's members (owners only), and managing them (docs/accounts.md §Flows). */
export const members = (id) => call("GET", `${orgPath(id)}/members`);
export const updateMember = (id, accountId, role) => call("PATCH", `${orgPath(id)}/members/${accountId}`, { role });
export const removeMember = (id, accountId) => call("DELETE", `${orgPath(id)}/members/${accountId}`, {});
export const invite = (id, email, role, locale) =>
  call("POST", `${orgPath(id)}/invitations`, { email, role, locale });

/** The organization's API keys (owners only; docs/accounts.md §API keys). */
export const apiKeys = (id) => call("GET", `${orgPath(id)}/api-keys`);
export const createApiKey = (id, name, role) => call("POST", `${orgPath(id)}/api-keys`, { name, role });
export const revokeApiKey = (id, keyId) => call("DELETE", `${orgPath(id)}/api-keys/${keyId}`, {});

/** The organization's paired door devices, and revoking one (docs/accounts.md §Door devices). */
export const devices = (id) => call("GET", `${orgPath(id)}/devices`);
export const revokeDevice = (id, deviceId) => call("DELETE", `${orgPath(id)}/devices/${deviceId}`, {});

/** The account's own: a new password (other sessions end), signing out everywhere. */
export const changePassword = (password, newPassword) =>
  call("POST", "/auth/password", { password, new_password: newPassword });
export const signOutEverywhere = () => call("POST", "/auth/signout-everywhere", {});

/** The organization's audit log, newest first (owners; docs/accounts.md §Flows). */
export const audit = (id, before) =>
  call("GET", `${orgPath(id)}/audit${before ? `?before=${before}` : ""}`);

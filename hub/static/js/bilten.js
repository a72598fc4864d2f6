// Bilten's browser client: one WebSocket to the hub, subscriptions that survive
// reconnects, and rpc. docs/protocol.md is the contract and docs/web.md §Client
// module the API; the behaviour mirrors the Python SDK (clients/sdk.py,
// clients/_subscription.py): full-jitter backoff, resubscribing with `since`,
// dropping publications already seen, requests the hub never read sent again after
// `reconnect` and failed (never re-sent) when the connection is lost otherwise.

const DEFAULT_TIMEOUT_MS = 10000;
// docs/protocol.md §Disconnect codes: the close code of each disconnect code.
const CLOSE_CODES = new Map([
  [4000, "protocol_error"],
  [4001, "token_expired"],
  [4002, "unauthorized"],
  [4003, "forbidden"],
  [4008, "slow_consumer"],
  [4009, "reconnect"],
  [4010, "ping_timeout"],
  [4029, "rate_limited"],
]);
// Ended because of the token: reconnect only with a fresh one.
const TOKEN_REFUSED = new Set(["token_expired", "unauthorized", "forbidden"]);
// Resubscribe failures that a new connection may well not meet again.
const PASSING = new Set(["rate_limited", "unavailable", "timeout", "internal"]);
// docs/protocol.md §Errors: the codes the hub sends (protocol/errors.py HTTP_STATUS, which
// tests/hub/test_pages.py compares with this list). Any other code is read as `internal`.
export const ERROR_CODES = new Set([
  "already_upvoted", "already_voted", "bad_channel", "bad_choice", "bad_config",
  "bad_credentials", "bad_frame", "bad_metric", "bad_range", "bad_reaction", "bad_request",
  "bad_signature", "bad_step", "bad_webhook_url", "conflict", "email_taken", "forbidden",
  "internal", "method_not_allowed", "not_found", "not_upvoted", "poll_closed", "rate_limited",
  "timeout", "token_expired", "too_large", "unauthorized", "unavailable", "unknown_method",
  "unknown_op", "unsupported_format", "upgrade_required", "weak_password",
]);
// docs/protocol.md §Channels, checked here to fail without a round trip; the hub
// still judges the topic and the permissions.
const CHANNEL = /^(event\.[1-9][0-9]{0,18}\.[a-z_]+|user\.[A-Za-z0-9_-]{1,64})$/;

/** An error with the protocol's stable `code` (docs/protocol.md §Errors). */
export class BiltenError extends Error {
  constructor(code, message, details = null) {
    super(message);
    this.name = "BiltenError";
    this.code = code;
    this.details = details;
  }

  /** The error in a wire `error` object; an unknown code becomes `internal` (§Errors). */
  static fromWire(error) {
    const code = ERROR_CODES.has(error?.code) ? error.code : "internal";
    const message = typeof error?.message === "string" ? error.message : code;
    const details = error?.details !== null && typeof error?.details === "object" ? error.details : null;
    return new BiltenError(code, message, details);
  }
}

/** Milliseconds before reconnect attempt `attempt` (0 first): full jitter, cap doubling to maxMs. */
export function backoffDelay(attempt, { minMs = 50, maxMs = 5000 } = {}, random = Math.random) {
  const cap = Math.min(maxMs, minMs * 2 ** Math.min(attempt + 1, 32));
  return minMs + random() * (cap - minMs);
}

/** Where a publication stands against a position (protocol/recovery.py `classify`). */
export function classify(position, epoch, offset) {
  if (epoch !== position.epoch && position.epoch) return "new_epoch";
  if (offset <= position.offset) return "duplicate";
  return offset === position.offset + 1 ? "next" : "gap";
}

/** The disconnect code a close stands for, or null (docs/protocol.md §Disconnect codes). */
export function disconnectCode(closeCode) {
  return CLOSE_CODES.get(closeCode) ?? null;
}

/** One channel's subscription; get it from `BiltenClient.subscribe`. */
export class Subscription {
  constructor(client, channel, handlers) {
    this.channel = channel;
    this.epoch = "";
    this.offset = 0;
    this.snapshot = null; // from the first `subscribed`; later ones come to onSubscribed
    this.active = false; // confirmed by the hub: resubscribed after a reconnect
    this.requestId = null;
    this._client = client;
    this._handlers = handlers;
  }

  /** Where to resume from (docs/protocol.md §Recovery). */
  since() {
    return { offset: this.offset, epoch: this.epoch };
  }

  /** Stop receiving the channel; resolves once the hub confirmed (or the socket is gone). */
  unsubscribe(options) {
    return this._client._unsubscribe(this, options);
  }

  _onSubscribed(frame) {
    const first = !this.active;
    this.active = true;
    if (!frame.recovered) {
      this.epoch = frame.epoch;
      this.offset = frame.offset;
      if (first) this.snapshot = frame.snapshot;
    }
    this._call("onSubscribed", {
      channel: this.channel,
      offset: frame.offset,
      epoch: frame.epoch,
      recovered: frame.recovered,
      snapshot: frame.snapshot,
      first,
    });
  }

  _onPub(frame) {
    if (!this.active || classify(this, frame.epoch, frame.offset) === "duplicate") return;
    this.epoch = frame.epoch;
    this.offset = frame.offset;
    this._call("onPublication", {
      channel: this.channel,
      offset: frame.offset,
      epoch: frame.epoch,
      data: frame.data,
    });
  }

  _end(error) {
    this.active = false;
    this._call("onError", error);
  }

  _call(name, value) {
    const handler = this._handlers[name];
    if (handler) {
      try {
        handler(value);
      } catch (error) {
        console.error(`bilten: ${name} of ${this.channel} failed`, error);
      }
    }
  }
}

/**
 * A connection to a hub that reconnects by itself. `token` is a string or a
 * function returning one (or a promise of one), called before every connection
 * attempt, so a page can hand it a fresh short-lived token each time.
 */
export class BiltenClient {
  constructor(url, options = {}) {
    let parsed = null;
    try {
      parsed = new URL(url, globalThis.location?.href);
    } catch {
      parsed = null;
    }
    if (parsed === null || !["ws:", "wss:"].includes(parsed.protocol)) {
      throw new BiltenError("bad_request", `not a WebSocket URL: ${url}`, { field: "url" });
    }
    this.url = parsed.href;
    this.state = "idle"; // idle, connecting, open, reconnecting, closed
    this.reconnects = 0;
    this.error = null; // why the client closed, when the hub ended it
    this._token = options.token;
    this._backoff = options.backoff ?? {};
    this._pingIntervalMs = options.pingIntervalMs ?? 25000;
    this._pingTimeoutMs = options.pingTimeoutMs ?? 10000;
    this._WebSocket = options.WebSocket ?? globalThis.WebSocket;
    this._nextId = 1;
    this._subs = new Map();
    this._pending = new Map();
    this._resubscribing = new Map();
    this._listeners = new Set();
    this._ws = null;
    this._waiters = new Set(); // resolved when the socket opens or the client closes
    this._running = null;
    this._closeSocket = null; // closes the current socket at once
  }

  /** Call `listener(state, client)` on every state change; returns a function that stops it. */
  onState(listener) {
    this._listeners.add(listener);
    return () => this._listeners.delete(listener);
  }

  /** Start connecting; resolves once the first connection is open. */
  connect({ timeoutMs = DEFAULT_TIMEOUT_MS } = {}) {
    if (this.state === "closed") return Promise.reject(this.error ?? closedError());
    if (this._running === null) this._running = this._run();
    return this._open(Date.now() + timeoutMs);
  }

  /** Subscribe; resolves with the Subscription once the hub answered `subscribed`. */
  async subscribe(channel, handlers = {}, { timeoutMs = DEFAULT_TIMEOUT_MS } = {}) {
    if (!CHANNEL.test(channel)) {
      throw new BiltenError("bad_channel", `not a channel name: ${channel}`, { channel });
    }
    if (this._subs.has(channel)) {
      throw new BiltenError("conflict", `already subscribed to ${channel}`);
    }
    const sub = new Subscription(this, channel, handlers);
    this._subs.set(channel, sub);
    try {
      await this._request({ op: "subscribe", channel }, timeoutMs, `subscribe ${channel}`, (id) => {
        sub.requestId = id;
      });
    } catch (error) {
      if (this._subs.get(channel) === sub) this._subs.delete(channel);
      if (error.code === "timeout") this._send({ op: "unsubscribe", id: this._id(), channel });
      throw error;
    }
    return sub;
  }

  /** Call a command: its result, or a BiltenError with the hub's code. Re-sent only unread. */
  async rpc(method, params = {}, { timeoutMs = DEFAULT_TIMEOUT_MS } = {}) {
    const reply = await this._request({ op: "rpc", method, params }, timeoutMs, method);
    return reply.result;
  }

  /** Milliseconds for a `ping` op to come back as `pong`. */
  async ping({ timeoutMs = DEFAULT_TIMEOUT_MS } = {}) {
    const start = performance.now();
    await this._request({ op: "ping" }, timeoutMs, "ping");
    return performance.now() - start;
  }

  /** Close for good: calls fail with `connection_closed`, the socket closes; idempotent. */
  close() {
    this._terminate(null);
  }

  // --- requests ---

  _id() {
    return this._nextId++;
  }

  _send(message) {
    if (this._ws !== null && this._ws.readyState === 1) {
      this._ws.send(JSON.stringify(message));
      return true;
    }
    return false;
  }

  async _request(message, timeoutMs, what, claim) {
    const deadline = Date.now() + timeoutMs;
    await this._open(deadline);
    const id = this._id();
    if (claim) claim(id);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this._pending.delete(id);
        reject(new BiltenError("timeout", `${what} got no answer within ${timeoutMs} ms`));
      }, Math.max(0, deadline - Date.now()));
      const frame = { ...message, id };
      this._pending.set(id, { resolve, reject, timer, frame });
      if (!this._send(frame)) {
        this._settle(id, null, new BiltenError("unavailable", `the connection was lost before ${what} was sent`));
      }
    });
  }

  _settle(id, frame, error) {
    const pending = this._pending.get(id);
    if (pending === undefined) return;
    this._pending.delete(id);
    clearTimeout(pending.timer);
    if (error) pending.reject(error);
    else if (frame.op === "error") pending.reject(BiltenError.fromWire(frame.error));
    else pending.resolve(frame);
  }

  _open(deadline) {
    if (this.state === "closed") return Promise.reject(this.error ?? closedError());
    if (this._ws !== null && this.state === "open") return Promise.resolve();
    return new Promise((resolve, reject) => {
      const waiter = () => {
        clearTimeout(timer);
        this._waiters.delete(waiter);
        if (this.state === "open") resolve();
        else reject(this.error ?? closedError());
      };
      const timer = setTimeout(() => {
        this._waiters.delete(waiter);
        reject(new BiltenError("unavailable", `not connected to ${this.url}`));
      }, Math.max(0, deadline - Date.now()));
      this._waiters.add(waiter);
    });
  }

  async _unsubscribe(sub, { timeoutMs = DEFAULT_TIMEOUT_MS } = {}) {
    if (this._subs.get(sub.channel) !== sub) return;
    this._subs.delete(sub.channel);
    sub.active = false;
    if (this.state !== "open") return; // the hub forgot it with the connection
    try {
      await this._request({ op: "unsubscribe", channel: sub.channel }, timeoutMs, "unsubscribe");
    } catch (error) {
      if (!["not_found", "unavailable", "connection_closed"].includes(error.code)) throw error;
    }
  }

  // --- the connection ---

  _setState(state) {
    if (this.state === state) return;
    this.state = state;
    for (const listener of [...this._listeners]) listener(state, this);
    if (state === "open" || state === "closed") for (const waiter of [...this._waiters]) waiter();
  }

  async _run() {
    let attempt = 0;
    while (this.state !== "closed") {
      this._setState(this.reconnects === 0 && attempt === 0 ? "connecting" : "reconnecting");
      let token;
      try {
        token = typeof this._token === "function" ? await this._token() : this._token;
      } catch (error) {
        this._terminate(new BiltenError("connection_closed", `the token function failed: ${error}`));
        return;
      }
      if (this.state === "closed") return;
      const opened = Date.now();
      const ending = await this._connection(token);
      if (this.state === "closed") return;
      if (ending.open) {
        const code = ending.disconnect ?? disconnectCode(ending.closeCode);
        if (TOKEN_REFUSED.has(code) && typeof this._token !== "function") {
          this._terminate(new BiltenError(code, `the hub ended the session (${code})`));
          return;
        }
        if (code === "reconnect" || Date.now() - opened > (this._backoff.maxMs ?? 5000)) {
          attempt = 0; // asked to move at once, or the connection was healthy
        }
        this.reconnects += 1;
      }
      this._setState("reconnecting");
      await sleep(backoffDelay(attempt, this._backoff));
      attempt += 1;
    }
  }

  // One socket from open to close; resolves with how it ended.
  _connection(token) {
    return new Promise((resolve) => {
      const url = new URL(this.url);
      url.searchParams.set("token", token);
      const ws = new this._WebSocket(url.href);
      let open = false;
      let disconnect = null;
      let pinger = null;
      const finish = (closeCode) => {
        if (ws.onclose === null) return;
        ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
        clearInterval(pinger);
        if (this._ws === ws) this._detach(disconnect ?? disconnectCode(closeCode));
        resolve({ open, closeCode, disconnect });
      };
      ws.onopen = () => {
        open = true;
        this._ws = ws;
        this._setState("open");
        this._resubscribe();
        this._resend();
        pinger = setInterval(() => {
          this.ping({ timeoutMs: this._pingTimeoutMs }).catch((error) => {
            if (error.code === "timeout") {
              ws.close(1000, "no pong");
              finish(1006); // the connection is dead: do not wait for its close
            }
          });
        }, this._pingIntervalMs);
      };
      ws.onmessage = (event) => {
        let decoded;
        try {
          decoded = JSON.parse(event.data);
        } catch {
          ws.close(1002, "bad frame");
          return;
        }
        for (const frame of Array.isArray(decoded) ? decoded : [decoded]) {
          if (frame?.op === "disconnect") disconnect = frame.code;
          else if (this._onFrame(frame) === "reconnect") ws.close(1000, "resubscribing");
        }
      };
      ws.onerror = () => {};
      ws.onclose = (event) => finish(event.code);
      this._closeSocket = () => {
        ws.close(1000, "closed by the client");
        finish(1000);
      };
    });
  }

  _resubscribe() {
    for (const sub of this._subs.values()) {
      if (!sub.active) continue;
      sub.requestId = this._id();
      this._resubscribing.set(sub.requestId, sub);
      this._send({ op: "subscribe", id: sub.requestId, channel: sub.channel, since: sub.since() });
    }
  }

  // Send again, same id, the requests kept by `_detach`: all that is pending as a socket opens.
  _resend() {
    for (const pending of this._pending.values()) this._send(pending.frame);
  }

  // Apply one frame; "reconnect" when a resubscribe failed in a way a new connection may not.
  _onFrame(frame) {
    const sub = this._subs.get(frame?.channel);
    if (frame?.op === "pub") {
      if (sub) sub._onPub(frame);
    } else if (frame?.op === "subscribed") {
      let target = sub;
      if (frame.id !== null) {
        this._resubscribing.delete(frame.id);
        if (target && target.requestId !== frame.id) target = undefined; // a call given up on
      }
      if (target) target._onSubscribed(frame);
      if (frame.id !== null) this._settle(frame.id, frame, null);
    } else if (frame?.op === "error" && this._resubscribing.has(frame.id)) {
      const failed = this._resubscribing.get(frame.id);
      this._resubscribing.delete(frame.id);
      const error = BiltenError.fromWire(frame.error);
      if (PASSING.has(error.code)) return "reconnect";
      this._subs.delete(failed.channel);
      failed._end(error);
    } else if (frame?.op === "error" && frame.id === null) {
      console.warn("bilten: the hub reports an error", frame.error);
    } else if (typeof frame?.id === "number") {
      this._settle(frame.id, frame, null);
    }
    return null;
  }

  // docs/protocol.md §Disconnect codes: the hub says `reconnect` only once it has answered
  // every request it read, so what is still pending then never ran and is kept for `_resend`
  // (each within its own timeout). After any other loss a request may have run: it fails.
  _detach(code) {
    this._ws = null;
    this._closeSocket = null;
    this._resubscribing.clear();
    if (code === "reconnect") return;
    const lost = new BiltenError("unavailable", "the connection to the hub was lost");
    for (const id of [...this._pending.keys()]) this._settle(id, null, lost);
  }

  _terminate(error) {
    if (this.state === "closed") return;
    this.error = error;
    const closed = error ?? closedError();
    for (const id of [...this._pending.keys()]) this._settle(id, null, closed);
    if (this._closeSocket) this._closeSocket();
    for (const sub of this._subs.values()) if (error) sub._end(error);
    this._subs.clear();
    this._setState("closed");
  }
}

function closedError() {
  return new BiltenError("connection_closed", "the client is closed");
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

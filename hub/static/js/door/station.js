// One paired door at work: the connection to the hub, scans decided online
// (`checkin.scan`) or, when the hub cannot be reached, from the bundle and
// queued, the queue synced back (`checkin.sync`) with its conflicts kept, and
// the live count of people inside (`event.{id}.checkins`). docs/checkin.md.

import { BiltenClient } from "../bilten.js";
import { Ledger } from "./bundle.js";
import { deviceName, nextNonce } from "./device.js";

const SCAN_TIMEOUT_MS = 5000;
const SYNC_TIMEOUT_MS = 60000; // checkin.sync's own budget
const SYNC_BATCH = 100;
const REFRESH_MS = 5 * 60 * 1000; // a fresh bundle this often while online
const RETRY_MS = 5000; // a queue left by a failed sync is tried again this often
// The hub could not decide now: the door decides itself.
const UNREACHABLE = new Set(["timeout", "unavailable", "connection_closed"]);
// A synced scan the hub refuses (docs/checkin.md §Door CLI): set aside, never blocking the queue.
const REFUSED = new Set(["bad_request", "conflict"]);

function socketUrl() {
  return `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`;
}

/** The door's live state, given to `onChange` as a fresh object on every change. */
export class Station {
  constructor(device, store, onChange) {
    this.device = device;
    this.store = store;
    this.onChange = onChange;
    this.ledger = null;
    this.syncing = false;
    this.refreshing = false;
    this.following = false;
    this.view = { eventName: null, timeZone: null, connection: "idle", online: navigator.onLine, gates: null, inside: null, queued: 0, conflicts: [], bundleAt: null, error: null };
    this.client = new BiltenClient(socketUrl(), { token: () => device.token });
    this.timers = [];
    this.listeners = [];
  }

  update(changes) {
    this.view = { ...this.view, ...changes };
    this.onChange(this.view);
  }

  online() {
    return this.client.state === "open" && navigator.onLine;
  }

  async start() {
    const [bundle, queued, conflicts] = await Promise.all([this.store.bundle(), this.store.queued(), this.store.conflicts()]);
    if (bundle) await this.useBundle(bundle, await this.store.moves());
    this.update({ queued: queued.length, conflicts });
    this.client.onState((state) => {
      this.update({ connection: state, error: state === "closed" ? this.client.error : this.view.error });
      if (state === "open") {
        this.follow();
        this.refresh();
      }
    });
    const network = () => {
      this.update({ online: navigator.onLine });
      if (navigator.onLine) this.refresh();
    };
    for (const name of ["online", "offline"]) {
      window.addEventListener(name, network);
      this.listeners.push([name, network]);
    }
    this.timers.push(setInterval(() => this.refresh(), REFRESH_MS));
    this.timers.push(setInterval(() => this.view.queued && this.sync(), RETRY_MS));
    this.client.connect().catch(() => {}); // the client keeps trying; its state says how it goes
  }

  /** Follow the event's verdicts (once; the client resubscribes after reconnects). */
  follow() {
    if (this.following) return;
    this.following = true;
    this.client
      .subscribe(`event.${this.device.event_id}.checkins`, {
        onSubscribed: ({ recovered }) => recovered || this.countInside().catch(() => {}),
        onPublication: ({ data }) => {
          this.learn(data);
          this.update({ inside: data.inside });
          if (data.status === "conflict" && data.nonce?.startsWith(`${deviceName(this.device)}:`)) this.conflict(data);
        },
        onError: (error) => this.update({ error }),
      })
      .catch((error) => {
        this.following = false;
        if (!UNREACHABLE.has(error.code)) this.update({ error });
      });
  }

  stop() {
    this.timers.forEach(clearInterval);
    for (const [name, handler] of this.listeners) window.removeEventListener(name, handler);
    this.client.close();
  }

  async useBundle(bundle, moves) {
    const ledger = await Ledger.of(bundle);
    moves.forEach((move) => ledger.learn(move));
    this.ledger = ledger;
    this.update({ bundleAt: bundle.generated_at, gates: this.view.gates ?? bundle.gates, inside: this.view.inside ?? ledger.inside });
  }

  learn(verdict) {
    if (!this.ledger || verdict.status !== "ok") return;
    this.ledger.learn(verdict);
    this.store.addMove(verdict);
  }

  /** One of this door's scans became a conflict: a later sync (its own or another door's) revised it. */
  async conflict(verdict) {
    await this.store.addConflict(verdict);
    this.update({ conflicts: await this.store.conflicts() });
  }

  async countInside() {
    const answer = await this.client.rpc("checkin.inside", { event_id: this.device.event_id, limit: 1 });
    this.update({ inside: answer.inside });
  }

  /** While online: gates, the inside count, the queue synced, then a fresh bundle. */
  async refresh() {
    if (this.refreshing || !this.online()) return;
    this.refreshing = true;
    try {
      const event_id = this.device.event_id;
      const [{ gates }, event] = await Promise.all([
        this.client.rpc("gates.list", { event_id }),
        this.client.rpc("events.get", { event_id }),
      ]);
      this.update({ gates, eventName: event.name, timeZone: event.timezone, error: null });
      await this.countInside();
      await this.sync();
      if (this.view.queued) return; // the bundle would not show the scans still queued
      const bundle = await this.client.rpc("checkin.bundle", { event_id }, { timeoutMs: 30000 });
      await this.store.replaceBundle(bundle);
      await this.useBundle(bundle, []);
    } catch (error) {
      if (!UNREACHABLE.has(error.code)) this.update({ error });
    } finally {
      this.refreshing = false;
    }
  }

  /** Decide one scan: by the hub when it answers, else from the bundle (queued for sync). */
  async scan(code, gate, direction) {
    const scanned_at = new Date().toISOString();
    const nonce = nextNonce(this.device);
    if (this.online()) {
      const params = { event_id: this.device.event_id, code, gate, direction, nonce, scanned_at };
      try {
        const verdict = await this.client.rpc("checkin.scan", params, { timeoutMs: SCAN_TIMEOUT_MS });
        this.learn(verdict);
        this.update({ inside: verdict.inside });
        return verdict;
      } catch (error) {
        if (!UNREACHABLE.has(error.code)) return { status: "error", reason: error.code, gate, direction };
      }
    }
    if (!this.ledger) return { status: "error", reason: "no_bundle", gate, direction };
    const verdict = { ...(await this.ledger.decide(code, gate, direction, scanned_at)), nonce };
    const scan = { code, gate, direction, scanned_at, nonce, verdict: verdict.status === "ok" ? "ok" : "rejected" };
    await this.store.enqueue({ nonce, scan });
    if (verdict.status === "ok") await this.store.addMove(verdict);
    this.update({ queued: this.view.queued + 1, inside: this.ledger.inside });
    return verdict;
  }

  /** Upload the queue, a batch at a time; conflicts the hub finds are kept to be shown. */
  async sync() {
    if (this.syncing || !this.online()) return;
    this.syncing = true;
    try {
      let queue = await this.store.queued();
      while (queue.length && this.online()) {
        const batch = queue.slice(0, SYNC_BATCH);
        await this.upload(batch);
        queue = await this.store.queued();
        this.update({ queued: queue.length, conflicts: await this.store.conflicts() });
      }
    } finally {
      this.syncing = false;
    }
  }

  async upload(batch) {
    const params = { event_id: this.device.event_id, device: deviceName(this.device), scans: batch.map((entry) => entry.scan) };
    try {
      const reply = await this.client.rpc("checkin.sync", params, { timeoutMs: SYNC_TIMEOUT_MS });
      for (const result of reply.results) if (result.status === "conflict") await this.store.addConflict(result);
      await this.store.dequeue(batch.map((entry) => entry.nonce));
      this.update({ inside: reply.inside });
    } catch (error) {
      const culprit = /^scans\[(\d+)\]/.exec(error.details?.field ?? "");
      if (!REFUSED.has(error.code) || !culprit) throw error;
      const { scan } = batch[Number(culprit[1])];
      await this.store.addConflict({ ...scan, status: "refused", reason: error.code, ticket: null });
      await this.store.dequeue([scan.nonce]);
    }
  }
}

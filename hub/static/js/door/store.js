// What the door keeps across reloads and lost networks, in IndexedDB: the
// last check-in bundle, the moves it has seen since (to decide offline on top
// of the bundle), the queue of scans decided offline until they are synced,
// and the conflicts a sync reported. docs/checkin.md §Sync & conflicts.

const NAME = "bilten-door";
const STORES = ["bundle", "moves", "queue", "conflicts"];

function request(req) {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

function finished(tx) {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error);
  });
}

function open() {
  const req = indexedDB.open(NAME, 1);
  req.onupgradeneeded = () => {
    const db = req.result;
    db.createObjectStore("bundle");
    db.createObjectStore("moves", { autoIncrement: true });
    db.createObjectStore("queue", { keyPath: "nonce" });
    db.createObjectStore("conflicts", { keyPath: "nonce" });
  };
  return request(req);
}

/** One database connection with the few operations the door needs. */
export class DoorStore {
  static async open() {
    return new DoorStore(await open());
  }

  constructor(db) {
    this.db = db;
  }

  async run(store, mode, work) {
    const tx = this.db.transaction(store, mode);
    const done = finished(tx);
    const result = await request(work(tx.objectStore(store)));
    await done;
    return result;
  }

  bundle() {
    return this.run("bundle", "readonly", (s) => s.get("current"));
  }

  /** Keep a fresh bundle; the moves seen before it are in it now. */
  async replaceBundle(bundle) {
    await this.run("moves", "readwrite", (s) => s.clear());
    return this.run("bundle", "readwrite", (s) => s.put(bundle, "current"));
  }

  moves() {
    return this.run("moves", "readonly", (s) => s.getAll());
  }

  addMove(verdict) {
    return this.run("moves", "readwrite", (s) => s.add(verdict));
  }

  /** Scans decided offline, oldest first (nonces carry a zero-padded sequence). */
  queued() {
    return this.run("queue", "readonly", (s) => s.getAll());
  }

  enqueue(scan) {
    return this.run("queue", "readwrite", (s) => s.put(scan));
  }

  dequeue(nonces) {
    const tx = this.db.transaction("queue", "readwrite");
    for (const nonce of nonces) tx.objectStore("queue").delete(nonce);
    return finished(tx);
  }

  conflicts() {
    return this.run("conflicts", "readonly", (s) => s.getAll());
  }

  addConflict(verdict) {
    return this.run("conflicts", "readwrite", (s) => s.put(verdict));
  }

  /** Forget everything (unpairing). */
  async clear() {
    for (const store of STORES) await this.run(store, "readwrite", (s) => s.clear());
  }
}

// The door's service worker, served at /door/sw.js with its scope widened to
// /door (hub/pages.py `service_worker`): it keeps the page and every file it
// loads, so a door opens and decides scans without a network. The page is
// fetched fresh when the network answers; static files are immutable by URL
// (their build id), so a kept copy is always right. docs/web.md §Door.

const CACHE = "bilten-door";
const PAGE = "/door";
// The modules the page imports (the page itself names its scripts and styles).
const MODULES = [
  "js/bilten.js",
  "js/i18n.js",
  "js/shell.js",
  "js/door/bundle.js",
  "js/door/camera.js",
  "js/door/device.js",
  "js/door/feedback.js",
  "js/door/pair.js",
  "js/door/screen.js",
  "js/door/station.js",
  "js/door/store.js",
  "js/door/tickets.js",
  "js/door/verdict.js",
  "vendor/htm.module.js",
  "vendor/jsQR.js",
  "i18n/en.json",
  "i18n/tr.json",
];

function buildOf(page) {
  return /data-i18n="\/static\/([0-9a-f]+)\/i18n\/"/.exec(page)?.[1] ?? null;
}

/** Keep a fresh page and drop the files of older builds. */
async function keepPage(cache, response) {
  const page = await response.clone().text();
  await cache.put(PAGE, response);
  const build = buildOf(page);
  for (const request of await cache.keys()) {
    const path = new URL(request.url).pathname;
    if (path.startsWith("/static/") && !path.startsWith(`/static/${build}/`)) await cache.delete(request);
  }
  return { page, build };
}

async function precache() {
  const cache = await caches.open(CACHE);
  const { page, build } = await keepPage(cache, await fetch(PAGE, { cache: "no-cache" }));
  const named = [...page.matchAll(/(?:src|href)="(\/static\/[^"]+)"/g)].map((match) => match[1]);
  await cache.addAll([...named, ...MODULES.map((path) => `/static/${build}/${path}`)]);
}

async function navigate(request) {
  const cache = await caches.open(CACHE);
  try {
    const response = await fetch(request);
    if (response.ok) await keepPage(cache, response.clone());
    return response;
  } catch (error) {
    const kept = await cache.match(PAGE);
    if (kept) return kept;
    throw error;
  }
}

async function staticFile(request) {
  const cache = await caches.open(CACHE);
  const kept = await cache.match(request);
  if (kept) return kept;
  const response = await fetch(request);
  if (response.ok) await cache.put(request, response.clone());
  return response;
}

self.addEventListener("install", (event) => {
  event.waitUntil(precache().then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(self.clients.claim());
});

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== "GET" || url.origin !== location.origin) return;
  if (event.request.mode === "navigate" && url.pathname === PAGE) event.respondWith(navigate(event.request));
  else if (url.pathname.startsWith("/static/")) event.respondWith(staticFile(event.request));
});

// The attendee pages' service worker, served as /e/sw.js (scope /e/): an
// event page and its static files are kept as they were last loaded, so a
// page opened without a network still shows the tickets saved on the
// device (tickets.js). Pages come from the network first, the cache only
// when it fails; static files (their URLs name the build) from the cache
// first. No API answer is kept here: the page saves what it needs itself.

const CACHE = "bilten-attendee";
const BUILD = /\/static\/([0-9a-f]{16})\//;

self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));

// Keep only the static files of the build the newest page names.
async function prune(cache, page) {
  const build = BUILD.exec(await page.text())?.[1];
  if (!build) return;
  for (const request of await cache.keys()) {
    const named = BUILD.exec(new URL(request.url).pathname)?.[1];
    if (named && named !== build) await cache.delete(request);
  }
}

async function networkFirst(request) {
  const cache = await caches.open(CACHE);
  try {
    const response = await fetch(request);
    if (response.ok) {
      await cache.put(request, response.clone());
      await prune(cache, response.clone());
    }
    return response;
  } catch (error) {
    return (await cache.match(request)) ?? Response.error();
  }
}

async function cacheFirst(request) {
  const cache = await caches.open(CACHE);
  const kept = await cache.match(request);
  if (kept) return kept;
  const response = await fetch(request);
  if (response.ok) await cache.put(request, response.clone());
  return response;
}

self.addEventListener("fetch", (event) => {
  const { request } = event;
  const url = new URL(request.url);
  if (request.method !== "GET" || url.origin !== self.location.origin) return;
  if (request.mode === "navigate" && /^\/e\/[1-9][0-9]*$/.test(url.pathname)) {
    event.respondWith(networkFirst(request));
  } else if (url.pathname.startsWith("/static/")) {
    event.respondWith(cacheFirst(request));
  }
});

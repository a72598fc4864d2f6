// The event page's one connection to the hub: an attendee token minted from
// the attendee session for this event (renewed before each connection
// attempt), the event read once connected, and each channel subscribed by the
// part of the page that shows it.

import { BiltenClient } from "../bilten.js";
import { connectionToken } from "./api.js";

const { useEffect, useState } = window.React;

function socketUrl() {
  return `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`;
}

/** `{client, state, event, error}` for event `eventId`. */
export function useLive(eventId) {
  const [client, setClient] = useState(null);
  const [state, setState] = useState("idle");
  const [event, setEvent] = useState(null);
  const [error, setError] = useState(null);

  useEffect(() => {
    const live = new BiltenClient(socketUrl(), { token: () => connectionToken(eventId) });
    live.onState((next) => {
      setState(next);
      if (next === "closed" && live.error) setError(live.error);
    });
    setClient(live);
    live
      .connect()
      .then(() => live.rpc("events.get", { event_id: eventId }))
      .then(setEvent)
      .catch(setError);
    return () => live.close();
  }, [eventId]);

  return { client, state, event, error };
}

/** Follow `channel` on `client` while mounted: `handlers` as BiltenClient.subscribe takes them. */
export function useChannel(client, channel, handlers, onError) {
  useEffect(() => {
    if (client === null) return undefined;
    let sub = null;
    let gone = false;
    client
      .subscribe(channel, { ...handlers, onError })
      .then((made) => {
        if (gone) made.unsubscribe().catch(() => {});
        else sub = made;
      })
      .catch(onError);
    return () => {
      gone = true;
      sub?.unsubscribe().catch(() => {});
    };
  }, [client, channel]);
}

/**
 * The attendee's own channel, `user.attendee-{id}` (the token's `sub`,
 * protocol/attendees.py), subscribed once: `listen(fn)` calls `fn(data)` for
 * each publication and returns a function that stops it.
 */
export function useUserFeed(client, attendee) {
  const [feed] = useState(() => {
    const listeners = new Set();
    return {
      listeners,
      listen(fn) {
        listeners.add(fn);
        return () => listeners.delete(fn);
      },
    };
  });
  const [error, setError] = useState(null);
  useChannel(
    client,
    `user.attendee-${attendee.id}`,
    { onPublication: ({ data }) => feed.listeners.forEach((fn) => fn(data)) },
    setError,
  );
  return { feed, error };
}

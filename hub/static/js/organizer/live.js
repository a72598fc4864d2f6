// Following a channel from a React view: its snapshot (on stateful channels)
// and each publication folded into one state by the view's own rule.

import { React } from "./ui.js";

const SETTLE_MS = 100; // a view left just before may still hold the channel
const SETTLE_TRIES = 20;

/**
 * Subscribe, waiting while the client still holds the channel for a view that
 * was left before its subscription was answered (it lets go once answered).
 */
export async function subscribeWhenFree(client, channel, handlers, stillWanted) {
  for (let tries = 1; ; tries += 1) {
    try {
      return await client.subscribe(channel, handlers);
    } catch (failure) {
      if (failure.code !== "conflict" || tries === SETTLE_TRIES || !stillWanted()) throw failure;
      await new Promise((resume) => setTimeout(resume, SETTLE_MS));
    }
  }
}

/** Follow a channel: its snapshot, then each publication's data and offset, as one state. */
export function useLive(client, channel, apply) {
  const [state, setState] = React.useState(null);
  const [error, setError] = React.useState(null);
  React.useEffect(() => {
    let subscription = null;
    let current = true;
    const take = (update) => current && setState((shown) => apply(shown, update));
    const handlers = {
      onSubscribed: ({ snapshot }) => snapshot && take({ snapshot }),
      onPublication: ({ data, offset }) => take({ data, offset }),
      onError: (failure) => current && setError(failure),
    };
    subscribeWhenFree(client, channel, handlers, () => current)
      .then((made) => {
        subscription = made;
        if (!current) made.unsubscribe().catch(() => {});
      })
      .catch((failure) => current && setError(failure));
    return () => {
      current = false;
      subscription?.unsubscribe().catch(() => {});
    };
  }, [client, channel]);
  return { state, error };
}

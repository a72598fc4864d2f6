// Following a channel from a React view: its snapshot (on stateful channels)
// and each publication folded into one state by the view's own rule.

import { React } from "./ui.js";

/** Follow a stateful channel: its snapshot, then each publication's data, as one state. */
export function useLive(client, channel, apply) {
  const [state, setState] = React.useState(null);
  const [error, setError] = React.useState(null);
  React.useEffect(() => {
    let subscription = null;
    let current = true;
    const take = (update) => current && setState((shown) => apply(shown, update));
    client
      .subscribe(channel, {
        onSubscribed: ({ snapshot }) => snapshot && take({ snapshot }),
        onPublication: ({ data, offset }) => take({ data, offset }),
        onError: (failure) => current && setError(failure),
      })
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

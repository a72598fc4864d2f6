// The organization's webhooks (docs/webhooks.md): registering one (its secret
// shown once), a test ping, resuming a paused one, and each one's delivery log,
// newest attempt first.

import { ErrorNote, React, html, useSubmit } from "./ui.js";

const LOG = 20; // attempts shown per webhook

function Deliveries({ t, format, client, webhook, refreshed }) {
  const [attempts, setAttempts] = React.useState(null);
  const [error, setError] = React.useState(null);
  React.useEffect(() => {
    client.rpc("webhooks.deliveries", { webhook_id: webhook.id, limit: LOG }).then((found) => setAttempts(found.attempts), setError);
  }, [client, webhook.id, refreshed]);
  if (error) return html`<${ErrorNote} t=${t} error=${error} />`;
  if (attempts === null) return null;
  if (attempts.length === 0) return html`<p>${t("organizer.hooks.no_attempts")}</p>`;
  return html`<table class="types" data-testid="deliveries">
    <caption>${t("organizer.hooks.log")}</caption>
    <thead><tr>
      <th scope="col">${t("organizer.hooks.at")}</th>
      <th scope="col">${t("organizer.hooks.kind")}</th>
      <th scope="col">${t("organizer.hooks.outcome")}</th>
      <th scope="col">${t("organizer.hooks.answer")}</th>
    </tr></thead>
    <tbody>
      ${attempts.map((a) => html`<tr key=${a.id} data-outcome=${a.outcome}>
        <td>${format.date(a.at)}</td>
        <td>${a.kind}</td>
        <td>${a.outcome === "delivered" ? t("organizer.hooks.delivered") : t("organizer.hooks.failed")}</td>
        <td>${a.response_code ?? ""} ${a.error ?? ""}</td>
      </tr>`)}
    </tbody>
  </table>`;
}

function Webhook({ t, format, client, webhook, onChanged }) {
  const [refreshed, setRefreshed] = React.useState(0);
  const [error, setError] = React.useState(null);
  async function run(method) {
    setError(null);
    try {
      await client.rpc(method, { webhook_id: webhook.id });
      setRefreshed((n) => n + 1);
      onChanged();
    } catch (failure) {
      setError(failure);
    }
  }
  return html`<li class="card" data-testid="webhook">
    <h3 class="url">${webhook.url}</h3>
    <p>
      ${webhook.description && html`${webhook.description} · `}${webhook.kinds.join(", ")} ·
      ${webhook.status === "active" ? t("organizer.hooks.active") : t("organizer.hooks.paused")} ·
      ${t("organizer.hooks.pending", { pending: format.number(webhook.pending) })}
    </p>
    <div class="actions">
      <button type="button" onClick=${() => run("webhooks.test")}>${t("organizer.hooks.test")}</button>
      ${webhook.status !== "active" &&
      html`<button type="button" onClick=${() => run("webhooks.resume")}>${t("organizer.hooks.resume")}</button>`}
    </div>
    <${ErrorNote} t=${t} error=${error} />
    <${Deliveries} t=${t} format=${format} client=${client} webhook=${webhook} refreshed=${refreshed} />
  </li>`;
}

export function Webhooks({ t, format, client }) {
  const [hooks, setHooks] = React.useState(null);
  const [error, setError] = React.useState(null);
  const [url, setUrl] = React.useState("");
  const [kinds, setKinds] = React.useState("*");
  const [description, setDescription] = React.useState("");
  const [made, setMade] = React.useState(null);
  const load = React.useCallback(() => {
    client.rpc("webhooks.list", { limit: 500 }).then((found) => setHooks(found.webhooks), setError);
  }, [client]);
  React.useEffect(load, [load]);

  const { submit, error: refused, busy } = useSubmit(async () => {
    setMade(null);
    const params = { url, kinds: kinds.split(/[,\s]+/).filter(Boolean) };
    if (description) params.description = description;
    setMade(await client.rpc("webhooks.create", params));
    setUrl("");
    setDescription("");
    load();
  });

  return html`<section aria-labelledby="hooks-title" class="card">
    <h2 id="hooks-title">${t("organizer.hooks.title")}</h2>
    <${ErrorNote} t=${t} error=${error} />
    ${hooks?.length === 0 && html`<p>${t("organizer.hooks.none")}</p>`}
    <ul class="polls">
      ${(hooks ?? []).map((hook) => html`<${Webhook} key=${hook.id} t=${t} format=${format} client=${client}
        webhook=${hook} onChanged=${load} />`)}
    </ul>
    <h3>${t("organizer.hooks.new")}</h3>
    <form onSubmit=${submit}>
      <label>${t("organizer.hooks.url")}
        <input type="url" required pattern="https://.*" value=${url} onInput=${(e) => setUrl(e.target.value)} />
      </label>
      <label>${t("organizer.hooks.kinds")}
        <input required value=${kinds} onInput=${(e) => setKinds(e.target.value)} />
      </label>
      <label>${t("organizer.hooks.description")}
        <input maxlength="200" value=${description} onInput=${(e) => setDescription(e.target.value)} />
      </label>
      <${ErrorNote} t=${t} error=${refused} />
      <button type="submit" disabled=${busy}>${t("organizer.hooks.create")}</button>
    </form>
    ${made &&
    html`<div role="status" class="secret">
      <p>${t("organizer.hooks.once")}</p>
      <code data-testid="webhook-secret">${made.secret}</code>
    </div>`}
  </section>`;
}

// api.js: the dashboard's only door to the node. Every call carries the
// bearer token from sessionStorage; nothing is cached elsewhere.

const KEY = "ctimesh.token";

export function token() { return sessionStorage.getItem(KEY) || ""; }
export function setToken(t) { sessionStorage.setItem(KEY, t); }
export function clearToken() { sessionStorage.removeItem(KEY); }

export class APIError extends Error {
  constructor(status, code, message) { super(message); this.status = status; this.code = code; }
}

export async function api(path, { method = "GET", query, body, signal } = {}) {
  let url = path;
  if (query) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) if (v !== "" && v !== undefined && v !== null) q.set(k, v);
    const s = q.toString();
    if (s) url += "?" + s;
  }
  const init = { method, signal, headers: { "Authorization": "Bearer " + token(), "Accept": "application/json" }, cache: "no-store" };
  if (body !== undefined) { init.body = JSON.stringify(body); init.headers["Content-Type"] = "application/json"; }
  const resp = await fetch(url, init);
  const text = await resp.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  if (!resp.ok) {
    const e = data && data.error ? data.error : { code: "http_" + resp.status, message: text || resp.statusText };
    throw new APIError(resp.status, e.code, e.message);
  }
  return data;
}

// events long-polls the event stream and calls onEvents with each batch;
// it keeps going until signal aborts, backing off on errors.
export async function pollEvents(since, onEvents, onState, signal) {
  let backoff = 1000;
  while (!signal.aborted) {
    try {
      const r = await api("/api/v1/events", { query: { since, wait: 25 }, signal });
      onState(true);
      backoff = 1000;
      if (r.events.length || r.missed) onEvents(r.events, r.missed);
      since = r.next;
    } catch (e) {
      if (signal.aborted) return;
      onState(false);
      if (e instanceof APIError && e.status === 401) return;
      await new Promise(res => setTimeout(res, backoff));
      backoff = Math.min(backoff * 2, 15000);
    }
  }
}

// app.js: the ctimesh node dashboard. Plain DOM, no framework, no inline
// script (the CSP forbids it); every string from the node goes into the
// page as text, never as HTML.
import { api, APIError, token, setToken, clearToken, pollEvents } from "./api.js";
import { pages } from "./pages.js";
import { $, h, state, shortID, when } from "./dom.js";

function showLogin(msg) {
  stopEvents();
  $("#app").hidden = true;
  $("#login").hidden = false;
  const e = $("#login-error");
  e.hidden = !msg;
  e.textContent = msg || "";
  $("#token").focus();
}

async function login(t) {
  setToken(t);
  try {
    state.status = await api("/api/v1/status");
  } catch (e) {
    clearToken();
    showLogin(e instanceof APIError && e.status === 401 ? "That token was refused." : "Cannot reach the node: " + e.message);
    return;
  }
  state.readOnly = state.status.access === "read-only";
  $("#login").hidden = true;
  $("#app").hidden = false;
  $("#node-team").textContent = state.status.team + " · " + shortID(state.status.peer_id);
  $("#node-fed").textContent = "federation " + (state.status.federation || shortID(state.status.federation_id));
  $("#access").textContent = state.readOnly ? "read-only" : "admin";
  document.body.classList.toggle("ro", state.readOnly);
  startEvents();
  route();
}

function route() {
  $("#toast").hidden = true;
  const page = (location.hash.replace(/^#\/?/, "").split("?")[0]) || "overview";
  state.page = pages[page] ? page : "overview";
  for (const a of document.querySelectorAll(".side a")) a.classList.toggle("active", a.dataset.page === state.page);
  render();
}

// render builds the current page. Renders overlap (a click and a burst of
// events), and their fetches may finish out of order: only the latest one
// started may touch the page, so a slow old answer never hides a newer one.
let renderSeq = 0;
export async function render() {
  const main = $("#main");
  const seq = ++renderSeq;
  try {
    const view = await pages[state.page]({ h, api, state, refresh: render });
    if (seq !== renderSeq) return;
    main.replaceChildren(view);
  } catch (e) {
    if (seq !== renderSeq) return;
    if (e instanceof APIError && e.status === 401) { clearToken(); showLogin("The node no longer accepts this token (restarted?)."); return; }
    main.replaceChildren(h("p", { class: "error" }, "Error: " + e.message));
  }
}

// Live updates: each batch of events goes to the side list, and the page
// re-renders once the burst settles.
function startEvents() {
  stopEvents();
  const ctl = new AbortController();
  state.pollAbort = ctl;
  const since = 0;
  pollEvents(since, (events, missed) => {
    const list = $("#event-list");
    if (missed) list.prepend(h("li", { class: "k-missed" }, `${missed} events missed`));
    for (const ev of events) {
      list.prepend(h("li", { class: "k-" + ev.kind, dataset: { seq: ev.seq, kind: ev.kind } },
        h("span", { class: "when" }, when(ev.time) + " · " + ev.kind), ev.summary));
    }
    while (list.children.length > 200) list.lastChild.remove();
    clearTimeout(state.refreshTimer);
    state.refreshTimer = setTimeout(() => { if (!document.querySelector(".main input:focus")) render(); }, 300);
  }, ok => $("#live").classList.toggle("on", ok), ctl.signal);
}

function stopEvents() {
  if (state.pollAbort) state.pollAbort.abort();
  state.pollAbort = null;
}

window.addEventListener("hashchange", route);
document.addEventListener("DOMContentLoaded", () => {
  $("#login-form").addEventListener("submit", ev => { ev.preventDefault(); login($("#token").value.trim()); });
  $("#logout").addEventListener("click", () => { clearToken(); showLogin(); });
  if (token()) login(token()); else showLogin();
});

// dom.js: small DOM helpers shared by the dashboard's modules. Text from
// the node always becomes text nodes, never HTML.
export const $ = sel => document.querySelector(sel);

export function h(tag, attrs = {}, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") el.className = v;
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(el.dataset, v);
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const kid of kids.flat(Infinity)) {
    if (kid === undefined || kid === null || kid === false) continue;
    el.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
  }
  return el;
}

export const state = { status: null, readOnly: false, page: "overview", pollAbort: null, refreshTimer: null };

export function tlp(level) {
  const l = (level || "").toLowerCase();
  return h("span", { class: "tlp tlp-" + l }, "TLP:" + l.toUpperCase());
}

export function shortID(id) {
  if (!id) return "";
  return id.length > 18 ? id.slice(0, 8) + "…" + id.slice(-6) : id;
}

export function when(t) {
  if (!t) return "";
  const d = new Date(t);
  if (isNaN(d)) return "";
  return d.toISOString().replace("T", " ").slice(0, 19) + "Z";
}

// tshort is a compact time for table cells: month-day and UTC clock.
export function tshort(t) {
  const s = when(t);
  return s ? s.slice(5, 19) : "";
}

// teams maps peer ids to team names, learnt from every peers listing, so
// tables can say who rather than print a hash.
export const teams = new Map();
export function who(id) {
  if (!id) return "";
  return teams.get(id) || shortID(id);
}

export function ago(t) {
  if (!t) return "never";
  const s = Math.max(0, (Date.now() - new Date(t).getTime()) / 1000);
  if (s < 60) return Math.round(s) + "s ago";
  if (s < 3600) return Math.round(s / 60) + "m ago";
  if (s < 86400) return Math.round(s / 3600) + "h ago";
  return Math.round(s / 86400) + "d ago";
}

export function toast(msg, bad = false) {
  const t = $("#toast");
  t.textContent = msg;
  t.className = "toast" + (bad ? " bad" : "");
  t.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { t.hidden = true; }, 4000);
}


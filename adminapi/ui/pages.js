// pages.js: one function per dashboard page. Each fetches what it shows
// and returns a fresh element; app.js swaps it in and re-renders on live
// events.
import { api } from "./api.js";
import { h, state, tlp, shortID, when, ago, toast, tshort, teams, who } from "./dom.js";

const LEVELS = ["clear", "green", "amber", "amber+strict", "red"];

// learnTeams fills the peer-id-to-team map from a peers listing and the
// node's own status.
async function learnTeams() {
  const [st, ps] = await Promise.all([api("/api/v1/status"), api("/api/v1/peers")]);
  teams.set(st.peer_id, st.team + " (us)");
  for (const p of ps.peers) if (p.team) teams.set(p.peer_id, p.team);
  return ps;
}

// feedOf turns a gossip topic (/ctimesh/1/<federation>/<level>[/<group>])
// into its feed.
function feedOf(d) {
  if (d.feed) return d.feed;
  const parts = (d.topic || "").split("/");
  return parts.length > 4 ? parts.slice(4).join("/") : d.topic || "";
}

function card(n, label) { return h("div", { class: "card" }, h("div", { class: "n" }, n), h("div", { class: "l" }, label)); }

function stateBadge(s) { return h("span", { class: "state state-" + s }, s || "unknown"); }

function table(headers, rows) {
  return h("table", {}, h("thead", {}, h("tr", {}, headers.map(x => h("th", {}, x)))), h("tbody", {}, rows));
}

async function overview() {
  const [st, peers, pending, feeds, dec] = await Promise.all([
    api("/api/v1/status"), api("/api/v1/peers"), api("/api/v1/peers/pending"), api("/api/v1/feeds"),
    api("/api/v1/decisions", { query: { limit: 200 } }),
  ]);
  state.status = st;
  // Rates from successive samples: the overview re-renders on every burst
  // of live events, so the window is the time since the last one.
  const now = Date.now(), prev = state.sample;
  let rate = "—";
  if (prev && now - prev.t > 1000) {
    rate = Math.max(0, Math.round((st.entries - prev.entries) * 60000 / (now - prev.t)));
  }
  if (!prev || now - prev.t > 1000) state.sample = { t: now, entries: st.entries };
  const connected = peers.peers.filter(p => p.connected).length;
  const trusted = peers.peers.filter(p => p.state === "trusted").length;
  const rejected = dec.decisions.filter(d => d.outcome === "reject").length;
  const withheld = dec.decisions.filter(d => d.outcome === "withhold").length;
  const by = st.objects_by_level || {};
  const total = Object.values(by).reduce((a, b) => a + b, 0) || 1;
  const bar = h("div", { class: "bar" }, LEVELS.filter(l => by[l]).map(l => {
    const s = h("span", { class: "b-" + l, title: `${l}: ${by[l]}` });
    s.style.width = (100 * by[l] / total) + "%";
    return s;
  }));
  return h("div", { id: "page-overview" },
    h("h1", {}, "Overview"),
    h("div", { class: "cards" },
      card(connected, "peers connected"), card(trusted, "peers trusted"), card(pending.pending.length, "pending"),
      card(st.objects, "objects"), card(st.entries, "entries"), card(feeds.feeds.length, "origin feeds"),
      card(rate, "entries / min"), card(rejected, "rejected (recent)"), card(withheld, "withheld (recent)")),
    h("div", { class: "grid2" },
      h("div", { class: "panel" }, h("h2", {}, "This node"), h("dl", { class: "kv" },
        h("dt", {}, "team"), h("dd", {}, st.team),
        h("dt", {}, "peer id"), h("dd", { class: "mono" }, st.peer_id),
        h("dt", {}, "role / status"), h("dd", {}, `${st.role} / ${st.status || ""}`),
        h("dt", {}, "ceiling"), h("dd", {}, st.max_tlp ? tlp(st.max_tlp) : ""),
        h("dt", {}, "groups"), h("dd", {}, (st.groups || []).join(", ") || "none"),
        h("dt", {}, "credential"), h("dd", { class: "mono" }, `${st.credential_serial || ""} until ${when(st.credential_not_after)}`),
        h("dt", {}, "version / uptime"), h("dd", {}, `${st.version} / ${Math.round(st.uptime_s / 60)} min`),
        h("dt", {}, "listening"), h("dd", { class: "mono" }, (st.listen_addrs || []).slice(0, 3).join("\n")))),
      h("div", { class: "panel" }, h("h2", {}, "Objects by TLP"), bar,
        h("p", {}, LEVELS.map(l => h("span", {}, tlp(l), " ", by[l] || 0, "  "))),
        h("h2", {}, "Peers"),
        table(["peer", "team", "state", "receives"], peers.peers.map(p => h("tr", {},
          h("td", {}, h("span", { class: "dot" + (p.connected ? " on" : "") }), shortID(p.peer_id)),
          h("td", {}, p.team), h("td", {}, stateBadge(p.state)),
          h("td", {}, (p.allowed_levels || []).map(l => [tlp(l), " "])))))))
  );
}

async function peers({ refresh }) {
  const [ps, pend] = await Promise.all([learnTeams(), api("/api/v1/peers/pending")]);
  const sel = ps.peers.find(p => p.peer_id === state.selPeer) || ps.peers[0];
  const rows = ps.peers.map(p => h("tr", {
    class: "click" + (sel && p.peer_id === sel.peer_id ? " sel" : ""), dataset: { peer: p.peer_id, state: p.state, connected: p.connected },
    onclick: () => { state.selPeer = p.peer_id; refresh(); },
  },
    h("td", {}, h("span", { class: "dot" + (p.connected ? " on" : ""), title: p.connected ? "connected" : p.relayed ? "not connected: known through other nodes (relayed credential)" : "not connected" }), h("span", { class: "mono" }, shortID(p.peer_id))),
    h("td", {}, p.team), h("td", { class: "st" }, stateBadge(p.state)), h("td", {}, p.status), h("td", {}, p.role),
    h("td", {}, p.max_tlp ? tlp(p.max_tlp) : ""), h("td", {}, p.local_ceiling ? tlp(p.local_ceiling) : "—"),
    h("td", {}, (p.allowed_levels || []).map(l => [tlp(l), " "])),
    h("td", {}, `${p.counts.sent} / ${p.counts.received} / ${p.counts.withheld}`),
    h("td", {}, ago(p.last_seen))));
  return h("div", { id: "page-peers" },
    h("h1", {}, "Peers"),
    h("div", { class: "panel" }, table(["peer", "team", "state", "status", "role", "credential ceiling", "local ceiling", "receives", "sent / recv / withheld", "last seen"], rows)),
    sel ? peerDetail(sel, refresh) : h("p", { class: "muted" }, "No peers known yet."),
    h("div", { class: "panel" }, h("h2", {}, "Pending (refused) peers"),
      pend.pending.length ? table(["peer", "state", "reason", "connected", "last seen"], pend.pending.map(p => h("tr", { dataset: { pending: p.peer_id } },
        h("td", { class: "mono" }, shortID(p.peer_id)), h("td", {}, stateBadge(p.state)), h("td", {}, p.reason),
        h("td", {}, p.connected ? "yes" : "no"), h("td", {}, ago(p.last_seen))))) : h("p", { class: "muted" }, "No refused peers.")));
}

function peerDetail(p, refresh) {
  const act = async (path, body, what) => {
    try {
      await api(path, { method: "POST", body });
      toast(what);
    } catch (e) { toast(e.message, true); }
    refresh();
  };
  const reason = h("input", { id: "block-reason", placeholder: "reason (recorded)", size: 28 });
  const level = h("select", { id: "ceiling-level" }, h("option", { value: "none" }, "no local ceiling"),
    LEVELS.slice(0, 4).map(l => h("option", { value: l, selected: p.local_ceiling === l }, "TLP:" + l.toUpperCase())));
  const ro = state.readOnly;
  return h("div", { class: "panel", id: "peer-detail", dataset: { peer: p.peer_id } },
    h("h2", {}, "Why this peer is trusted or not"),
    h("p", { class: "reason" }, stateBadge(p.state), " — ", p.reason),
    h("dl", { class: "kv" },
      h("dt", {}, "peer id"), h("dd", { class: "mono" }, p.peer_id),
      h("dt", {}, "team"), h("dd", {}, p.team || "unknown"),
      h("dt", {}, "credential"), h("dd", { class: "mono" }, p.credential_serial || "none"),
      h("dt", {}, "issuer"), h("dd", { class: "mono" }, p.issuer || ""),
      h("dt", {}, "status / role"), h("dd", {}, `${p.status || "—"} / ${p.role || "—"}${p.regulated ? " (regulated)" : ""}`),
      h("dt", {}, "ceiling"), h("dd", {}, p.max_tlp ? tlp(p.max_tlp) : "—", p.local_ceiling ? [" narrowed locally to ", tlp(p.local_ceiling)] : ""),
      h("dt", {}, "groups"), h("dd", {}, (p.groups || []).join(", ") || "none"),
      h("dt", {}, "valid"), h("dd", {}, `${when(p.not_before)} → ${when(p.not_after)}`),
      h("dt", {}, "local overrides"), h("dd", {}, p.blocked ? `blocked: ${p.block_reason || ""}` : "not blocked", p.local_ceiling ? `, ceiling ${p.local_ceiling}` : ""),
      h("dt", {}, "last refusal"), h("dd", {}, p.last_refusal || "—"),
      h("dt", {}, "addresses"), h("dd", { class: "mono" }, (p.addrs || []).join("\n") || "not connected"),
      h("dt", {}, "seen"), h("dd", {}, `first ${when(p.first_seen)}, last ${ago(p.last_seen)}`),
      h("dt", {}, "exchanged"), h("dd", {}, `sent ${p.counts.sent}, received ${p.counts.received}, withheld ${p.counts.withheld}, rejected ${p.counts.rejected}, ignored ${p.counts.ignored}`),
      h("dt", {}, "receives from us"), h("dd", {}, (p.allowed_levels || []).length ? p.allowed_levels.map(l => [tlp(l), " "]) : "nothing")),
    h("div", { class: "actions" },
      p.blocked
        ? h("button", { id: "unblock-btn", disabled: ro, dataset: { action: "unblock", peer: p.peer_id }, onclick: () => act("/api/v1/trust/unblock", { peer_id: p.peer_id }, "peer unblocked") }, "Unblock")
        : [reason, h("button", { id: "block-btn", class: "danger", disabled: ro, dataset: { action: "block", peer: p.peer_id }, onclick: () => act("/api/v1/trust/block", { peer_id: p.peer_id, reason: reason.value }, "peer blocked") }, "Block")],
      level,
      h("button", { id: "ceiling-btn", class: "ghost", disabled: ro, onclick: () => act("/api/v1/trust/ceiling", { peer_id: p.peer_id, level: level.value }, "ceiling set") }, "Set ceiling"),
      h("a", { href: "#/decisions", onclick: () => { state.decPeer = p.peer_id; } }, "decisions about this peer →")),
    ro ? h("p", { class: "muted" }, "Read-only token: actions disabled.") : "");
}

async function objects({ refresh }) {
  await learnTeams();
  const f = state.objFilter || (state.objFilter = { text: "", type: "", tlp: "", origin: "" });
  const res = await api("/api/v1/objects", { query: { ...f, limit: 200 } });
  const input = (k, ph) => h("input", { id: "obj-" + k, placeholder: ph, value: f[k], onchange: e => { f[k] = e.target.value.trim(); refresh(); } });
  const tlpSel = h("select", { id: "obj-tlp", onchange: e => { f.tlp = e.target.value; refresh(); } },
    h("option", { value: "" }, "any TLP"), LEVELS.map(l => h("option", { value: l, selected: f.tlp === l }, "TLP:" + l.toUpperCase())));
  const rows = res.objects.map(o => h("tr", {
    class: "click" + (state.selObj === o.id ? " sel" : ""), dataset: { objectId: o.id },
    onclick: () => { state.selObj = o.id; refresh(); },
  }, h("td", {}, tlp(o.tlp)), h("td", {}, o.type), h("td", {}, o.name || ""), h("td", {}, who(o.origin)),
    h("td", {}, o.group || ""), h("td", { class: "t" }, tshort(o.added))));
  let detail = "";
  if (state.selObj) {
    try {
      const v = await api("/api/v1/objects/versions", { query: { id: state.selObj } });
      const last = v.versions[v.versions.length - 1];
      detail = h("div", { class: "panel", id: "object-detail" }, h("h2", {}, "Provenance"),
        h("p", { class: "mono" }, v.id),
        v.versions.map(x => h("dl", { class: "kv version" },
          h("dt", {}, "signature"), h("dd", { class: "sig " + (x.provenance.signature === "verified" ? "o-accept" : "o-reject") }, x.provenance.signature),
          h("dt", {}, "TLP"), h("dd", {}, tlp(x.tlp), x.group ? " group " + x.group : ""),
          h("dt", {}, "origin"), h("dd", {}, x.provenance.origin_team || "", " ", h("span", { class: "mono muted" }, shortID(x.origin))),
          h("dt", {}, "entry"), h("dd", { class: "mono" }, `${shortID(x.entry_id)} · ${x.provenance.feed || ""} #${x.provenance.seq || "?"}`),
          h("dt", {}, "modified"), h("dd", {}, when(x.modified), x.revoked ? " · revoked" : "", x.retracted ? " · retracted" : ""),
          h("dt", {}, "added here"), h("dd", {}, when(x.added)))),
        h("h3", {}, "Current version"), h("pre", { class: "json" }, JSON.stringify(last.object, null, 2)));
    } catch (e) { detail = h("p", { class: "error" }, e.message); }
  }
  return h("div", { id: "page-objects" }, h("h1", {}, "Objects"),
    h("div", { class: "filters" }, input("text", "search name / description"), input("type", "STIX type"), tlpSel, input("origin", "origin peer id"),
      h("span", { class: "muted" }, `${res.objects.length} shown${res.next ? ", more…" : ""}`)),
    h("div", { class: "grid2 grid-objects" }, h("div", { class: "panel" }, table(["TLP", "type", "name", "origin", "group", "added"], rows)), detail));
}

async function decisions({ refresh }) {
  const q = { peer: state.decPeer || "", outcome: state.decOutcome || "", object: state.decObject || "", limit: 300 };
  const [res] = await Promise.all([api("/api/v1/decisions", { query: q }), learnTeams()]);
  const outSel = h("select", { id: "dec-outcome", onchange: e => { state.decOutcome = e.target.value; refresh(); } },
    ["", "accept", "reject", "ignore", "withhold", "sent"].map(o => h("option", { value: o, selected: q.outcome === o }, o || "any outcome")));
  const peer = h("input", { id: "dec-peer", placeholder: "peer id", value: q.peer, onchange: e => { state.decPeer = e.target.value.trim(); refresh(); } });
  const obj = h("input", { id: "dec-object", placeholder: "STIX id", value: q.object, onchange: e => { state.decObject = e.target.value.trim(); refresh(); } });
  const rows = res.decisions.slice().reverse().map(d => h("tr", { dataset: { decision: d.id, outcome: d.outcome } },
    h("td", {}, d.id), h("td", { class: "t" }, tshort(d.time)), h("td", { class: "o-" + d.outcome }, d.outcome), h("td", {}, d.reason),
    h("td", {}, who(d.peer_id)), h("td", {}, who(d.origin)), h("td", {}, feedOf(d)),
    h("td", {}, (d.objects || []).length ? `${d.objects.length} object(s)` : ""), h("td", { class: "detail" }, d.detail || "")));
  return h("div", { id: "page-decisions" }, h("h1", {}, "Decisions"),
    h("p", { class: "muted" }, "Every accept, reject and ignore of a message from a peer, and every entry of ours sent to or withheld from a peer, with the reason. Newest first."),
    h("div", { class: "filters" }, outSel, peer, obj, h("span", { class: "muted" }, `oldest held: #${res.oldest}`)),
    h("div", { class: "panel" }, table(["#", "time", "outcome", "reason", "peer", "origin", "feed", "objects", "detail"], rows)));
}

async function audit() {
  const [creds, revs] = await Promise.all([api("/api/v1/trust/credentials"), api("/api/v1/trust/revocations")]);
  let auditView;
  try {
    const a = await api("/api/v1/trust/audit", { query: { limit: 200 } });
    auditView = table(["#", "time", "kind", "peer", "hash"], a.records.map(r => h("tr", {},
      h("td", {}, r.seq), h("td", { class: "t" }, tshort(r.time)), h("td", {}, r.kind), h("td", { class: "mono" }, shortID(r.peer_id)), h("td", { class: "mono" }, shortID(r.hash)))));
  } catch (e) { auditView = h("div", { class: "notice" }, "Audit log: " + e.message); }
  return h("div", { id: "page-audit" }, h("h1", {}, "Trust & audit"),
    h("div", { class: "panel" }, h("h2", {}, "Credentials"), table(["team", "peer", "serial", "status", "role", "ceiling", "groups", "valid until", "state"],
      creds.credentials.map(c => h("tr", {}, h("td", {}, c.team + (c.own ? " (this node)" : "")), h("td", { class: "mono" }, shortID(c.peer_id)),
        h("td", { class: "mono" }, shortID(c.serial)), h("td", {}, c.status), h("td", {}, c.role), h("td", {}, tlp(c.max_tlp)),
        h("td", {}, (c.groups || []).join(", ")), h("td", { class: "t" }, tshort(c.not_after)),
        h("td", {}, c.revoked ? stateBadge("revoked") : c.current ? stateBadge("trusted") : "superseded"))))),
    h("div", { class: "panel" }, h("h2", {}, "Revocations"), revs.revocations.length ? table(["serial", "peer", "team", "revoked at", "reason"],
      revs.revocations.map(r => h("tr", {}, h("td", { class: "mono" }, shortID(r.serial)), h("td", { class: "mono" }, shortID(r.peer_id)),
        h("td", {}, r.team || ""), h("td", { class: "t" }, tshort(r.revoked_at)), h("td", {}, r.reason)))) : h("p", { class: "muted" }, "None.")),
    h("div", { class: "panel" }, h("h2", {}, "Audit log"), auditView));
}

async function feeds() {
  const res = await api("/api/v1/feeds");
  return h("div", { id: "page-feeds" }, h("h1", {}, "Feeds"),
    h("p", { class: "muted" }, "Heads of every origin feed this node holds. Missing > 0 means entries are still to be fetched by sync."),
    h("div", { class: "panel" }, table(["origin", "team", "feed", "contiguous", "max", "missing", "topic peers", "head"], res.feeds.map(f => h("tr", {},
      h("td", { class: "mono" }, shortID(f.origin) + (f.own ? " (us)" : "")), h("td", {}, f.team || ""), h("td", {}, tlp(f.level), f.group ? " /" + f.group : ""),
      h("td", {}, f.contiguous), h("td", {}, f.max), h("td", { class: f.missing ? "o-reject" : "" }, f.missing), h("td", {}, f.topic_peers),
      h("td", { class: "mono" }, shortID(f.head_id)))))),
    qualityPanel(res.quality || []));
}

// qualityPanel shows the feed quality of every origin (docs/QUALITY.md).
function qualityPanel(qs) {
  const pct = (n, s) => n + " (" + Math.round(100 * s) + "%)";
  const dur = s => !s ? "" : s < 3600 ? Math.round(s / 60) + "m" : s < 86400 ? Math.round(s / 3600) + "h" : Math.round(s / 86400) + "d";
  const rej = r => Object.entries(r || {}).map(([k, v]) => k + ": " + v).join(", ");
  return h("div", { class: "panel", id: "feed-quality" }, h("h2", {}, "Feed quality"),
    h("p", { class: "muted" }, "Per origin, over what this node holds: false-positive reports, sightings by other teams, duplicates of other teams' objects, rejections."),
    qs.length ? table(["origin", "team", "objects", "false positive", "sighted by others", "to first sighting", "duplicates", "rejected", "last published", "mean score"],
      qs.map(q => h("tr", {}, h("td", { class: "mono" }, shortID(q.origin)), h("td", {}, q.team || ""), h("td", {}, q.objects),
        h("td", { class: q.false_positive ? "o-reject" : "" }, pct(q.false_positive, q.false_positive_share)),
        h("td", {}, pct(q.sighted_by_others, q.sighted_share)), h("td", {}, dur(q.median_time_to_sighting_s)),
        h("td", {}, pct(q.duplicates, q.duplicate_share)), h("td", { class: q.rejected_total ? "o-reject" : "" }, rej(q.rejected)),
        h("td", { class: "t" }, ago(q.last_published)), h("td", {}, Math.round(q.mean_score))))) : h("p", { class: "muted" }, "No feeds yet."));
}

export const pages = { overview, peers, objects, decisions, audit, feeds };

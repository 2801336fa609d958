// Package adminapi owns the node's local admin HTTP API: the route table,
// the security checks in front of it, the JSON wire types shared with the
// CLI, the OpenAPI document generated from the route table, the runtime
// files (admin.addr, admin.token) through which the CLI finds a running
// node, and the Client the CLI uses.
//
// The package knows nothing of trust, the ledger or gossip: it calls a
// Backend, which the node implements, and maps the sentinel errors the
// backend wraps (ErrInvalidInput, ErrForbidden, ...) to HTTP statuses.
//
// Invariants:
//   - every route is declared once, in routes.go; dispatch, authentication
//     and the OpenAPI document are all derived from that table;
//   - every error response, whatever produced it, has the one shape
//     {"error":{"code":"...","message":"..."}}; internal errors never leak
//     their details (they are logged instead);
//   - every request passes the same checks, in order: Host is a loopback
//     name or explicitly allowed (DNS rebinding), Origin/Referer/
//     Sec-Fetch-Site are same-origin or absent (browsers on other sites),
//     then the bearer token, compared in constant time, for every route but
//     /healthz and the dashboard's static files under /ui/;
//   - a read-only token (Config.ReadOnlyToken, admin.readonly.token) may
//     only GET; any other method is 403 whatever the route;
//   - every response carries the security headers (nosniff, DENY framing,
//     a strict CSP without inline script, no referrer, no-store);
//   - long polls and event streams end as soon as Close starts; the
//     Backend's Events never blocks the node (a slow reader misses events);
//   - the dashboard (ui/, embedded) holds no data: it logs in with a token
//     kept in sessionStorage and calls the same API;
//   - the server listens only on loopback unless Config.AllowRemote;
//   - JSON field names are a fixed contract with the CLI and scripts:
//     fields may be added, never renamed or removed.
package adminapi

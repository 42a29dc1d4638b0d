// Package console is the front door of the web console and the HTTP API
// that `issuer run` serves on http.addr beside the machine endpoints of
// package httpapi.
//
// It owns who is asking and whether they may: the login and logout pages,
// session cookies, bearer API tokens, an optional trusted reverse proxy's
// user header, cross-origin refusal of cookie-authenticated writes, the
// security headers on every answer, the page layout (navigation, language,
// embedded assets) and the Users and Audit pages. Accounts, sessions and
// tokens live in package auth and every recorded act in package audit.
//
// It must not do batch or stock work itself: pages and API routes for
// those are registered by their owners (Handle, Page) and call the
// operations layer with the Actor this package puts in the request context
// (ActorFrom). It never serves /healthz, /readyz, /metrics,
// /callbacks/wxpay or /plugin/sign; the daemon routes those to httpapi
// before the console sees a request.
//
// # Routes
//
//	GET  /login, POST /login   the login page; 303 and a session cookie on success
//	POST /logout               ends the session; 303 to /login
//	GET  /static/…             embedded CSS and JS (no login)
//	GET  /                     home: the navigation
//	GET  /users, POST /users…  admin: list, add, disable, enable, tokens
//	GET  /audit                operator, admin: the audit log, filtered and paged
//	GET  /api/v1/audit?limit=N operator, admin: the audit log as JSON
//	GET  /api/v1/whoami        the caller's account name and role
//
// Without credentials, /api/… answers 401 {"error":"…"} and pages redirect
// to /login?next=…; a role that may not answers 403 (JSON for the API, a
// page otherwise).
package console

//! # audit-tower
//!
//! [`AuditLayer`] records audited HTTP requests as tamper-evident [`audit_core`] events: who
//! did it (the actor, named late by your authentication), what (`"PUT /users/{id}"` on
//! `users`/`42`), from where (client IP, user agent, request id), and how it ended (status,
//! outcome, duration). It is a tower layer: use it with `axum::Router::layer` or around any
//! `Service<http::Request<B>>`.
//!
//! ```
//! use audit_core::store::MemoryStore;
//! use audit_core::{Actor, Auditor, Outcome};
//! use audit_tower::{AuditHandle, AuditLayer};
//! use axum::body::Body;
//! use axum::extract::{Path, Request};
//! use axum::http::StatusCode;
//! use axum::middleware::{self, Next};
//! use axum::response::Response;
//! use axum::routing::{get, put};
//! use axum::Router;
//! use std::sync::Arc;
//! use tower::ServiceExt;
//!
//! // Authentication runs inside the audit layer and names the actor once it knows it.
//! async fn authenticate(audit: Option<AuditHandle>, request: Request, next: Next) -> Result<Response, StatusCode> {
//!     let user = request.headers().get("x-user").and_then(|v| v.to_str().ok()).map(str::to_owned);
//!     let Some(user) = user else { return Err(StatusCode::UNAUTHORIZED) };
//!     if let Some(audit) = audit {
//!         audit.set_actor(Actor::user(user));
//!     }
//!     Ok(next.run(request).await)
//! }
//!
//! async fn update_user(Path(_id): Path<String>, audit: AuditHandle) -> StatusCode {
//!     audit.set_justification("ticket CHG-1234");
//!     StatusCode::NO_CONTENT
//! }
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let store = Arc::new(MemoryStore::new());
//! let auditor = Auditor::builder(store.clone()).build();
//! let app = Router::new()
//!     .route("/users/{id}", put(update_user))
//!     .route("/patients/{id}", get(|| async { "record" }))
//!     .route("/health", get(|| async { "ok" }))
//!     .route_layer(middleware::from_fn(authenticate))
//!     .layer(
//!         AuditLayer::new(auditor.clone())
//!             .with_sensitive_routes(["/patients/{id}"]) // "who viewed this record"
//!             .with_skipped_routes(["/health"]),
//!     );
//!
//! let request = axum::http::Request::put("/users/42").header("x-user", "alice").body(Body::empty()).unwrap();
//! let response = app.clone().oneshot(request).await.unwrap();
//! assert_eq!(response.status(), StatusCode::NO_CONTENT);
//! let request_id = response.headers()["x-request-id"].to_str().unwrap().to_owned();
//!
//! // Acknowledged delivery: the event was durable before the response was released.
//! let events = store.events("default");
//! let event = &events[0].event;
//! assert_eq!(event.action, "PUT /users/{id}");
//! assert_eq!(event.actor, Actor::user("alice"));
//! assert_eq!((event.resource.kind.as_str(), event.resource.id.as_str()), ("users", "42"));
//! assert_eq!(event.outcome, Outcome::Success);
//! assert_eq!(event.context.status, Some(204));
//! assert_eq!(event.context.request_id.as_deref(), Some(request_id.as_str()));
//! assert_eq!(event.justification.as_deref(), Some("ticket CHG-1234"));
//!
//! // Reads are audited on sensitive routes only; a refused request is recorded as denied.
//! let request = axum::http::Request::get("/patients/7").header("x-user", "bob").body(Body::empty()).unwrap();
//! app.clone().oneshot(request).await.unwrap();
//! let request = axum::http::Request::delete("/users/42").body(Body::empty()).unwrap();
//! assert_eq!(app.clone().oneshot(request).await.unwrap().status(), StatusCode::UNAUTHORIZED);
//! let request = axum::http::Request::get("/health").body(Body::empty()).unwrap();
//! app.oneshot(request).await.unwrap();
//!
//! let events = store.events("default");
//! assert_eq!(events.len(), 3);
//! assert_eq!(events[1].event.action, "GET /patients/{id}");
//! assert_eq!(events[2].event.actor, Actor::anonymous());
//! assert_eq!(events[2].event.outcome, Outcome::Denied);
//! auditor.shutdown().await;
//! # });
//! ```
//!
//! ## Placement
//!
//! Apply the layer with `Router::layer`, so that it sees axum's `MatchedPath` and path
//! parameters (a layer wrapped around the whole router from outside sees neither, so every
//! action would read `<unmatched>`), and put authentication *inside* it (`route_layer`, or a
//! `layer` call before this one) so that refusals are recorded and the actor can be named
//! through the [`AuditHandle`]. Serve with `into_make_service_with_connect_info::<SocketAddr>()`
//! for the client IP. Put tower-http's `CatchPanicLayer` inside it so that a panicking handler
//! is recorded as a `500` failure.
//!
//! ## Which requests
//!
//! - `POST`, `PUT`, `PATCH` and `DELETE`, on every route ([`AuditLayer::with_methods`] changes
//!   the list);
//! - `GET` and `HEAD` on the routes marked sensitive ([`AuditLayer::with_sensitive_routes`]);
//! - never the skipped routes ([`AuditLayer::with_skipped_routes`]).
//!
//! Routes are named by their template (`/patients/{id}`); a request without a matched route
//! (a `nest_service` such as `ServeDir`, a fallback, a service outside a `Router`) is matched
//! by its raw path, segment by segment, percent-decoded (see
//! [`AuditLayer::with_sensitive_routes`]).
//!
//! Layers may be stacked (one on the whole router, another on a nested router that audits
//! more of its reads, say): a request is recorded once, by the outermost layer that audits
//! it; a layer inside it passes the request through, and records the requests the outer one
//! does not audit. An inner layer that fails closed ([`UnhealthyPolicy::FailClosed`]) still
//! refuses the requests it audits while its store is failing: the outer layer records the
//! `503`, with reason `audit store unavailable`. The event goes to the outer layer's auditor,
//! with its delivery: stacked layers are meant to share one auditor (a request recorded in
//! two chains would need a layer each outside the other's reach, e.g. on separate routers).
//!
//! ## The event (SPEC §1)
//!
//! | field | value |
//! |---|---|
//! | `action` | `"<METHOD> <route template>"`, e.g. `"PUT /users/{id}"`; `"<METHOD> <unmatched>"` without a matched route (never the raw path, which the client chooses) |
//! | `actor` | set through [`AuditHandle::set_actor`], else derived by [`AuditLayer::on_actor`], else `anonymous` |
//! | `resource` | from the route: the last `{param}` segment that follows a literal segment gives type = the literal, id = the parameter's value (`/users/{id}` → `users`/`42`; `/orgs/{org}/members/{user}` → `members`/`<user>`; `/users/{id}/activate` → `users`/`<id>`); else type = the last literal segment and id `""` (`POST /users` → `users`/`""`). The id is the percent-decoded value, escaped (see [Resource ids](#resource-ids)). A parameter the redaction policy names is hidden. [`AuditHandle::set_resource`] overrides it |
//! | `outcome` | `2xx`/`3xx` success; `401`/`403` denied; anything else (and no response at all) failure |
//! | `reason` | [`AuditHandle::set_reason`], else the status's reason phrase when not a success; `aborted`, `panic`, `service error` or `audit store unavailable` when the layer knows better |
//! | `context` | `ip`, `user_agent` ([hidden](audit_core::text::is_hidden) characters stripped, at most [`MAX_USER_AGENT_LEN`] bytes), `request_id`, `method`, `route`, `path` (the raw path the client sent, without the query, cleaned, at most [`MAX_PATH_LEN`] bytes; axum's `OriginalUri`'s path when a router set it, so a router nested under a prefix records the prefix too; secret parameters hidden, see [Resource ids](#resource-ids)), `status`, `duration_us` (from the layer's `call` to the response head) |
//! | `details` | [`AuditHandle::add_detail`]; `client_request_id` when the client sent an untrusted `x-request-id` |
//! | `justification`, `tags` | [`AuditHandle::set_justification`], [`AuditHandle::add_tag`] |
//!
//! Events added with [`AuditHandle::add_event`] (`login_failed`, `export`, …) are recorded
//! just before the request's own event, with its actor and context unless they name theirs.
//!
//! ### Resource ids
//!
//! A resource id taken from the path identifies a record, so it is never altered: two
//! different values give two different ids (a cut one, below, barring a collision of
//! 128-bit hashes). Its percent-decoded value is written as it is, except:
//!
//! - a backslash is written `\\`;
//! - characters that are invisible or make text display as something else
//!   ([`audit_core::text::is_hidden`]: control characters, the bidirectional formatting
//!   characters, zero-width and other default-ignorable characters such as the soft hyphen,
//!   the line and paragraph separators, the other format characters) and `…` (U+2026, the cut
//!   mark) are written `\u{X}`, `X` the code point in lowercase hex without leading zeros:
//!   `PUT /users/4%0A2` is `users`/`4\u{a}2`, `PUT /users/al%C2%ADice` is `users`/`al\u{ad}ice`;
//! - a byte that is not part of valid UTF-8 is written `\xHH`, two lowercase hex digits:
//!   `PUT /users/%FF` is `users`/`\xff` (a client's literal `\xff` is `\\xff`);
//! - an id longer than [`MAX_PATH_PARAM_LEN`] bytes so written is cut after a whole
//!   character or escape and ends with `…` and 32 lowercase hex digits: the first 16 bytes of
//!   SHA-256 over a `0x00` byte and the whole decoded value (RFC 6962's leaf hash,
//!   [`audit_core::merkle::leaf_hash`]). Only a cut id contains a bare `…`.
//!
//! When one of a route's parameters is not UTF-8, axum keeps none of them; the layer then
//! reads the values from the raw path, matched against the template (the id is `""` only if
//! the path does not fit it).
//!
//! A parameter whose name the auditor's [`RedactionPolicy`](audit_core::RedactionPolicy)
//! names (`/password-resets/{token}`, `/keys/{api_key}`) is a secret, not a record's name:
//! its value is hidden as the policy hides values (`[REDACTED]`, or the same keyed token
//! for the same value) in the resource id and in `context.path`, where its segment is
//! replaced (a path that does not fit its template is hidden whole). A request without a
//! matched route (a `Router::nest_service`, a fallback) has no template naming its
//! parameters, and its raw path is recorded as sent: route paths that carry secrets with
//! `route` or `nest`.
//!
//! Context that only describes the request (the user agent, the raw path, a client's request
//! id) is cleaned instead: hidden characters are dropped and the value is cut silently.
//!
//! ## The actor, bound late
//!
//! Authentication usually runs inside the audit layer, and extensions it inserts are not
//! visible to the layer afterwards. So the layer inserts a shared [`AuditHandle`] before
//! calling the inner service, and reads it when the response comes back. The handle's actor
//! is the request's [`audit_core::AuditScope`]'s actor: the scope is current while the inner
//! service runs, so anything recorded meanwhile (SeaORM hooks, a handler's own
//! [`audit_core::Auditor::record`]) gets the same actor, request id and context. A tokio
//! task-local is not inherited by `tokio::spawn`; run spawned work in
//! `handle.scope().clone().run(..)` if it records events.
//!
//! ## Client IP
//!
//! The socket peer (axum's `ConnectInfo<SocketAddr>`, or `MockConnectInfo<SocketAddr>` in
//! tests); absent when there is none. `X-Forwarded-For` (or RFC 7239 `Forwarded`, see
//! [`AuditLayer::with_forwarded_header`]) is read only when the peer is one of
//! [`AuditLayer::with_trusted_proxies`], walked from the right to the first hop that is not a
//! trusted proxy; a malformed entry the walk reaches makes the IP unknown, never the leftmost
//! entry. Only the entries the walk reaches are read, so broken bytes a client sent, to which
//! a proxy appended its own entry, do not blank the IP. When every hop is trusted, the
//! leftmost entry is the client: **the trusted networks must hold only your proxies**, since a
//! client inside one could otherwise claim any address. See [`client_ip::client_ip`].
//!
//! ## Request id
//!
//! Every audited request gets a UUIDv7 request id: in the event, in the `x-request-id`
//! response header, and in [`AuditHandle::request_id`]. A client-sent `x-request-id` is
//! untrusted: it is kept, cleaned and bounded, as `details.client_request_id`, and not used
//! as the id unless [`AuditLayer::with_trusted_request_id`] says that header comes from a
//! trusted edge; even then, only a single `x-request-id` line sent by a peer in
//! [`AuditLayer::with_trusted_proxies`] is used (without trusted proxies, none is). The
//! inner service sees the request with that id as its only `x-request-id` header, so a
//! handler or a logging layer inside the audit layer that reads the header logs the id the
//! events carry, never one the client chose.
//!
//! ## Delivery, and an unhealthy store
//!
//! [`Delivery::Acknowledged`] (the default) releases the response only once the request's
//! events are durable; [`Delivery::Buffered`] once they are queued. If an event cannot be
//! recorded at all (the auditor is shut down, the store refuses it, or the draft is invalid),
//! the response is replaced by an empty `500` rather than released as if it had been; when
//! that is an event the handler added, the request's own event (queued after it) records the
//! `500` and why, so the trail shows what the client got. The store can also refuse an event
//! after it was queued (an id given with [`audit_core::EventDraft::with_id`] that the chain
//! already holds, as an idempotency key would on a client's retry): so, under acknowledged
//! delivery, a request whose handler added events queues its own event only once theirs are
//! durable, which costs one more append for such requests only. A handler that uses an id as
//! an idempotency key should add that event on the first attempt only: a retry that adds it
//! again gets a `500`. Under buffered delivery, and once fail open stops waiting (below), such
//! a late refusal is not seen by the layer: the response and the own event keep the handler's
//! status, and the writer counts the event in
//! [`WriterStats::rejected`](audit_core::WriterStats::rejected). While the store is
//! failing, [`UnhealthyPolicy::FailOpen`] (the default) serves requests and releases
//! responses once their events are queued, including responses that were already waiting for
//! durability when the store started failing (as soon as the auditor finds it failing);
//! [`UnhealthyPolicy::FailClosed`] refuses audited
//! requests with `503` before the handler runs (so does it once the auditor is shut down),
//! and queues that refusal as a failure event without waiting and without spawning: if the
//! queue is full (or the auditor shut down), the refusal's event is counted in
//! [`LayerStats::unrecorded`] instead, so an outage holds nothing per refused request.
//!
//! The store counts as failing once one of its calls *fails*. A call that hangs (a database
//! that stopped answering, a connection waiting for its TCP timeout) is not seen, and
//! acknowledged responses wait for it: give the store's connection a statement or socket
//! timeout, or bound the wait with [`AuditLayer::with_ack_timeout`] (fail open only).
//!
//! ## Aborted requests and panics
//!
//! If the response future is dropped before the inner service answers (the client went away,
//! a timeout layer outside gave up, a panic unwinds through it), the request is still
//! recorded: outcome `failure`, reason `aborted` (`panic` while unwinding), no status. So is
//! a request whose inner service panics in its synchronous `call`, before returning a future
//! (or whose [`AuditLayer::on_actor`] function panics): reason `panic`. `Drop`
//! cannot wait, so these events are queued with [`audit_core::Auditor::try_record_detached`]; if the
//! queue is full, a task is spawned that waits for room, as long as fewer than
//! [`MAX_DETACHED_WAITERS`] of the layer's tasks are already waiting (a store outage while
//! clients give up must not grow tasks without bound). A loss that cannot be avoided (the
//! auditor is shut down, that many tasks already wait, or no tokio runtime is left) is
//! counted in [`LayerStats::unrecorded`] ([`AuditLayer::stats`]). A panic that tower-http's
//! `CatchPanicLayer` (inside this layer) turns into a `500` is a `failure` like any `500`;
//! with `CatchPanicLayer` outside this layer, the panic unwinds through it and is recorded
//! with reason `panic` and no status (the client gets the `500` from outside).
//!
//! The event is recorded when the response *head* is ready: a body that fails while
//! streaming is not seen.
//!
//! ## Overhead
//!
//! A request that is not audited costs a method comparison and, for `GET`/`HEAD` or with a
//! skip list, a look-up of `MatchedPath` and a few string comparisons: no allocation, no lock.
//! Audited requests allocate their handle, scope and event; the normal path spawns no task.
//!
//! Measured on a 2-core machine (BENCHMARKS.md in the repository): a skipped route costs
//! about 0.1 µs more than a layer that does nothing; a buffered audited request about 3.3 µs of
//! CPU on one thread (layer and writer, SHA-256 included, without a store's own work), 5–6 µs
//! in a multi-threaded server with jemalloc and 6–10 µs with glibc's allocator, whose `free`
//! contends when the writer's thread drops memory the request's thread allocated. An
//! application that cares about those microseconds can set jemalloc or mimalloc as its global
//! allocator. Acknowledged delivery costs what the store's append costs, shared by the events
//! of one group commit.

pub mod client_ip;
mod future;
mod handle;
mod layer;
mod request;
mod service;

pub use client_ip::{Cidr, CidrError, ForwardedHeader};
pub use future::ResponseFuture;
pub use handle::{AuditHandle, MissingAuditHandle};
pub use layer::{AuditLayer, Delivery, LayerStats, UnhealthyPolicy};
pub use service::Audit;

/// The longest `context.user_agent` recorded, in bytes (longer values are cut).
pub const MAX_USER_AGENT_LEN: usize = 512;

/// The longest `context.path` recorded, in bytes (longer values are cut).
pub const MAX_PATH_LEN: usize = 1024;

/// The longest request id taken from a trusted edge, and the longest client-sent one kept in
/// `details.client_request_id`, in bytes.
pub const MAX_REQUEST_ID_LEN: usize = 128;

/// The longest resource id taken from a path parameter, in bytes, escapes included; a longer
/// one is cut and marked with a hash of its whole value (see
/// [Resource ids](crate#resource-ids)).
pub const MAX_PATH_PARAM_LEN: usize = 256;

/// The most tasks a layer keeps waiting for room in a full audit queue on behalf of requests
/// that could not wait themselves (their response future was dropped, or an event was added
/// through a handle that outlived its request). Past it, such events are counted in
/// [`LayerStats::unrecorded`] instead: an outage of the store cannot make the layer hold an
/// unbounded number of tasks and events.
pub const MAX_DETACHED_WAITERS: usize = 1024;

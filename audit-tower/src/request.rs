//! What the layer reads from an audited request, and the events it makes of it.

use crate::client_ip::client_ip;
use crate::handle::AuditHandle;
use crate::layer::{Config, Counters};
use crate::{MAX_DETACHED_WAITERS, MAX_PATH_LEN, MAX_PATH_PARAM_LEN, MAX_REQUEST_ID_LEN, MAX_USER_AGENT_LEN};
use audit_core::{Actor, AuditScope, Auditor, Context, EventDraft, Outcome, Resource, TryRecordError};
use axum::extract::connect_info::{ConnectInfo, MockConnectInfo};
use axum::extract::{FromRequestParts, MatchedPath, RawPathParams};
use http::header::USER_AGENT;
use http::request::Parts;
use http::{HeaderName, HeaderValue, StatusCode};
use serde_json::Value;
use std::collections::VecDeque;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Poll, Waker};
use std::time::Instant;

/// The request id header, read and written.
pub(crate) const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The action of a request without a matched route.
pub(crate) const UNMATCHED: &str = "<unmatched>";

/// An audited request in flight: what is known from its head, and its shared handle.
pub(crate) struct Started {
    pub(crate) config: Arc<Config>,
    pub(crate) handle: AuditHandle,
    action: String,
    resource: Resource,
    client_request_id: Option<String>,
    /// The request id, ready for the response header.
    header: Option<HeaderValue>,
    started: Instant,
}

impl Started {
    /// Reads the request head: route, client IP, user agent, request id, resource. (The
    /// actor from [`AuditLayer::on_actor`](crate::AuditLayer::on_actor), user code, is derived
    /// once the request is held by a [`CallGuard`].)
    pub(crate) fn read(config: Arc<Config>, parts: &mut Parts, started: Instant) -> Started {
        let route = parts.extensions.get::<MatchedPath>().map(|m| m.as_str().to_owned());
        let method = parts.method.as_str().to_owned();
        let template = route.as_deref().unwrap_or(UNMATCHED);
        let mut action = String::with_capacity(method.len() + 1 + template.len());
        action.push_str(&method);
        action.push(' ');
        action.push_str(template);
        let resource = match &route {
            Some(template) => {
                let params = raw_path_params(parts);
                resource_from_route(template, |name| {
                    params.as_ref().and_then(|p| p.iter().find(|(key, _)| *key == name).map(|(_, value)| value))
                })
            }
            None => Resource::default(),
        };

        let peer = peer_ip(parts);
        let ip = client_ip(peer, &parts.headers, &config.trusted_proxies, config.forwarded_header);
        let user_agent =
            parts.headers.get(USER_AGENT).map(|v| clean(&String::from_utf8_lossy(v.as_bytes()), MAX_USER_AGENT_LEN));

        // A trusted edge's id: only from a peer that is a trusted proxy, and only when there is
        // exactly one line (a second one may be the client's, which the edge did not replace).
        let mut lines = parts.headers.get_all(X_REQUEST_ID).iter();
        let incoming = lines.next();
        let from_edge = config.trust_request_id
            && lines.next().is_none()
            && peer.is_some_and(|peer| config.trusted_proxies.iter().any(|net| net.contains(peer)));
        let trusted_id = if from_edge { incoming.and_then(valid_request_id) } else { None };
        let (request_id, client_request_id) = match trusted_id {
            Some(id) => (id, None),
            None => (
                uuid::Uuid::now_v7().hyphenated().encode_lower(&mut uuid::Uuid::encode_buffer()).to_owned(),
                incoming
                    .map(|v| clean(&String::from_utf8_lossy(v.as_bytes()), MAX_REQUEST_ID_LEN))
                    .filter(|id| !id.is_empty()),
            ),
        };
        let header = HeaderValue::from_str(&request_id).ok();

        let context = Context {
            ip: ip.map(|ip| ip.to_string()),
            user_agent: user_agent.filter(|ua| !ua.is_empty()),
            request_id: Some(request_id.clone()),
            method: Some(method),
            route,
            path: Some(clean(parts.uri.path(), MAX_PATH_LEN)),
            status: None,
            duration_us: None,
        };
        let scope = AuditScope::new();
        scope.update_context(|c| *c = context);
        let handle = AuditHandle::new(scope, request_id, Arc::clone(&config));
        Started { config, handle, action, resource, client_request_id, header, started }
    }

    /// The request id header value for the response (once: it is moved out).
    pub(crate) fn take_header(&mut self) -> Option<HeaderValue> {
        self.header.take()
    }

    /// The events of the request, in order: those the application added through the handle,
    /// then the request's own. `status` is `None` when there was no response; `forced` is a
    /// reason that makes the outcome `failure` whatever the status (`aborted`, `panic`, …).
    ///
    /// Closes the handle: events the application adds later are recorded on their own.
    pub(crate) fn drafts(self, status: Option<StatusCode>, forced: Option<&'static str>) -> VecDeque<EventDraft> {
        let elapsed = u64::try_from(self.started.elapsed().as_micros()).unwrap_or(u64::MAX);
        let (scope, extra) = self.handle.finish();
        let actor = scope.actor.unwrap_or_else(Actor::anonymous);
        let mut context = scope.context;
        context.status = status.map(|s| s.as_u16());
        context.duration_us = Some(elapsed);

        let mut drafts = VecDeque::with_capacity(extra.events.len() + 1);
        for mut event in extra.events {
            if event.actor_ref().is_none() {
                event = event.actor(actor.clone());
            }
            event.context_mut().fill_from(&context);
            drafts.push_back(event);
        }

        let outcome = match (forced, status) {
            (None, Some(status)) => outcome_for_status(status),
            _ => Outcome::Failure,
        };
        let reason = match forced {
            Some(reason) => Some(reason.to_owned()),
            None if outcome == Outcome::Success => extra.reason,
            None => extra.reason.or_else(|| status.and_then(|s| s.canonical_reason()).map(str::to_owned)),
        };
        let resource = extra.resource.unwrap_or(self.resource);
        let mut draft = EventDraft::new(self.action)
            .actor(actor)
            .resource(resource.kind, resource.id)
            .outcome(outcome)
            .context(context);
        if let Some(reason) = reason {
            draft = draft.reason(reason);
        }
        if let Some(justification) = extra.justification {
            draft = draft.justification(justification);
        }
        for tag in extra.tags {
            draft = draft.tag(tag);
        }
        let details = draft.details_mut();
        details.extend(extra.details);
        if let Some(id) = self.client_request_id {
            details.insert("client_request_id".to_owned(), Value::String(id));
        }
        drafts.push_back(draft);
        drafts
    }

    /// The request's future was dropped before the inner service answered: record it now.
    pub(crate) fn abort(self, reason: &'static str) {
        let config = Arc::clone(&self.config);
        Counters::add(&config.counters.aborted, 1);
        let drafts = self.drafts(None, Some(reason));
        record_detached(&config, drafts);
    }
}

/// Holds an audited request from [`Started::read`] until its response future takes it. If
/// the layer's `call` unwinds before that (the inner service's `call` or the
/// [`on_actor`](crate::AuditLayer::on_actor) function panicked), there is no future whose drop
/// would record the request, so this guard's drop records it: outcome `failure`, reason
/// `panic` (`aborted` if dropped some other way), counted in
/// [`LayerStats::aborted`](crate::LayerStats::aborted).
pub(crate) struct CallGuard(Option<Box<Started>>);

impl CallGuard {
    pub(crate) fn new(started: Started) -> CallGuard {
        CallGuard(Some(Box::new(started)))
    }

    /// The request, for its response future (or a refusal): the guard no longer records it.
    pub(crate) fn into_inner(mut self) -> Option<Box<Started>> {
        self.0.take()
    }
}

impl Drop for CallGuard {
    fn drop(&mut self) {
        if let Some(started) = self.0.take() {
            started.abort(if std::thread::panicking() { "panic" } else { "aborted" });
        }
    }
}

/// `2xx`/`3xx` success, `401`/`403` denied, anything else failure.
pub(crate) fn outcome_for_status(status: StatusCode) -> Outcome {
    match status.as_u16() {
        200..=399 => Outcome::Success,
        401 | 403 => Outcome::Denied,
        _ => Outcome::Failure,
    }
}

/// Queues `drafts` without waiting and without spawning anything, for a refusal (the
/// response does not wait for its event). Each draft is offered with
/// [`Auditor::try_record_detached`]; from the first that meets a full queue on, the rest are
/// counted in [`crate::LayerStats::unrecorded`] (not offered, so the order is kept), as are
/// drafts the auditor refuses.
pub(crate) fn try_record_only(config: &Config, drafts: impl IntoIterator<Item = EventDraft>) {
    let mut drafts = drafts.into_iter();
    while let Some(draft) = drafts.next() {
        match config.auditor.try_record_detached(draft) {
            Ok(_id) => {}
            Err(TryRecordError::Full { .. }) => {
                Counters::add(&config.counters.unrecorded, 1 + drafts.count() as u64);
                return;
            }
            Err(TryRecordError::Record(_)) => Counters::add(&config.counters.unrecorded, 1),
        }
    }
}

/// Queues `drafts` without waiting, for paths that cannot await (a dropped future, an event
/// added through a handle that outlived its request).
///
/// Each draft is offered with [`Auditor::try_record_detached`]; from the first that meets a
/// full queue on, the rest (in order) go to one spawned task that waits for room with
/// [`Auditor::record_buffered`], if fewer than [`MAX_DETACHED_WAITERS`] such tasks of this
/// layer are waiting. Past that bound, without a tokio runtime to spawn on, or when the
/// auditor refuses a draft, the loss is counted in [`crate::LayerStats::unrecorded`].
pub(crate) fn record_detached(config: &Config, drafts: impl IntoIterator<Item = EventDraft>) {
    record_detached_with(&config.auditor, &config.counters, drafts);
}

pub(crate) fn record_detached_with(
    auditor: &Auditor,
    counters: &Arc<Counters>,
    drafts: impl IntoIterator<Item = EventDraft>,
) {
    let mut waiting = Vec::new();
    for draft in drafts {
        if !waiting.is_empty() {
            waiting.push(draft);
            continue;
        }
        match auditor.try_record_detached(draft) {
            // Queued: the writer will write it; no one waits for it here.
            Ok(_id) => {}
            Err(TryRecordError::Full { draft, .. }) => waiting.push(*draft),
            Err(TryRecordError::Record(_)) => Counters::add(&counters.unrecorded, 1),
        }
    }
    if waiting.is_empty() {
        return;
    }
    let (Ok(runtime), Some(waiter)) = (tokio::runtime::Handle::try_current(), Waiter::enter(counters)) else {
        Counters::add(&counters.unrecorded, waiting.len() as u64);
        return;
    };
    let auditor = auditor.clone();
    runtime.spawn(async move {
        for draft in waiting {
            if auditor.record_buffered(draft).await.is_err() {
                Counters::add(&waiter.counters.unrecorded, 1);
            }
        }
        drop(waiter);
    });
}

/// One of the at most [`MAX_DETACHED_WAITERS`] tasks of a layer waiting for room in the
/// queue; leaves its place when dropped (done, or its task dropped unrun).
struct Waiter {
    counters: Arc<Counters>,
}

impl Waiter {
    fn enter(counters: &Arc<Counters>) -> Option<Waiter> {
        counters
            .detached_waiters
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < MAX_DETACHED_WAITERS).then_some(n + 1))
            .ok()?;
        Some(Waiter { counters: Arc::clone(counters) })
    }
}

impl Drop for Waiter {
    fn drop(&mut self) {
        self.counters.detached_waiters.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The socket peer: axum's `ConnectInfo<SocketAddr>`, or `MockConnectInfo<SocketAddr>` in
/// tests. `None` for other transports (Unix sockets) or without connect info.
fn peer_ip(parts: &Parts) -> Option<IpAddr> {
    if let Some(ConnectInfo(addr)) = parts.extensions.get::<ConnectInfo<SocketAddr>>() {
        return Some(addr.ip());
    }
    parts.extensions.get::<MockConnectInfo<SocketAddr>>().map(|MockConnectInfo(addr)| addr.ip())
}

/// The route's path parameters, as axum's router left them. `RawPathParams`'s extractor does
/// not wait on anything, so one poll with a no-op waker gets its answer.
fn raw_path_params(parts: &mut Parts) -> Option<RawPathParams> {
    let future = pin!(RawPathParams::from_request_parts(parts, &()));
    match future.poll(&mut std::task::Context::from_waker(Waker::noop())) {
        Poll::Ready(Ok(params)) => Some(params),
        _ => None,
    }
}

/// The resource named by a route template and its parameters.
///
/// The rule: the **last parameter segment that follows a literal segment** names the
/// resource: the literal is its type, the parameter's value its id. `/users/{id}` is
/// `users`/`<id>`; `/orgs/{org}/members/{user}` is `members`/`<user>`;
/// `/users/{id}/activate` is `users`/`<id>`. Without such a pair, the type is the last literal
/// segment and the id is empty (`POST /users` is `users`/`""`); with no literal segment at
/// all, both are empty. Parameters are `{name}` or `{*name}` whole segments. Values are
/// percent-decoded, stripped of control characters and cut to
/// [`MAX_PATH_PARAM_LEN`](crate::MAX_PATH_PARAM_LEN) bytes.
pub(crate) fn resource_from_route<'a>(template: &str, param: impl Fn(&str) -> Option<&'a str>) -> Resource {
    fn param_name(segment: &str) -> Option<&str> {
        let inner = segment.strip_prefix('{')?.strip_suffix('}')?;
        let name = inner.strip_prefix('*').unwrap_or(inner);
        (!name.is_empty() && !name.contains(['{', '}'])).then_some(name)
    }
    let is_literal = |segment: &str| !segment.contains(['{', '}']);
    // From the last segment back: `later` is the segment after the current one.
    let (mut later, mut last_literal) = (None, None);
    for segment in template.rsplit('/').filter(|s| !s.is_empty()) {
        if is_literal(segment) {
            if let Some(name) = later.and_then(param_name) {
                let id = param(name).map(|v| clean(v, MAX_PATH_PARAM_LEN)).unwrap_or_default();
                return Resource::new(segment, id);
            }
            last_literal = last_literal.or(Some(segment));
        }
        later = Some(segment);
    }
    Resource::new(last_literal.unwrap_or_default(), "")
}

/// A trusted request id: 1 to `MAX_REQUEST_ID_LEN` visible ASCII characters.
fn valid_request_id(value: &HeaderValue) -> Option<String> {
    let bytes = value.as_bytes();
    let ok = !bytes.is_empty() && bytes.len() <= MAX_REQUEST_ID_LEN && bytes.iter().all(|b| (0x21..=0x7e).contains(b));
    ok.then(|| String::from_utf8_lossy(bytes).into_owned())
}

/// `input` without control characters (C0, DEL, C1) or bidirectional-override characters,
/// cut at a character boundary to at most `max` bytes.
pub(crate) fn clean(input: &str, max: usize) -> String {
    let mut out = String::with_capacity(input.len().min(max));
    for c in input.chars() {
        if c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}') {
            continue;
        }
        if out.len() + c.len_utf8() > max {
            break;
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn resource(template: &str, params: &[(&str, &str)]) -> (String, String) {
        let params: HashMap<String, String> = params.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let r = resource_from_route(template, |name| params.get(name).map(String::as_str));
        (r.kind, r.id)
    }

    fn pair(kind: &str, id: &str) -> (String, String) {
        (kind.to_owned(), id.to_owned())
    }

    #[test]
    fn resource_rule() {
        assert_eq!(resource("/users/{id}", &[("id", "42")]), pair("users", "42"));
        assert_eq!(resource("/users", &[]), pair("users", ""));
        assert_eq!(resource("/api/v1/users", &[]), pair("users", ""));
        assert_eq!(resource("/users/{id}/activate", &[("id", "7")]), pair("users", "7"));
        assert_eq!(resource("/orgs/{org}/members/{user}", &[("org", "o"), ("user", "u")]), pair("members", "u"));
        assert_eq!(resource("/orgs/{org}/members", &[("org", "o")]), pair("orgs", "o"));
        assert_eq!(resource("/{tenant}/users", &[("tenant", "t")]), pair("users", ""));
        assert_eq!(resource("/{tenant}/users/{id}", &[("tenant", "t"), ("id", "9")]), pair("users", "9"));
        assert_eq!(resource("/files/{*path}", &[("path", "a/b.txt")]), pair("files", "a/b.txt"));
        assert_eq!(resource("/", &[]), pair("", ""));
        assert_eq!(resource("/{a}", &[("a", "x")]), pair("", ""));
        // A missing value gives an empty id rather than anything from the raw path.
        assert_eq!(resource("/users/{id}", &[]), pair("users", ""));
    }

    #[test]
    fn resource_ids_are_cleaned_and_bounded() {
        let long = "x".repeat(MAX_PATH_PARAM_LEN + 10);
        let (_, id) = resource("/users/{id}", &[("id", &long)]);
        assert_eq!(id.len(), MAX_PATH_PARAM_LEN);
        assert_eq!(resource("/users/{id}", &[("id", "4\n2\u{202e}")]), pair("users", "42"));
    }

    #[test]
    fn outcome_rule() {
        assert_eq!(outcome_for_status(StatusCode::OK), Outcome::Success);
        assert_eq!(outcome_for_status(StatusCode::NO_CONTENT), Outcome::Success);
        assert_eq!(outcome_for_status(StatusCode::SEE_OTHER), Outcome::Success);
        assert_eq!(outcome_for_status(StatusCode::UNAUTHORIZED), Outcome::Denied);
        assert_eq!(outcome_for_status(StatusCode::FORBIDDEN), Outcome::Denied);
        assert_eq!(outcome_for_status(StatusCode::NOT_FOUND), Outcome::Failure);
        assert_eq!(outcome_for_status(StatusCode::UNPROCESSABLE_ENTITY), Outcome::Failure);
        assert_eq!(outcome_for_status(StatusCode::INTERNAL_SERVER_ERROR), Outcome::Failure);
        assert_eq!(outcome_for_status(StatusCode::SWITCHING_PROTOCOLS), Outcome::Failure);
    }

    #[test]
    fn clean_strips_controls_and_bounds_at_char_boundaries() {
        assert_eq!(clean("curl/8.0\r\nX-Injected: 1", 100), "curl/8.0X-Injected: 1");
        assert_eq!(clean("a\u{0}b\u{7f}c\u{85}d", 100), "abcd");
        assert_eq!(clean("abc\u{202e}def", 100), "abcdef");
        assert_eq!(clean("abcdef", 3), "abc");
        // "é" is two bytes: a cut in its middle drops it whole.
        assert_eq!(clean("aé", 2), "a");
        assert_eq!(clean("aé", 3), "aé");
        assert_eq!(clean("", 3), "");
    }

    #[test]
    fn request_ids_from_a_trusted_edge_must_be_visible_ascii() {
        assert_eq!(valid_request_id(&HeaderValue::from_static("edge-123")), Some("edge-123".to_owned()));
        assert_eq!(valid_request_id(&HeaderValue::from_static("")), None);
        assert_eq!(valid_request_id(&HeaderValue::from_static("a b")), None);
        assert_eq!(valid_request_id(&HeaderValue::from_bytes(b"caf\xc3\xa9").expect("obs-text")), None);
        let long = "x".repeat(MAX_REQUEST_ID_LEN + 1);
        assert_eq!(valid_request_id(&HeaderValue::from_str(&long).expect("ascii")), None);
    }
}

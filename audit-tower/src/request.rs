//! What the layer reads from an audited request, and the events it makes of it.

use crate::client_ip::client_ip;
use crate::handle::AuditHandle;
use crate::layer::{Config, Counters};
use crate::{MAX_DETACHED_WAITERS, MAX_PATH_LEN, MAX_PATH_PARAM_LEN, MAX_REQUEST_ID_LEN, MAX_USER_AGENT_LEN};
use audit_core::event::MAX_INDEXED_FIELD_BYTES;
use audit_core::merkle::{leaf_hash, to_hex};
use audit_core::text::is_hidden;
use audit_core::{Actor, ActorKind, AuditScope, Auditor, Context, EventDraft, Outcome, RedactionPolicy, Resource};
use axum::extract::connect_info::{ConnectInfo, MockConnectInfo};
use axum::extract::rejection::RawPathParamsRejection;
use axum::extract::{FromRequestParts, MatchedPath, OriginalUri, RawPathParams};
use http::header::USER_AGENT;
use http::request::Parts;
use http::{HeaderName, HeaderValue, StatusCode};
use serde_json::Value;
use std::borrow::Cow;
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
        let policy = config.auditor.redaction();
        let resource = match &route {
            Some(template) => match raw_path_params(parts) {
                Some(Ok(params)) => resource_from_route(template, policy, |name| {
                    params.iter().find(|(key, _)| *key == name).map(|(_, value)| Cow::Borrowed(value.as_bytes()))
                }),
                // A parameter is not UTF-8 once percent-decoded, and axum then keeps none of
                // them: read the values from the raw path, the whole one the client sent (the
                // template is whole too; a nested router's own path lacks its prefix, and
                // with a catch-all it can fit the template at another place).
                Some(Err(RawPathParamsRejection::InvalidUtf8InPathParam(_))) => {
                    let path = original_path(parts);
                    resource_from_route(template, policy, |name| raw_path_param(template, path, name).map(Cow::Owned))
                }
                _ => resource_from_route(template, policy, |_| None),
            },
            None => Resource::default(),
        };
        let path = original_path(parts);
        let path = match &route {
            Some(template) => hide_secret_params(template, path, policy),
            None => Cow::Borrowed(path),
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
            path: Some(clean(&path, MAX_PATH_LEN)),
            status: None,
            duration_us: None,
        };
        // The inner service (a handler, a logging layer that reads `x-request-id`) sees the
        // id the events carry, not a value the client chose: every line is replaced.
        match &header {
            Some(value) => {
                parts.headers.insert(X_REQUEST_ID, value.clone());
            }
            None => {
                parts.headers.remove(X_REQUEST_ID);
            }
        }
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
        let elapsed = i64::try_from(self.started.elapsed().as_micros()).unwrap_or(i64::MAX);
        // In the scope itself: an event a clone of the handle adds later gets them too.
        self.handle.scope().update_context(|context| {
            context.status = status.map(|s| s.as_u16().into());
            context.duration_us = Some(elapsed);
        });
        let (scope, extra) = self.handle.finish();
        let actor = scope.actor.unwrap_or_else(Actor::anonymous);
        let context = scope.context;

        let mut drafts = VecDeque::with_capacity(extra.events.len() + 1);
        for event in extra.events {
            let mut event = fit_added(event);
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

/// Runs `f` outside the caller's [`AuditScope`], for the calls that hand a request's drafts to
/// the auditor: their actor and context are the request's, set by the layer, and the auditor
/// must not fill what the request lacks (an unknown client IP, no user agent) from the scope
/// of whoever hands them over (another request adding an event through a handle that outlived
/// its own, a request served in-process from within another one's handler). Allocates only
/// when a scope is current. (A spawned task has no scope.)
pub(crate) fn outside_scope<R>(f: impl FnOnce() -> R) -> R {
    if AuditScope::current().is_some() { AuditScope::new().run_sync(f) } else { f() }
}

/// Queues `drafts` without waiting and without spawning anything, for a refusal (the
/// response does not wait for its event). Each draft is offered with
/// [`Auditor::try_record_detached`]; from the first that meets a full queue on, the rest are
/// counted in [`crate::LayerStats::unrecorded`] (not offered, so the order is kept), as are
/// drafts the auditor refuses.
pub(crate) fn try_record_only(config: &Config, drafts: impl IntoIterator<Item = EventDraft>) {
    let not_queued = outside_scope(|| config.auditor.try_record_all_detached(drafts));
    Counters::add(&config.counters.unrecorded, (not_queued.refused + not_queued.rest.len()) as u64);
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
    let not_queued = outside_scope(|| auditor.try_record_all_detached(drafts));
    Counters::add(&counters.unrecorded, not_queued.refused as u64);
    let waiting = not_queued.rest;
    if waiting.is_empty() {
        return;
    }
    let (Ok(runtime), Some(waiter)) = (tokio::runtime::Handle::try_current(), Waiter::enter(counters)) else {
        Counters::add(&counters.unrecorded, waiting.len() as u64);
        return;
    };
    let auditor = auditor.clone();
    let mut pending = Pending { drafts: waiting.into_iter(), offered: 0, waiter };
    runtime.spawn(async move {
        for draft in pending.drafts.by_ref() {
            pending.offered = 1;
            let queued = auditor.record_buffered(draft).await;
            pending.offered = 0;
            if queued.is_err() {
                Counters::add(&pending.waiter.counters.unrecorded, 1);
            }
        }
    });
}

/// The drafts a waiting task has still to queue. Dropped before they are all queued (the
/// runtime shut down, which drops its tasks, run or not), the rest are counted as lost.
struct Pending<I: ExactSizeIterator<Item = EventDraft>> {
    drafts: I,
    /// 1 while a draft is being offered (it goes with the task if that is dropped).
    offered: usize,
    waiter: Waiter,
}

impl<I: ExactSizeIterator<Item = EventDraft>> Drop for Pending<I> {
    fn drop(&mut self) {
        let lost = self.drafts.len() + self.offered;
        if lost > 0 {
            Counters::add(&self.waiter.counters.unrecorded, lost as u64);
        }
    }
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

/// The path the client sent: axum's `OriginalUri` when a router put it there (a router nested
/// under a prefix strips the prefix from the URI before its layers see it), else the URI's.
fn original_path(parts: &Parts) -> &str {
    parts.extensions.get::<OriginalUri>().map_or_else(|| parts.uri.path(), |OriginalUri(uri)| uri.path())
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
/// not wait on anything, so one poll with a no-op waker gets its answer (`None` if it did not).
fn raw_path_params(parts: &mut Parts) -> Option<Result<RawPathParams, RawPathParamsRejection>> {
    let future = pin!(RawPathParams::from_request_parts(parts, &()));
    match future.poll(&mut std::task::Context::from_waker(Waker::noop())) {
        Poll::Ready(result) => Some(result),
        Poll::Pending => None,
    }
}

/// `path` with the segments of the parameters of `template` that `policy` names (e.g.
/// `/password-resets/{token}`) replaced by their hidden values, as in the resource id; the
/// path unchanged if the template has no such parameter, and hidden whole if it does not fit
/// the template.
fn hide_secret_params<'p>(template: &str, path: &'p str, policy: &RedactionPolicy) -> Cow<'p, str> {
    // Any `{name}` of a segment, also one mixed with text (`{token}.json`).
    let secret = |segment: &str| {
        segment.split('{').skip(1).any(|part| {
            let name = part.split('}').next().unwrap_or_default();
            policy.matches(name.strip_prefix('*').unwrap_or(name))
        })
    };
    if !template.split('/').any(secret) {
        return Cow::Borrowed(path);
    }
    let template: Vec<&str> = template.split('/').skip(1).collect();
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    let fits = |template: &[&str]| {
        template.iter().enumerate().all(|(i, segment)| match param_segment(segment) {
            Some((_, true)) => i + 1 == template.len() && i < segments.len(),
            Some((_, false)) => i < segments.len(),
            None if segment.contains(['{', '}']) => i < segments.len(),
            None => segments.get(i) == Some(segment),
        }) && (template.len() == segments.len()
            || template.last().and_then(|last| param_segment(last)).is_some_and(|(_, catch_all)| catch_all))
    };
    let hidden = |raw: &str| hide_id(policy, escape_id(&percent_decode(raw), MAX_PATH_PARAM_LEN));
    let Some(skip) = (0..template.len()).find(|&skip| fits(&template[skip..])) else {
        return Cow::Owned(hide_id(policy, escape_id(path.as_bytes(), MAX_PATH_LEN)));
    };
    let mut out = String::with_capacity(path.len());
    for (i, segment) in template[skip..].iter().enumerate() {
        out.push('/');
        match param_segment(segment) {
            Some((name, true)) if policy.matches(name) => {
                out.push_str(&hidden(&segments[i..].join("/")));
                return Cow::Owned(out);
            }
            Some((_, true)) => {
                out.push_str(&segments[i..].join("/"));
                return Cow::Owned(out);
            }
            Some((name, false)) if policy.matches(name) => out.push_str(&hidden(segments[i])),
            None if secret(segment) => out.push_str(&hidden(segments[i])),
            _ => out.push_str(segments[i]),
        }
    }
    Cow::Owned(out)
}

/// What a resource id (or a path parameter's value) that `policy` names becomes.
fn hide_id(policy: &RedactionPolicy, id: String) -> String {
    match policy.hide(&Value::String(id)) {
        Value::String(hidden) => hidden,
        other => other.to_string(),
    }
}

/// The percent-decoded bytes of the parameter `name` of `template`, read from the raw `path`
/// the template matched (as axum's router does, without requiring UTF-8). Literal segments
/// must match; a `{*name}` catch-all takes the rest of the path. A router nested under a
/// prefix sees the path without it while the template keeps it, so the template's suffixes
/// are tried too, longest first. `None` if the path does not fit the template.
fn raw_path_param(template: &str, path: &str, name: &str) -> Option<Vec<u8>> {
    let template: Vec<&str> = template.split('/').skip(1).collect();
    let path: Vec<&str> = path.split('/').skip(1).collect();
    (0..template.len()).find_map(|skip| match_segments(&template[skip..], &path, name)).flatten()
}

/// Matches `template` against `path` segment by segment: `None` if they do not fit, else
/// the value of the parameter `name` (`Some(None)` if the template has no such parameter).
fn match_segments(template: &[&str], path: &[&str], name: &str) -> Option<Option<Vec<u8>>> {
    let mut value = None;
    for (i, segment) in template.iter().enumerate() {
        match param_segment(segment) {
            Some((param, true)) => {
                // A catch-all is the last segment of its template and takes the rest.
                if i + 1 != template.len() || i >= path.len() {
                    return None;
                }
                if param == name {
                    value = Some(percent_decode(&path[i..].join("/")));
                }
                return Some(value);
            }
            Some((param, false)) => {
                let part = path.get(i)?;
                if param == name {
                    value = Some(percent_decode(part));
                }
            }
            // A segment mixing text and a parameter is not checked.
            None if segment.contains(['{', '}']) => {
                path.get(i)?;
            }
            None => {
                if path.get(i) != Some(segment) {
                    return None;
                }
            }
        }
    }
    (template.len() == path.len()).then_some(value)
}

/// A whole-segment parameter of a route template: `{name}` gives `(name, false)`, the
/// catch-all `{*name}` gives `(name, true)`.
fn param_segment(segment: &str) -> Option<(&str, bool)> {
    let inner = segment.strip_prefix('{')?.strip_suffix('}')?;
    let (name, catch_all) = match inner.strip_prefix('*') {
        Some(name) => (name, true),
        None => (inner, false),
    };
    (!name.is_empty() && !name.contains(['{', '}'])).then_some((name, catch_all))
}

/// `%XX` (two hex digits) as the byte it names; anything else as it is.
fn percent_decode(input: &str) -> Vec<u8> {
    percent_decoded(input).collect()
}

/// The bytes of `input` percent-decoded (`%` not followed by two hex digits is kept as it is),
/// without allocating.
pub(crate) fn percent_decoded(input: &str) -> impl Iterator<Item = u8> + '_ {
    fn hex(digit: u8) -> Option<u8> {
        char::from(digit).to_digit(16).and_then(|d| u8::try_from(d).ok())
    }
    let bytes = input.as_bytes();
    let mut i = 0;
    std::iter::from_fn(move || {
        let &byte = bytes.get(i)?;
        if byte == b'%'
            && let (Some(high), Some(low)) =
                (bytes.get(i + 1).copied().and_then(hex), bytes.get(i + 2).copied().and_then(hex))
        {
            i += 3;
            Some(high << 4 | low)
        } else {
            i += 1;
            Some(byte)
        }
    })
}

/// The resource named by a route template and its parameters.
///
/// The rule: the **last parameter segment that follows a literal segment** names the
/// resource: the literal is its type, the parameter's value its id. `/users/{id}` is
/// `users`/`<id>`; `/orgs/{org}/members/{user}` is `members`/`<user>`;
/// `/users/{id}/activate` is `users`/`<id>`. Without such a pair, the type is the last literal
/// segment and the id is empty (`POST /users` is `users`/`""`); with no literal segment at
/// all, both are empty. Parameters are `{name}` or `{*name}` whole segments. Values are the
/// percent-decoded bytes, written with [`escape_id`] (escaped, never stripped; cut and marked
/// past [`MAX_PATH_PARAM_LEN`](crate::MAX_PATH_PARAM_LEN) bytes); the value of a parameter
/// `policy` names (`{token}`) is hidden as the policy hides values.
pub(crate) fn resource_from_route<'a>(
    template: &str,
    policy: &RedactionPolicy,
    param: impl Fn(&str) -> Option<Cow<'a, [u8]>>,
) -> Resource {
    let is_literal = |segment: &str| !segment.contains(['{', '}']);
    // From the last segment back: `later` is the segment after the current one.
    let (mut later, mut last_literal) = (None, None);
    for segment in template.rsplit('/').filter(|s| !s.is_empty()) {
        if is_literal(segment) {
            if let Some((name, _)) = later.and_then(param_segment) {
                let id = param(name).map(|v| escape_id(&v, MAX_PATH_PARAM_LEN)).unwrap_or_default();
                let id = if policy.matches(name) && !id.is_empty() { hide_id(policy, id) } else { id };
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

/// `input` without [hidden](is_hidden) characters, cut at a character boundary to at most
/// `max` bytes: for context that describes a request (user agent, raw path, a client's request
/// id), not for values that identify a record (see [`escape_id`]).
pub(crate) fn clean(input: &str, max: usize) -> String {
    let mut out = String::with_capacity(input.len().min(max));
    for c in input.chars() {
        if is_hidden(c) {
            continue;
        }
        if out.len() + c.len_utf8() > max {
            break;
        }
        out.push(c);
    }
    out
}

/// The character that marks a resource id cut by [`escape_id`]; escaped where a value has it.
const CUT_MARK: char = '\u{2026}';

/// How many bytes of the value's hash follow the [`CUT_MARK`] (as twice as many hex digits).
const CUT_HASH_BYTES: usize = 16;

/// A resource id for `value` (a path parameter's percent-decoded bytes), one-to-one with it
/// and at most `max` bytes:
///
/// - a backslash is written `\\`;
/// - a [hidden](is_hidden) character, and the cut mark `…` (U+2026), is written `\u{X}` with
///   `X` its code point in lowercase hex without leading zeros (a line feed is `\u{a}`);
/// - a byte that is not part of valid UTF-8 is written `\xHH` (two lowercase hex digits);
/// - every other character is itself.
///
/// If that is longer than `max` bytes, it is cut after the last whole character or escape
/// that leaves room, and `…` is appended, then the first 16 bytes (32 lowercase hex digits)
/// of SHA-256 over a `0x00` byte followed by the whole value (the RFC 6962 leaf hash, as
/// `audit_core::merkle::leaf_hash` computes it), so two long values that share a prefix
/// stay apart. Only a cut id contains a bare `…`.
/// `value` as it is if at most `max` bytes, else cut after a whole character and marked as
/// [`escape_id`] marks a cut id (`…` and 32 hex digits of the whole value's leaf hash).
pub(crate) fn cut_marked(value: String, max: usize) -> String {
    if value.len() <= max {
        return value;
    }
    let room = max.saturating_sub(CUT_MARK.len_utf8() + 2 * CUT_HASH_BYTES);
    let mut end = room.min(value.len());
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    let mut out = String::with_capacity(max);
    out.push_str(&value[..end]);
    out.push(CUT_MARK);
    out.push_str(&to_hex(&leaf_hash(value.as_bytes())[..CUT_HASH_BYTES]));
    out
}

/// `actor` as an event can hold it, so that the events naming it are still recorded when it
/// comes from the request (a header, a form): an empty id names no one and is `anonymous`; an
/// id, `auth` or `session` over [`MAX_INDEXED_FIELD_BYTES`] is cut and marked with a hash of
/// its whole value, as a long path parameter is. The auditor refuses an event with an empty or
/// longer actor id, and the request's own event would be lost with it.
pub(crate) fn fit_actor(mut actor: Actor) -> Actor {
    if actor.id.is_empty() {
        actor.id = Actor::anonymous().id;
        actor.kind = ActorKind::Anonymous;
    }
    actor.id = cut_marked(actor.id, MAX_INDEXED_FIELD_BYTES);
    actor.auth = actor.auth.map(|auth| cut_marked(auth, MAX_INDEXED_FIELD_BYTES));
    actor.session = actor.session.map(|session| cut_marked(session, MAX_INDEXED_FIELD_BYTES));
    actor
}

/// An event the application added through the handle, fitted as [`AuditHandle::set_resource`]
/// and [`fit_actor`] fit the request's own: its actor, and a resource type or id over
/// [`MAX_INDEXED_FIELD_BYTES`] cut and marked (say, the user name of a `login_failed` event,
/// taken from the request).
pub(crate) fn fit_added(mut event: EventDraft) -> EventDraft {
    if let Some(actor) = event.actor_ref().filter(|actor| !fits(actor)).cloned() {
        event = event.actor(fit_actor(actor));
    }
    let resource = event.resource_ref();
    if resource.kind.len() > MAX_INDEXED_FIELD_BYTES || resource.id.len() > MAX_INDEXED_FIELD_BYTES {
        let (kind, id) = (resource.kind.clone(), resource.id.clone());
        event = event.resource(cut_marked(kind, MAX_INDEXED_FIELD_BYTES), cut_marked(id, MAX_INDEXED_FIELD_BYTES));
    }
    event
}

/// Whether [`fit_actor`] leaves `actor` as it is.
fn fits(actor: &Actor) -> bool {
    let short = |value: &str| value.len() <= MAX_INDEXED_FIELD_BYTES;
    !actor.id.is_empty()
        && short(&actor.id)
        && actor.auth.as_deref().is_none_or(short)
        && actor.session.as_deref().is_none_or(short)
}

pub(crate) fn escape_id(value: &[u8], max: usize) -> String {
    use std::fmt::Write as _;
    let room = max.saturating_sub(CUT_MARK.len_utf8() + 2 * CUT_HASH_BYTES);
    let mut out = String::with_capacity(value.len().min(max));
    // The length of `out` after the last whole character or escape that fits in `room`.
    let mut kept = 0;
    for chunk in value.utf8_chunks() {
        let chars = chunk.valid().chars().map(Ok);
        let bytes = chunk.invalid().iter().map(|&byte| Err(byte));
        for unit in chars.chain(bytes) {
            // (Writing to a `String` cannot fail.)
            match unit {
                Ok('\\') => out.push_str("\\\\"),
                Ok(c) if c == CUT_MARK || is_hidden(c) => {
                    let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
                }
                Ok(c) => out.push(c),
                Err(byte) => {
                    let _ = write!(out, "\\x{byte:02x}");
                }
            }
            if out.len() <= room {
                kept = out.len();
            } else if out.len() > max {
                out.truncate(kept);
                out.push(CUT_MARK);
                out.push_str(&to_hex(&leaf_hash(value)[..CUT_HASH_BYTES]));
                return out;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn resource(template: &str, params: &[(&str, &str)]) -> (String, String) {
        let params: HashMap<String, String> = params.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let policy = RedactionPolicy::none();
        let r = resource_from_route(template, &policy, |name| params.get(name).map(|v| Cow::Borrowed(v.as_bytes())));
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
    fn resource_ids_are_escaped_one_to_one() {
        let id = |value: &[u8]| escape_id(value, MAX_PATH_PARAM_LEN);
        assert_eq!(id(b"42"), "42");
        assert_eq!(id(b""), "");
        assert_eq!(id("caf\u{e9}/\u{1f600}".as_bytes()), "caf\u{e9}/\u{1f600}");
        assert_eq!(id(b"4\n2"), r"4\u{a}2");
        assert_eq!(id(b"\x00\x7f\t"), r"\u{0}\u{7f}\u{9}");
        assert_eq!(id("a\u{85}b".as_bytes()), r"a\u{85}b");
        for bidi in [
            '\u{200e}',
            '\u{200f}',
            '\u{061c}',
            '\u{202a}',
            '\u{202e}',
            '\u{2066}',
            '\u{2069}',
            '\u{2028}',
            '\u{2029}',
            // Invisible: `al\u{ad}ice` displayed as `alice` and was not found by that id.
            '\u{ad}',
            '\u{200b}',
            '\u{e0041}',
            '\u{fe0f}',
            '\u{3164}',
        ] {
            assert_eq!(id(format!("a{bidi}b").as_bytes()), format!(r"a\u{{{:x}}}b", u32::from(bidi)));
        }
        // A backslash is escaped, so an escape cannot be forged by sending its text.
        assert_eq!(id(br"\"), r"\\");
        assert_eq!(id(br"\u{a}"), r"\\u{a}");
        assert_eq!(id(b"\xff"), r"\xff");
        assert_eq!(id(br"\xff"), r"\\xff");
        assert_eq!(id(b"a\xc3"), r"a\xc3", "a cut UTF-8 sequence is bytes");
        // The cut mark is escaped, so only a cut id has a bare one.
        assert_eq!(id("a\u{2026}".as_bytes()), r"a\u{2026}");
        assert_eq!(resource("/users/{id}", &[("id", "4\n2\u{202e}")]), pair("users", r"4\u{a}2\u{202e}"));
    }

    #[test]
    fn long_resource_ids_are_cut_marked_and_hashed() {
        let max = MAX_PATH_PARAM_LEN;
        let fits = "x".repeat(max);
        assert_eq!(escape_id(fits.as_bytes(), max), fits, "exactly max bytes: not cut");

        let (a, b) = (format!("{fits}a"), format!("{fits}b"));
        let (cut_a, cut_b) = (escape_id(a.as_bytes(), max), escape_id(b.as_bytes(), max));
        assert_ne!(cut_a, cut_b, "long ids that share a prefix stay apart");
        let hash = to_hex(&leaf_hash(a.as_bytes())[..16]);
        assert_eq!(cut_a, format!("{}\u{2026}{hash}", "x".repeat(max - 3 - 32)));
        assert_eq!(cut_a.len(), max);

        // Cut after whole characters and escapes only.
        let wide = escape_id("\u{e9}".repeat(max).as_bytes(), max);
        let (kept, hash) = wide.split_once('\u{2026}').expect("marked");
        assert_eq!((kept, hash.len()), ("\u{e9}".repeat((max - 35) / 2).as_str(), 32));
        let newlines = escape_id("\n".repeat(max).as_bytes(), max);
        let (kept, _) = newlines.split_once('\u{2026}').expect("marked");
        assert_eq!(kept, r"\u{a}".repeat((max - 35) / 5));
    }

    #[test]
    fn parameters_are_read_from_the_raw_path_when_one_is_not_utf8() {
        let t = "/orgs/{org}/members/{user}";
        assert_eq!(raw_path_param(t, "/orgs/%FF/members/b%6Fb", "user"), Some(b"bob".to_vec()));
        assert_eq!(raw_path_param(t, "/orgs/%FF/members/b%6Fb", "org"), Some(vec![0xff]));
        assert_eq!(raw_path_param(t, "/orgs/%FF/teams/bob", "user"), None, "a literal differs");
        assert_eq!(raw_path_param(t, "/orgs/%FF/members", "user"), None, "too short");
        assert_eq!(raw_path_param(t, "/orgs/o/members/bob/x", "user"), None, "too long");
        // A catch-all takes the rest; malformed escapes are kept as they are.
        assert_eq!(raw_path_param("/files/{*path}", "/files/a/%FF/%zz%4", "path"), Some(b"a/\xff/%zz%4".to_vec()));
        // A nested router's path lacks the prefix its template has.
        assert_eq!(raw_path_param("/api/users/{id}", "/users/%FF", "id"), Some(vec![0xff]));
        let from_raw = |name: &str| raw_path_param("/users/{id}", "/users/%FF%0A", name).map(Cow::Owned);
        assert_eq!(
            resource_from_route("/users/{id}", &RedactionPolicy::none(), from_raw),
            Resource::new("users", r"\xff\u{a}")
        );
    }

    #[test]
    fn parameters_the_policy_names_are_hidden_in_the_resource_and_the_path() {
        let policy = RedactionPolicy::default();
        let id = |template: &str, params: &[(&str, &str)]| {
            let params: HashMap<&str, &str> = params.iter().copied().collect();
            resource_from_route(template, &policy, |name| params.get(name).map(|v| Cow::Borrowed(v.as_bytes()))).id
        };
        assert_eq!(id("/password-resets/{token}", &[("token", "prt_1")]), "[REDACTED]");
        assert_eq!(id("/users/{id}/api-keys/{API_KEY}", &[("id", "7"), ("API_KEY", "k")]), "[REDACTED]");
        assert_eq!(id("/users/{id}", &[("id", "7")]), "7");
        let path = |template: &str, path: &str| hide_secret_params(template, path, &policy).into_owned();
        assert_eq!(path("/password-resets/{token}", "/password-resets/prt_1"), "/password-resets/[REDACTED]");
        assert_eq!(path("/t/{token}/x/{id}", "/t/s%20e/x/9"), "/t/[REDACTED]/x/9");
        assert_eq!(path("/files/{*token}", "/files/a/b"), "/files/[REDACTED]");
        assert_eq!(path("/links/{token}.json", "/links/prt_1.json"), "/links/[REDACTED]");
        assert_eq!(path("/users/{id}", "/users/prt_1"), "/users/prt_1", "no secret parameter");
        // A nested router's path lacks the template's prefix.
        assert_eq!(path("/api/resets/{token}", "/resets/prt_1"), "/resets/[REDACTED]");
        // A path that does not fit its template is hidden whole.
        assert_eq!(path("/resets/{token}", "/other/prt_1/x"), "[REDACTED]");
        // Tokens: the same in the id and the path.
        let tokens = RedactionPolicy::default().tokenize(b"k".to_vec());
        let id = resource_from_route("/resets/{token}", &tokens, |_| Some(Cow::Borrowed(b"prt_1".as_slice()))).id;
        assert!(id.starts_with("hmac-sha256:"), "{id}");
        assert_eq!(hide_secret_params("/resets/{token}", "/resets/prt_1", &tokens), format!("/resets/{id}"));
    }

    #[test]
    fn long_values_are_cut_at_a_character_and_marked() {
        assert_eq!(cut_marked("short".into(), 10), "short");
        let long = "é".repeat(600); // 1200 bytes
        let cut = cut_marked(long.clone(), 1024);
        assert!(cut.len() <= 1024, "{}", cut.len());
        let (kept, mark) = cut.split_once(CUT_MARK).expect("marked");
        assert!(long.starts_with(kept));
        assert_eq!(mark, to_hex(&leaf_hash(long.as_bytes())[..CUT_HASH_BYTES]));
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
        assert_eq!(clean("a\u{200e}b\u{200f}c\u{61c}d\u{2066}e", 100), "abcde");
        // Line and paragraph separators (a forged line break in a viewer), zero-width ones.
        assert_eq!(clean("curl/8\u{2028}admin logged in\u{2029}", 100), "curl/8admin logged in");
        assert_eq!(clean("a\u{200b}b\u{2060}c\u{feff}d", 100), "abcd");
        // The soft hyphen, tag characters (hidden text), a variation selector.
        assert_eq!(clean("al\u{ad}ice curl\u{e0041}\u{e0042}/8\u{fe0f}", 100), "alice curl/8");
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

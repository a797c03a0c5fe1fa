//! [`AuditLayer`]: what to audit and how, applied to a service as [`Audit`].

use crate::client_ip::{Cidr, ForwardedHeader};
use crate::service::Audit;
use audit_core::{Actor, Auditor};
use http::Method;
use http::request::Parts;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;
use tower_layer::Layer;

/// When the response is released, relative to the event's durability.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Delivery {
    /// The response is released once every event of the request is durable in the store
    /// ([`Auditor::record`]). The default.
    #[default]
    Acknowledged,
    /// The response is released once every event of the request is queued in the writer
    /// ([`Auditor::record_buffered`]). Faster; events still queued are lost if the process
    /// crashes (a clean [`Auditor::shutdown`] loses nothing).
    Buffered,
}

/// What to do with audited requests while the audit store is failing
/// ([`Auditor::is_healthy`] is false).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum UnhealthyPolicy {
    /// Serve the request. Its events wait in the writer's queue (the writer retries until the
    /// store takes them; nothing is dropped), and the response is released once they are
    /// *queued*, even under [`Delivery::Acknowledged`]: waiting for durability would hold
    /// every response for as long as the outage lasts. When the queue is full, responses
    /// wait for room. The default.
    ///
    /// Responses already waiting for durability when the store starts failing are released
    /// too, as soon as the auditor finds it failing
    /// ([`Auditor::until_unhealthy`](audit_core::Auditor::until_unhealthy)). The auditor learns of an outage only when a store call
    /// *fails*: a call that hangs (a database that stopped answering, a TCP connection that
    /// waits for its timeout) leaves it healthy, and acknowledged responses waiting meanwhile.
    /// Give the store's database connection a statement timeout (PostgreSQL
    /// `statement_timeout`) and its pool connect and acquire timeouts, so that a hang becomes
    /// a failure, or bound the wait with [`AuditLayer::with_ack_timeout`].
    #[default]
    FailOpen,
    /// Refuse audited requests (mutations and sensitive reads) with `503 Service Unavailable`
    /// before the inner service runs, while the store is failing and once the auditor is shut
    /// down ([`Auditor::is_closed`](audit_core::Auditor::is_closed)). The refusal itself is
    /// queued as a `failure` event with reason `audit store unavailable` (without waiting: if
    /// the queue is full, or the auditor is shut down, it is counted in
    /// [`LayerStats::unrecorded`]).
    FailClosed,
}

/// Counters of an [`AuditLayer`] (shared by every clone of it and every service it made).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LayerStats {
    /// Requests the layer audited (refusals included).
    pub audited: u64,
    /// Audited requests whose response future was dropped before the inner service answered
    /// (client gone, timeout, panic), or whose `call` panicked before there was a response
    /// future (in the inner service's `call` or the [`AuditLayer::on_actor`] function); each
    /// was recorded with reason `aborted` or `panic`.
    pub aborted: u64,
    /// Requests refused with 503 under [`UnhealthyPolicy::FailClosed`].
    pub refused: u64,
    /// Events that could not be handed to the writer at all, or that it did not write: the
    /// auditor was shut down, the draft was invalid (e.g. values nested too deep, or larger than
    /// the auditor's limit), the store refused it while an acknowledged response waited, a
    /// refusal's event met a full queue ([`UnhealthyPolicy::FailClosed`] never waits), or a
    /// dropped request's event met a full queue while [`MAX_DETACHED_WAITERS`] tasks were
    /// already waiting for room (or with no tokio runtime left to wait on). When a response
    /// was still pending, it was replaced by a `500` instead.
    ///
    /// [`MAX_DETACHED_WAITERS`]: crate::MAX_DETACHED_WAITERS
    pub unrecorded: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) audited: AtomicU64,
    pub(crate) aborted: AtomicU64,
    pub(crate) refused: AtomicU64,
    pub(crate) unrecorded: AtomicU64,
    /// Tasks waiting for room in the queue for events whose request could not wait
    /// (at most [`crate::MAX_DETACHED_WAITERS`]).
    pub(crate) detached_waiters: AtomicUsize,
}

impl Counters {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

/// Derives the actor from the request before the inner service runs.
pub(crate) type ActorFn = dyn Fn(&Parts) -> Option<Actor> + Send + Sync;

/// Everything the service needs, shared by all requests.
#[derive(Clone)]
pub(crate) struct Config {
    pub(crate) auditor: Auditor,
    pub(crate) methods: Vec<Method>,
    pub(crate) sensitive_routes: Vec<Box<str>>,
    pub(crate) skipped_routes: Vec<Box<str>>,
    pub(crate) trusted_proxies: Vec<Cidr>,
    pub(crate) forwarded_header: ForwardedHeader,
    pub(crate) trust_request_id: bool,
    pub(crate) delivery: Delivery,
    pub(crate) unhealthy: UnhealthyPolicy,
    pub(crate) ack_timeout: Option<Duration>,
    pub(crate) actor_fn: Option<Arc<ActorFn>>,
    pub(crate) counters: Arc<Counters>,
}

impl Config {
    /// Whether a request is audited: never if its route is skipped; yes if its method is
    /// audited (`HEAD` is whenever `GET` is: axum runs the `GET` handler for it); for
    /// `GET`/`HEAD`, yes if its route is sensitive. `route` is the matched template
    /// (`matched`) or, without one, the whole path the client sent: compared exactly with
    /// skipped routes; with sensitive ones by its end, a template by [`is_or_ends_in`], a path
    /// segment by segment by [`path_ends_in_template`].
    pub(crate) fn audits(&self, method: &Method, route: &str, matched: bool) -> bool {
        if self.skipped_routes.iter().any(|r| **r == *route) {
            return false;
        }
        if self.methods.iter().any(|m| m == method || (*m == Method::GET && method == Method::HEAD)) {
            return true;
        }
        (method == Method::GET || method == Method::HEAD)
            && self.sensitive_routes.iter().any(|r| match matched {
                true => is_or_ends_in(route, r),
                false => path_ends_in_template(route, r),
            })
    }

    /// Whether audited requests are refused right now: under [`UnhealthyPolicy::FailClosed`],
    /// while the store is failing and once the auditor is shut down (its store may be
    /// healthy, but no event of the request could be recorded).
    pub(crate) fn refuses_now(&self) -> bool {
        self.unhealthy == UnhealthyPolicy::FailClosed && (!self.auditor.is_healthy() || self.auditor.is_closed())
    }

    /// Whether the response must wait for durability right now.
    pub(crate) fn acknowledged_now(&self) -> bool {
        match self.delivery {
            Delivery::Buffered => false,
            Delivery::Acknowledged => self.unhealthy == UnhealthyPolicy::FailClosed || self.auditor.is_healthy(),
        }
    }
}

/// Whether `route` is `template`, or ends in it after a nesting router's prefix: `template`
/// starts with `/` and `route` is some prefix followed by it (`/api/v1/patients/{id}` ends in
/// `/patients/{id}`, not `/xpatients/{id}`).
fn is_or_ends_in(route: &str, template: &str) -> bool {
    route == template || (template.starts_with('/') && route.ends_with(template))
}

/// Whether the raw `path` of a request without a matched route is what `template` matches, or
/// ends in it after a prefix, segment by segment: a `{param}` segment of the template matches
/// any segment, a last `{*rest}` any number of them; a literal one the segment percent-decoded
/// (`%2D` is `-`). Empty and `.` segments of the path are passed over, as file servers resolve
/// them (`/records//./a` reads `/records/a`). A path with a `..` segment, an encoded `/` or
/// `\` cannot be resolved without decoding it whole: it matches every template (audited more,
/// never less). Allocates nothing.
fn path_ends_in_template(path: &str, template: &str) -> bool {
    let kept = |segment: &&str| !segment.is_empty() && !decodes_to(segment, b".");
    if path.split('/').any(|segment| decodes_to(segment, b"..")) || has_encoded_separator(path) {
        return true;
    }
    let segments = || path.rsplit('/').filter(kept);
    let last = template.rsplit('/').find(|segment| !segment.is_empty());
    let wildcard = last.is_some_and(|segment| segment.starts_with("{*") && segment.ends_with('}'));
    let fixed = || template.rsplit('/').filter(|segment| !segment.is_empty()).skip(usize::from(wildcard));
    if last.is_none() {
        // `/`: the root only.
        return segments().next().is_none();
    }
    // Without a wildcard the template's last segment is the path's; with one, any number of
    // the path's last segments are its.
    let tails = if wildcard { segments().count() } else { 0 };
    (0..=tails).any(|skip| {
        let mut rest = segments().skip(skip);
        fixed().all(|part| rest.next().is_some_and(|segment| segment_matches(part, segment)))
    })
}

/// Whether one template segment matches one (raw) path segment.
fn segment_matches(part: &str, segment: &str) -> bool {
    (part.starts_with('{') && part.ends_with('}') && !part.starts_with("{{")) || decodes_to(segment, part.as_bytes())
}

/// Whether the raw segment `segment` percent-decodes to `expected`.
fn decodes_to(segment: &str, expected: &[u8]) -> bool {
    crate::request::percent_decoded(segment).eq(expected.iter().copied())
}

/// Whether `path` holds a percent-encoded `/` or `\`.
fn has_encoded_separator(path: &str) -> bool {
    path.as_bytes().windows(3).any(|w| {
        w[0] == b'%'
            && (w[1] == b'2' && w[2].eq_ignore_ascii_case(&b'f') || w[1] == b'5' && w[2].eq_ignore_ascii_case(&b'c'))
    })
}

/// Records audited HTTP requests as audit events: a [`tower_layer::Layer`] for
/// `axum::Router::layer` or any tower `Service<http::Request<B>>`.
///
/// See the [crate documentation](crate) for what is recorded and when. Built with
/// [`AuditLayer::new`] and the `with_*` / `on_*` setters; cheap to clone.
#[derive(Clone)]
pub struct AuditLayer {
    pub(crate) config: Arc<Config>,
}

impl fmt::Debug for AuditLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.config;
        f.debug_struct("AuditLayer")
            .field("auditor", &c.auditor)
            .field("methods", &c.methods)
            .field("sensitive_routes", &c.sensitive_routes)
            .field("skipped_routes", &c.skipped_routes)
            .field("trusted_proxies", &c.trusted_proxies)
            .field("forwarded_header", &c.forwarded_header)
            .field("trust_request_id", &c.trust_request_id)
            .field("delivery", &c.delivery)
            .field("unhealthy", &c.unhealthy)
            .field("ack_timeout", &c.ack_timeout)
            .field("actor_fn", &c.actor_fn.is_some())
            .finish()
    }
}

impl AuditLayer {
    /// A layer that records, through `auditor`, every `POST`, `PUT`, `PATCH` and `DELETE`,
    /// with acknowledged delivery, failing open, trusting no proxy and no client request id.
    pub fn new(auditor: Auditor) -> AuditLayer {
        AuditLayer {
            config: Arc::new(Config {
                auditor,
                methods: vec![Method::POST, Method::PUT, Method::PATCH, Method::DELETE],
                sensitive_routes: Vec::new(),
                skipped_routes: Vec::new(),
                trusted_proxies: Vec::new(),
                forwarded_header: ForwardedHeader::default(),
                trust_request_id: false,
                delivery: Delivery::default(),
                unhealthy: UnhealthyPolicy::default(),
                ack_timeout: None,
                actor_fn: None,
                counters: Arc::default(),
            }),
        }
    }

    fn config_mut(&mut self) -> &mut Config {
        Arc::make_mut(&mut self.config)
    }

    /// The methods audited on every route (replacing the default `POST`, `PUT`, `PATCH`,
    /// `DELETE`). Add `GET` to audit every read (`HEAD` too, which axum answers with the `GET`
    /// handler).
    pub fn with_methods(mut self, methods: impl IntoIterator<Item = Method>) -> Self {
        self.config_mut().methods = methods.into_iter().collect();
        self
    }

    /// Route templates whose reads (`GET`, `HEAD`) are audited too: records whose viewing
    /// must be accounted for (HIPAA, GDPR), e.g. `"/patients/{id}"`. A template matches axum's
    /// `MatchedPath` when it is equal to it or is its end after a prefix: `MatchedPath` holds
    /// the whole template, a nesting router's prefix included (`/api/patients/{id}` for a
    /// router nested at `/api`), and the template as the nested router names it must not stop
    /// matching when someone nests it. (So `"/patients/{id}"` also matches the same route
    /// nested anywhere else: a read audited more, never one less.) For a request without a
    /// `MatchedPath` (a service outside a `Router`, a `nest_service` such as `ServeDir`, a
    /// router's fallback), the whole path the client sent, without its query, is matched the
    /// same way segment by segment: a `{param}` segment matches any one, a last `{*rest}` any
    /// number, a literal one the segment percent-decoded; empty and `.` segments are passed
    /// over, and a path with a `..` segment or an encoded `/` or `\` is taken for sensitive
    /// (as a file server resolves them, they might name a sensitive file).
    pub fn with_sensitive_routes<I>(mut self, routes: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.config_mut().sensitive_routes.extend(routes.into_iter().map(|r| r.into().into_boxed_str()));
        self
    }

    /// Route templates never audited, whatever the method (health checks, metrics), e.g.
    /// `"/health"`. Compared exactly with axum's `MatchedPath` (the whole template, a nesting
    /// router's prefix included) or, without one, with the whole path the client sent: a
    /// skipped `/metrics` does not hide `/api/metrics`.
    pub fn with_skipped_routes<I>(mut self, routes: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.config_mut().skipped_routes.extend(routes.into_iter().map(|r| r.into().into_boxed_str()));
        self
    }

    /// Networks of the reverse proxies in front of the application. Forwarded headers are read
    /// only when the socket peer is in one of them (see [`crate::client_ip::client_ip`]).
    ///
    /// Name only proxies: a host in these networks is believed about the hop before it, and
    /// when every hop is trusted the leftmost entry is taken as the client, so a client inside
    /// a trusted network could claim any address.
    pub fn with_trusted_proxies(mut self, proxies: impl IntoIterator<Item = Cidr>) -> Self {
        self.config_mut().trusted_proxies.extend(proxies);
        self
    }

    /// Which forwarded header the trusted proxies write (default `X-Forwarded-For`).
    pub fn with_forwarded_header(mut self, header: ForwardedHeader) -> Self {
        self.config_mut().forwarded_header = header;
        self
    }

    /// Whether an incoming `x-request-id` comes from a trusted edge (a gateway that always
    /// sets or overwrites it). Default `false`: the layer generates a UUIDv7 for every
    /// audited request and keeps a client-sent value apart, as
    /// `details.client_request_id`.
    ///
    /// With `true`, the incoming value is used as the request id only when
    ///
    /// - the socket peer is one of [`with_trusted_proxies`](Self::with_trusted_proxies) (the
    ///   edge is the proxy that connects to the application; without trusted proxies, no peer
    ///   is, and every request id is generated as with `false`),
    /// - the request has exactly one `x-request-id` line (with two, one may be the client's),
    /// - and the value is well formed: 1 to [`MAX_REQUEST_ID_LEN`](crate::MAX_REQUEST_ID_LEN)
    ///   visible ASCII characters.
    ///
    /// Otherwise the layer generates the id and keeps the (first) incoming value apart, as
    /// with `false`.
    pub fn with_trusted_request_id(mut self, trusted: bool) -> Self {
        self.config_mut().trust_request_id = trusted;
        self
    }

    /// When responses are released (default [`Delivery::Acknowledged`]).
    pub fn with_delivery(mut self, delivery: Delivery) -> Self {
        self.config_mut().delivery = delivery;
        self
    }

    /// What to do while the audit store is failing (default [`UnhealthyPolicy::FailOpen`]).
    pub fn with_unhealthy_policy(mut self, policy: UnhealthyPolicy) -> Self {
        self.config_mut().unhealthy = policy;
        self
    }

    /// Under [`Delivery::Acknowledged`] and [`UnhealthyPolicy::FailOpen`], the longest a
    /// response waits for its events to become durable once they are queued (default: no
    /// limit). Past it, the response is released and the events stay queued: the writer
    /// writes them when the store answers, as during an outage. This bounds what a store that
    /// hangs without failing costs each request (the auditor still reports it healthy); see
    /// [`UnhealthyPolicy::FailOpen`].
    ///
    /// A response released this way was sent before its event was durable, as with
    /// [`Delivery::Buffered`]: choose a timeout well above the store's usual commit time.
    /// Ignored under [`UnhealthyPolicy::FailClosed`], whose acknowledged responses always wait
    /// for durability, and under [`Delivery::Buffered`], whose responses never do.
    pub fn with_ack_timeout(mut self, timeout: Duration) -> Self {
        self.config_mut().ack_timeout = Some(timeout);
        self
    }

    /// Derives the actor from the request before the inner service runs, for applications
    /// whose authentication runs outside this layer (its result is then in the request's
    /// extensions or headers). An actor set later through [`crate::AuditHandle::set_actor`]
    /// takes precedence; with neither, the actor is `anonymous`.
    pub fn on_actor<F>(mut self, f: F) -> Self
    where
        F: Fn(&Parts) -> Option<Actor> + Send + Sync + 'static,
    {
        self.config_mut().actor_fn = Some(Arc::new(f));
        self
    }

    /// The auditor events go to.
    pub fn auditor(&self) -> &Auditor {
        &self.config.auditor
    }

    /// A snapshot of the counters (shared by all clones of this layer and its services).
    pub fn stats(&self) -> LayerStats {
        let c = &self.config.counters;
        LayerStats {
            audited: c.audited.load(Ordering::Relaxed),
            aborted: c.aborted.load(Ordering::Relaxed),
            refused: c.refused.load(Ordering::Relaxed),
            unrecorded: c.unrecorded.load(Ordering::Relaxed),
        }
    }
}

impl<S> Layer<S> for AuditLayer {
    type Service = Audit<S>;

    fn layer(&self, inner: S) -> Audit<S> {
        Audit::from_config(inner, Arc::clone(&self.config))
    }
}

#[cfg(test)]
mod tests {
    use super::path_ends_in_template;

    #[test]
    fn a_raw_path_matches_a_template_segment_by_segment() {
        let sensitive = |path: &str, template: &str| path_ends_in_template(path, template);
        for path in [
            "/patients/7",
            "/api/v1/patients/7",
            "/patients//7",
            "/patients/./7",
            "//patients/7/",
            "/%70atients/7",
            "/patients/%2E/7",
        ] {
            assert!(sensitive(path, "/patients/{id}"), "{path}");
        }
        for path in ["/patients", "/patients/7/notes", "/xpatients/7", "/", "/patient/7"] {
            assert!(!sensitive(path, "/patients/{id}"), "{path}");
        }
        // Literal files, however the client spells them.
        for path in ["/records/patient-7.pdf", "/records/patient%2D7.pdf", "/records//./patient-7.pdf"] {
            assert!(sensitive(path, "/records/patient-7.pdf"), "{path}");
        }
        assert!(!sensitive("/records/patient-8.pdf", "/records/patient-7.pdf"));
        // A last wildcard: any number of segments after the literal ones.
        for path in ["/files", "/files/a", "/files/a/b/c.pdf", "/v2/files/a"] {
            assert!(sensitive(path, "/files/{*rest}"), "{path}");
        }
        assert!(!sensitive("/filesx/a", "/files/{*rest}"));
        // What cannot be resolved segment by segment is taken for sensitive.
        for path in ["/public/../patients/7", "/public/%2e%2E/x", "/records%2Fpatient-7.pdf", "/a%5cb"] {
            assert!(sensitive(path, "/patients/{id}"), "{path}");
        }
        // The root.
        assert!(sensitive("/", "/") && sensitive("//", "/") && !sensitive("/a", "/"));
    }
}

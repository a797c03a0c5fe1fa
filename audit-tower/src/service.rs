//! [`Audit`]: the service made by [`AuditLayer`](crate::AuditLayer).

use crate::AuditHandle;
use crate::future::ResponseFuture;
use crate::layer::{AuditLayer, Config, Counters};
use crate::request::{CallGuard, Started, X_REQUEST_ID, try_record_only};
use audit_core::Auditor;
use axum::extract::{MatchedPath, OriginalUri};
use http::{Request, Response, StatusCode};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;
use tower_service::Service;

/// The reason recorded for a request refused under
/// [`UnhealthyPolicy::FailClosed`](crate::UnhealthyPolicy::FailClosed).
pub(crate) const REFUSED_REASON: &str = "audit store unavailable";

/// Middleware that records audited requests; made by [`AuditLayer`].
///
/// Requests it does not audit go straight to the inner service, with no allocation and no
/// lock. For an audited one it reads the request head, puts an [`AuditHandle`](crate::AuditHandle)
/// into the request's extensions, runs the inner service inside the request's
/// [`audit_core::AuditScope`], and records the event(s) when the response comes back.
#[derive(Clone)]
pub struct Audit<S> {
    inner: S,
    config: Arc<Config>,
}

impl<S> std::fmt::Debug for Audit<S>
where
    S: std::fmt::Debug,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Audit").field("inner", &self.inner).finish_non_exhaustive()
    }
}

impl<S> Audit<S> {
    pub(crate) fn from_config(inner: S, config: Arc<Config>) -> Audit<S> {
        Audit { inner, config }
    }

    /// A layer that records through `auditor` (the same as [`AuditLayer::new`]).
    pub fn layer(auditor: Auditor) -> AuditLayer {
        AuditLayer::new(auditor)
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The inner service, consuming this one.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for Audit<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ResBody: Default,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let extensions = request.extensions();
        // The matched route's template; without one, the whole path the client sent (a nested
        // router sees it with its prefix stripped), as `context.path` records it.
        let (route, matched) = match extensions.get::<MatchedPath>() {
            Some(route) => (route.as_str(), true),
            None => (extensions.get::<OriginalUri>().map_or(request.uri().path(), |original| original.path()), false),
        };
        if !self.config.audits(request.method(), route, matched) {
            return ResponseFuture::passthrough(self.inner.call(request));
        }
        // Audited already by an `AuditLayer` outside this one: one event a request, the outer
        // layer's, whose handle authentication and handlers already see. This layer's fail
        // closed policy still holds: the request is refused here, and the outer layer records
        // the `503` with this layer's reason.
        if let Some(outer) = extensions.get::<AuditHandle>() {
            if self.config.refuses_now() {
                Counters::add(&self.config.counters.refused, 1);
                outer.set_reason(REFUSED_REASON);
                return ResponseFuture::ready(service_unavailable());
            }
            return ResponseFuture::passthrough(self.inner.call(request));
        }
        let now = Instant::now();
        Counters::add(&self.config.counters.audited, 1);
        let (mut parts, body) = request.into_parts();
        let started = Started::read(Arc::clone(&self.config), &mut parts, now);
        let handle = started.handle.clone();
        // From here until the response future takes the request, a panic (in the actor
        // function or the inner service's `call`) is recorded by the guard's drop.
        let guard = CallGuard::new(started);
        if let Some(actor) = self.config.actor_fn.as_ref().and_then(|f| f(&parts)) {
            handle.set_actor(actor);
        }

        // Fail closed: refused while the store is failing, and once the auditor is shut down.
        if self.config.refuses_now() {
            Counters::add(&self.config.counters.refused, 1);
            let mut response = service_unavailable();
            if let Some(mut started) = guard.into_inner() {
                if let Some(id) = started.take_header() {
                    response.headers_mut().insert(X_REQUEST_ID, id);
                }
                let drafts = started.drafts(Some(StatusCode::SERVICE_UNAVAILABLE), Some(REFUSED_REASON));
                try_record_only(&self.config, drafts);
            }
            return ResponseFuture::ready(response);
        }

        let scope = handle.scope().clone();
        parts.extensions.insert(handle);
        let request = Request::from_parts(parts, body);
        // The inner `call` runs inside the scope too (its synchronous part), then its future.
        let future = scope.clone().run_sync(|| self.inner.call(request));
        ResponseFuture::audited(scope.wrap(future), guard.into_inner())
    }
}

/// The empty `503` of a refused request.
fn service_unavailable<B: Default>() -> Response<B> {
    let mut response = Response::new(B::default());
    *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    response
}

#[cfg(test)]
mod tests {
    use crate::{AuditHandle, AuditLayer, Delivery, LayerStats};
    use audit_core::store::MemoryStore;
    use audit_core::{Actor, Auditor, Event, EventDraft, Outcome};
    use axum::Router;
    use axum::body::Body;
    use axum::extract::connect_info::MockConnectInfo;
    use axum::http::{Request, Response, StatusCode};
    use axum::routing::{get, post, put};
    use serde_json::json;
    use std::convert::Infallible;
    use std::net::SocketAddr;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tower::{Layer, ServiceBuilder, ServiceExt, service_fn};

    fn auditor() -> (Auditor, Arc<MemoryStore>) {
        let store = Arc::new(MemoryStore::new());
        (Auditor::builder(store.clone()).build(), store)
    }

    fn events(store: &MemoryStore) -> Vec<Event> {
        store.events("default").into_iter().map(|e| e.event).collect()
    }

    fn request(method: &str, uri: &str) -> axum::http::request::Builder {
        Request::builder().method(method).uri(uri)
    }

    fn peer() -> MockConnectInfo<SocketAddr> {
        MockConnectInfo(SocketAddr::from(([192, 0, 2, 10], 50_000)))
    }

    #[tokio::test]
    async fn unaudited_reads_pass_through_untouched() {
        let (auditor, store) = auditor();
        let layer = AuditLayer::new(auditor);
        let app = Router::new()
            .route("/users/{id}", get(|audit: Option<AuditHandle>| async move { audit.is_some().to_string() }))
            .layer(layer.clone());
        let response =
            app.oneshot(request("GET", "/users/1").body(Body::empty()).expect("request")).await.expect("infallible");
        assert_eq!(response.status(), StatusCode::OK);
        assert!(!response.headers().contains_key("x-request-id"));
        let body = axum::body::to_bytes(response.into_body(), 1024).await.expect("body");
        assert_eq!(&body[..], b"false");
        assert!(events(&store).is_empty());
        assert_eq!(layer.stats(), LayerStats::default());
    }

    #[tokio::test]
    async fn a_mutation_is_recorded_with_its_context() {
        let (auditor, store) = auditor();
        let app = Router::new()
            .route("/users/{id}", post(|| async { StatusCode::CREATED }))
            .layer(AuditLayer::new(auditor))
            .layer(peer());
        let response = app
            .oneshot(
                request("POST", "/users/42?token=secret")
                    // A tab, a C1 control (U+0085) and a right-to-left override (U+202E).
                    .header("user-agent", &b"curl/8.0\t\xc2\x85\xe2\x80\xaeevil"[..])
                    .header("x-request-id", "client-chosen")
                    .body(Body::empty())
                    .expect("request"),
            )
            .await
            .expect("infallible");
        assert_eq!(response.status(), StatusCode::CREATED);
        let header = response.headers()["x-request-id"].to_str().expect("ascii").to_owned();
        let id = uuid::Uuid::parse_str(&header).expect("a UUID");
        assert_eq!(id.get_version_num(), 7);

        let events = events(&store);
        assert_eq!(events.len(), 1);
        let e = &events[0];
        assert_eq!(e.action, "POST /users/{id}");
        assert_eq!(e.actor, Actor::anonymous());
        assert_eq!((e.resource.kind.as_str(), e.resource.id.as_str()), ("users", "42"));
        assert_eq!(e.outcome, Outcome::Success);
        assert_eq!(e.reason, None);
        let c = &e.context;
        assert_eq!(c.ip.as_deref(), Some("192.0.2.10"));
        assert_eq!(c.user_agent.as_deref(), Some("curl/8.0evil"));
        assert_eq!(c.request_id.as_deref(), Some(header.as_str()));
        assert_eq!(c.method.as_deref(), Some("POST"));
        assert_eq!(c.route.as_deref(), Some("/users/{id}"));
        assert_eq!(c.path.as_deref(), Some("/users/42"), "the query string is not recorded");
        assert_eq!(c.status, Some(201));
        assert!(c.duration_us.is_some());
        assert_eq!(e.details.get("client_request_id"), Some(&json!("client-chosen")));
    }

    #[tokio::test]
    async fn head_is_audited_wherever_get_is() {
        let (auditor, store) = auditor();
        // axum answers HEAD with the GET handler: it reads the record as GET does.
        let app = Router::new()
            .route("/users/{id}", get(|| async { "alice" }))
            .layer(AuditLayer::new(auditor).with_methods([axum::http::Method::GET]));
        let response =
            app.oneshot(request("HEAD", "/users/7").body(Body::empty()).expect("request")).await.expect("infallible");
        assert_eq!(response.status(), StatusCode::OK);
        assert!(response.headers().contains_key("x-request-id"), "audited");
        let events = events(&store);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].action, "HEAD /users/{id}");
        assert_eq!((events[0].resource.kind.as_str(), events[0].resource.id.as_str()), ("users", "7"));
    }

    #[tokio::test]
    async fn the_inner_service_sees_the_recorded_request_id_not_the_clients() {
        let (auditor, store) = auditor();
        // What a handler, or a logging layer inside the audit layer, reads from the header.
        let seen = |request: Request<Body>| async move {
            let lines: Vec<String> = request
                .headers()
                .get_all("x-request-id")
                .iter()
                .map(|v| v.to_str().expect("ascii").to_owned())
                .collect();
            Ok::<_, Infallible>(Response::new(Body::from(lines.join(","))))
        };
        let app = AuditLayer::new(auditor).layer(service_fn(seen));
        let response = app
            .oneshot(
                request("POST", "/jobs")
                    .header("x-request-id", "client-chosen")
                    .header("x-request-id", "second-line")
                    .body(Body::empty())
                    .expect("request"),
            )
            .await
            .expect("infallible");
        let header = response.headers()["x-request-id"].to_str().expect("ascii").to_owned();
        let body = axum::body::to_bytes(response.into_body(), 1024).await.expect("body");
        assert_eq!(std::str::from_utf8(&body).expect("utf-8"), header, "one line, the generated id");
        let events = events(&store);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].context.request_id.as_deref(), Some(header.as_str()));
        assert_eq!(events[0].details.get("client_request_id"), Some(&json!("client-chosen")));
    }

    #[tokio::test]
    async fn resource_ids_are_escaped_never_altered_or_merged() {
        let (auditor, store) = auditor();
        let app = Router::new()
            .route("/users/{id}", put(|| async {}))
            .route("/orgs/{org}/members/{user}", put(|| async {}))
            .route("/files/{*path}", put(|| async {}))
            .layer(AuditLayer::new(auditor));
        let long = "x".repeat(crate::MAX_PATH_PARAM_LEN);
        let paths = [
            "/users/4%0A2".to_owned(),
            "/users/42".to_owned(),
            "/users/%FF".to_owned(),
            // A client's literal `\xff` stays apart from the byte 0xFF.
            "/users/%5Cxff".to_owned(),
            // Bidi controls (U+202E, U+200F) and the cut mark `…` are escaped too.
            "/users/a%E2%80%AEb%E2%80%8F".to_owned(),
            "/users/a%E2%80%A6".to_owned(),
            // One parameter that is not UTF-8 does not blank the others.
            "/orgs/%FF/members/bob".to_owned(),
            format!("/files/{long}/a"),
            format!("/files/{long}/b"),
        ];
        for path in &paths {
            let response = app.clone().oneshot(request("PUT", path).body(Body::empty()).expect("request")).await;
            assert_eq!(response.expect("infallible").status(), StatusCode::OK, "{path}");
        }
        let ids: Vec<String> = events(&store).into_iter().map(|e| e.resource.id).collect();
        assert_eq!(ids[..7], ["4\\u{a}2", "42", "\\xff", "\\\\xff", "a\\u{202e}b\\u{200f}", "a\\u{2026}", "bob"]);
        let (a, b) = (&ids[7], &ids[8]);
        assert_ne!(a, b, "long ids that share a prefix stay apart");
        for id in [a, b] {
            assert!(id.len() <= crate::MAX_PATH_PARAM_LEN, "{id}");
            let (kept, hash) = id.split_once('…').expect("a cut id is marked");
            assert!(long.starts_with(kept));
            assert_eq!(hash.len(), 32);
        }
    }

    #[tokio::test]
    async fn without_a_router_the_action_is_unmatched_never_the_raw_path() {
        let (auditor, store) = auditor();
        let service = ServiceBuilder::new()
            .layer(AuditLayer::new(auditor))
            .service(service_fn(|_req: Request<Body>| async { Ok::<_, Infallible>(Response::new(Body::empty())) }));
        let response = service
            .oneshot(request("DELETE", "/admin/%3Cscript%3E").body(Body::empty()).expect("request"))
            .await
            .expect("infallible");
        assert_eq!(response.status(), StatusCode::OK);
        let events = events(&store);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].action, "DELETE <unmatched>");
        assert_eq!(events[0].context.route, None);
        assert_eq!((events[0].resource.kind.as_str(), events[0].resource.id.as_str()), ("", ""));
        assert_eq!(events[0].context.ip, None, "no connect info: the IP is unknown");
    }

    #[tokio::test]
    async fn the_router_fallback_is_unmatched() {
        let (auditor, store) = auditor();
        let app = Router::new().route("/users", post(|| async {})).layer(AuditLayer::new(auditor));
        let response =
            app.oneshot(request("POST", "/nowhere").body(Body::empty()).expect("request")).await.expect("infallible");
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        let events = events(&store);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].action, "POST <unmatched>");
        assert_eq!(events[0].outcome, Outcome::Failure);
        assert_eq!(events[0].reason.as_deref(), Some("Not Found"));
    }

    #[tokio::test]
    async fn the_handle_adds_to_the_event_and_its_own_events_come_first() {
        let (auditor, store) = auditor();
        let app = Router::new()
            .route(
                "/reports/{id}/export",
                post(|audit: AuditHandle| async move {
                    audit.set_actor(Actor::admin("alice"));
                    audit.set_resource("report", "r-9");
                    audit.add_detail("format", json!("csv"));
                    audit.add_detail("client_request_id", json!("forged"));
                    audit.add_tag("privileged");
                    audit.set_justification("audit request AR-7");
                    audit.add_event(EventDraft::new("export").resource("report", "r-9"));
                    audit.add_event(EventDraft::new("notify").actor(Actor::system("mailer")));
                    StatusCode::OK
                }),
            )
            .layer(AuditLayer::new(auditor));
        let response = app
            .oneshot(
                request("POST", "/reports/r-9/export").header("x-request-id", "abc").body(Body::empty()).expect("req"),
            )
            .await
            .expect("infallible");
        let request_id = response.headers()["x-request-id"].to_str().expect("ascii").to_owned();
        let events = events(&store);
        let actions: Vec<&str> = events.iter().map(|e| e.action.as_str()).collect();
        assert_eq!(actions, ["export", "notify", "POST /reports/{id}/export"]);
        // The extra events get the request's actor and context unless they name their own.
        assert_eq!(events[0].actor, Actor::admin("alice"));
        assert_eq!(events[0].context.request_id.as_deref(), Some(request_id.as_str()));
        assert_eq!(events[0].context.status, Some(200));
        assert_eq!(events[1].actor, Actor::system("mailer"));
        let e = &events[2];
        assert_eq!(e.actor, Actor::admin("alice"));
        assert_eq!((e.resource.kind.as_str(), e.resource.id.as_str()), ("report", "r-9"));
        assert_eq!(e.details.get("format"), Some(&json!("csv")));
        assert_eq!(e.details.get("client_request_id"), Some(&json!("abc")), "the layer's value wins");
        assert_eq!(e.tags, ["privileged"]);
        assert_eq!(e.justification.as_deref(), Some("audit request AR-7"));
    }

    #[tokio::test]
    async fn on_actor_derives_the_actor_and_the_handle_overrides_it() {
        let (auditor, store) = auditor();
        let layer = AuditLayer::new(auditor).on_actor(|parts| {
            parts.headers.get("x-api-key").and_then(|v| v.to_str().ok()).map(|k| Actor::service(k).with_auth("api_key"))
        });
        let app = Router::new()
            .route("/plain", post(|| async {}))
            .route("/sudo", post(|audit: AuditHandle| async move { audit.set_actor(Actor::admin("root")) }))
            .layer(layer);
        for path in ["/plain", "/sudo"] {
            let req = request("POST", path).header("x-api-key", "billing").body(Body::empty()).expect("request");
            app.clone().oneshot(req).await.expect("infallible");
        }
        app.oneshot(request("POST", "/plain").body(Body::empty()).expect("request")).await.expect("infallible");
        let events = events(&store);
        assert_eq!(events[0].actor, Actor::service("billing").with_auth("api_key"));
        assert_eq!(events[1].actor, Actor::admin("root"));
        assert_eq!(events[2].actor, Actor::anonymous());
    }

    #[tokio::test]
    async fn the_extractor_rejects_a_request_that_is_not_audited() {
        let (auditor, store) = auditor();
        let app = Router::new().route("/page", get(|_audit: AuditHandle| async {})).layer(AuditLayer::new(auditor));
        let response =
            app.oneshot(request("GET", "/page").body(Body::empty()).expect("request")).await.expect("infallible");
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(events(&store).is_empty());
    }

    #[tokio::test]
    async fn a_trusted_edge_request_id_is_used_and_a_bad_one_is_replaced() {
        let (auditor, store) = auditor();
        let layer = AuditLayer::new(auditor)
            .with_trusted_proxies(["192.0.2.0/24".parse().expect("network")])
            .with_trusted_request_id(true);
        // The peer (192.0.2.10) is a trusted proxy: the edge.
        let app = Router::new().route("/x", post(|| async {})).layer(layer).layer(peer());
        let req = request("POST", "/x").header("x-request-id", "edge-7f3a").body(Body::empty()).expect("request");
        let response = app.clone().oneshot(req).await.expect("infallible");
        assert_eq!(response.headers()["x-request-id"], "edge-7f3a");
        let req = request("POST", "/x").header("x-request-id", "has space").body(Body::empty()).expect("request");
        let response = app.oneshot(req).await.expect("infallible");
        let generated = response.headers()["x-request-id"].to_str().expect("ascii").to_owned();
        assert!(uuid::Uuid::parse_str(&generated).is_ok());

        let events = events(&store);
        assert_eq!(events[0].context.request_id.as_deref(), Some("edge-7f3a"));
        assert!(events[0].details.get("client_request_id").is_none());
        assert_eq!(events[1].context.request_id.as_deref(), Some(generated.as_str()));
        assert_eq!(events[1].details.get("client_request_id"), Some(&json!("has space")));
    }

    #[tokio::test]
    async fn a_service_error_is_recorded_as_a_failure() {
        let (auditor, store) = auditor();
        let service = AuditLayer::new(auditor.clone()).layer(service_fn(|_req: Request<Body>| async {
            Err::<Response<Body>, _>(std::io::Error::other("backend down"))
        }));
        let result = service.oneshot(request("PUT", "/x").body(Body::empty()).expect("request")).await;
        assert!(result.is_err());
        let events = events(&store);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].outcome, Outcome::Failure);
        assert_eq!(events[0].reason.as_deref(), Some("service error"));
        assert_eq!(events[0].context.status, None);
    }

    #[tokio::test]
    async fn an_event_that_cannot_be_recorded_turns_the_response_into_a_500() {
        let (auditor, store) = auditor();
        let layer = AuditLayer::new(auditor.clone());
        let ran = Arc::new(AtomicUsize::new(0));
        let counter = ran.clone();
        let app = Router::new()
            .route(
                "/x",
                post(move || async move {
                    counter.fetch_add(1, Ordering::SeqCst);
                    StatusCode::OK
                }),
            )
            .layer(layer.clone());
        auditor.shutdown().await;
        let response = app.oneshot(request("POST", "/x").body(Body::empty()).expect("request")).await.expect("ok");
        assert_eq!(ran.load(Ordering::SeqCst), 1);
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(response.headers().contains_key("x-request-id"));
        assert!(events(&store).is_empty());
        assert_eq!(layer.stats().unrecorded, 1);
    }

    #[tokio::test]
    async fn an_invalid_event_is_not_released_as_recorded() {
        let (auditor, store) = auditor();
        let layer = AuditLayer::new(auditor);
        // Nested deeper than an event may be: the auditor refuses the request's event.
        let deep = (0..=audit_core::event::MAX_VALUE_DEPTH).fold(json!(1), |v, _| json!([v]));
        let app = Router::new()
            .route("/x", post(move |audit: AuditHandle| async move { audit.add_detail("deep", deep) }))
            .layer(layer.clone());
        let response = app.oneshot(request("POST", "/x").body(Body::empty()).expect("request")).await.expect("ok");
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(events(&store).is_empty());
        assert_eq!(layer.stats().unrecorded, 1);
    }

    #[tokio::test]
    async fn buffered_delivery_records_every_event() {
        let (auditor, store) = auditor();
        let app = Router::new()
            .route("/x", post(|| async {}))
            .layer(AuditLayer::new(auditor.clone()).with_delivery(Delivery::Buffered));
        for _ in 0..3 {
            let response = app.clone().oneshot(request("POST", "/x").body(Body::empty()).expect("request")).await;
            assert_eq!(response.expect("ok").status(), StatusCode::OK);
        }
        auditor.shutdown().await;
        assert_eq!(events(&store).len(), 3);
    }

    #[tokio::test]
    async fn a_panic_unwinding_through_the_layer_is_recorded() {
        let (auditor, store) = auditor();
        let layer = AuditLayer::new(auditor.clone());
        let app = Router::new()
            .route(
                "/boom",
                post(|| async {
                    if true {
                        panic!("handler bug");
                    }
                }),
            )
            .layer(layer.clone());
        let task = tokio::spawn(app.oneshot(request("POST", "/boom").body(Body::empty()).expect("request")));
        assert!(task.await.is_err_and(|e| e.is_panic()));
        auditor.shutdown().await;
        let events = events(&store);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].outcome, Outcome::Failure);
        assert_eq!(events[0].reason.as_deref(), Some("panic"));
        assert_eq!(layer.stats().aborted, 1);
    }

    #[tokio::test]
    async fn events_added_after_the_request_ended_are_still_recorded() {
        let (auditor, store) = auditor();
        let (tx, rx) = tokio::sync::oneshot::channel::<AuditHandle>();
        let tx = Arc::new(std::sync::Mutex::new(Some(tx)));
        let app = Router::new()
            .route(
                "/x",
                post(move |audit: AuditHandle| async move {
                    audit.set_actor(Actor::user("carol"));
                    if let Some(tx) = tx.lock().expect("lock").take() {
                        let _ = tx.send(audit);
                    }
                }),
            )
            .layer(AuditLayer::new(auditor.clone()));
        app.oneshot(request("POST", "/x").body(Body::empty()).expect("request")).await.expect("ok");
        let handle = rx.await.expect("handle");
        handle.add_event(EventDraft::new("late"));
        auditor.shutdown().await;
        let events = events(&store);
        assert_eq!(events.len(), 2);
        assert_eq!(events[1].action, "late");
        assert_eq!(events[1].actor, Actor::user("carol"));
        assert_eq!(events[1].context.request_id, events[0].context.request_id);
    }
}

//! A router with the layer, nested under a prefix: the event names the route and the raw path
//! the client sent, prefix included (axum strips the prefix before the inner router's layers).

mod common;

use audit_tower::AuditLayer;
use axum::Router;
use axum::routing::post;
use http::StatusCode;
use tower::ServiceExt;

fn post_request(path: &str) -> http::Request<axum::body::Body> {
    http::Request::post(path).body(axum::body::Body::empty()).expect("request")
}

#[tokio::test]
async fn a_nested_router_records_the_whole_path() {
    let (auditor, store) = common::auditor();
    let inner = Router::new().route("/users/{id}", post(|| async {})).layer(AuditLayer::new(auditor.clone()));
    let app = Router::new().nest("/api/v1", inner.clone()).nest("/orgs/{org}", inner);
    for path in ["/api/v1/users/42?token=secret", "/orgs/acme/users/%FF"] {
        let response = app.clone().oneshot(post_request(path)).await.expect("infallible");
        assert_eq!(response.status(), StatusCode::OK, "{path}");
    }
    let events = common::events(&store);
    let e = &events[0];
    assert_eq!(e.context.route.as_deref(), Some("/api/v1/users/{id}"));
    assert_eq!(e.context.path.as_deref(), Some("/api/v1/users/42"), "the raw path the client sent, without the query");
    assert_eq!((e.resource.kind.as_str(), e.resource.id.as_str()), ("users", "42"));
    let e = &events[1];
    assert_eq!(e.context.route.as_deref(), Some("/orgs/{org}/users/{id}"));
    assert_eq!(e.context.path.as_deref(), Some("/orgs/acme/users/%FF"));
    assert_eq!((e.resource.kind.as_str(), e.resource.id.as_str()), ("users", "\\xff"));
}

#[tokio::test]
async fn without_a_router_the_path_is_the_request_uri() {
    let (auditor, store) = common::auditor();
    let service = tower::ServiceBuilder::new().layer(AuditLayer::new(auditor)).service(tower::service_fn(
        |_request: http::Request<axum::body::Body>| async {
            Ok::<_, std::convert::Infallible>(http::Response::new(axum::body::Body::empty()))
        },
    ));
    service.oneshot(post_request("/plain/1?q=1")).await.expect("infallible");
    assert_eq!(common::events(&store)[0].context.path.as_deref(), Some("/plain/1"));
}

/// Skipped and sensitive routes are compared with the whole path the client sent when no route
/// matched (the nested router's fallback), as `context.path` records it: a skipped `/metrics`
/// of the application does not hide a `POST /api/metrics` that reaches the nested router.
#[tokio::test]
async fn a_nested_router_compares_unmatched_paths_whole() {
    let (auditor, store) = common::auditor();
    let layer = AuditLayer::new(auditor.clone())
        .with_skipped_routes(["/metrics", "/api/v1/ping"])
        .with_sensitive_routes(["/api/v1/secret"]);
    let inner =
        Router::new().route("/users/{id}", post(|| async {})).fallback(|| async { StatusCode::NOT_FOUND }).layer(layer);
    let app = Router::new().nest("/api/v1", inner);
    let send = |request: http::Request<axum::body::Body>| {
        let app = app.clone();
        async move { app.oneshot(request).await.expect("infallible").status() }
    };
    assert_eq!(send(post_request("/api/v1/metrics")).await, StatusCode::NOT_FOUND);
    assert_eq!(send(post_request("/api/v1/ping")).await, StatusCode::NOT_FOUND);
    let get = |path: &str| http::Request::get(path).body(axum::body::Body::empty()).expect("request");
    assert_eq!(send(get("/api/v1/secret")).await, StatusCode::NOT_FOUND);
    assert_eq!(send(get("/secret")).await, StatusCode::NOT_FOUND, "not nested: the outer router's 404");
    let recorded: Vec<(String, Option<String>)> =
        common::events(&store).into_iter().map(|e| (e.action, e.context.path)).collect();
    assert_eq!(
        recorded,
        [
            ("POST <unmatched>".to_string(), Some("/api/v1/metrics".to_string())),
            ("GET <unmatched>".to_string(), Some("/api/v1/secret".to_string())),
        ],
        "/api/v1/metrics is not the skipped /metrics; /api/v1/ping is skipped; /api/v1/secret is sensitive"
    );
}

/// A catch-all under a nested prefix, with a value that is not UTF-8 once decoded (axum then
/// hands over no parameter, and the layer reads them from the raw path). Read from the path
/// the router stripped, `/t/files/files/%FF` fitted the whole template at once (`{tenant}` =
/// `files`) and gave the id `\xff`, the id of `/t/files/%FF` too: it is read from the whole
/// path the client sent.
#[tokio::test]
async fn a_nested_catch_all_reads_its_raw_value_from_the_whole_path() {
    let (auditor, store) = common::auditor();
    let inner = Router::new().route("/files/{*path}", post(|| async {})).layer(AuditLayer::new(auditor.clone()));
    let app = Router::new().nest("/{tenant}", inner);
    for path in ["/t/files/files/%FF", "/t/files/%FF"] {
        let response = app.clone().oneshot(post_request(path)).await.expect("infallible");
        assert_eq!(response.status(), StatusCode::OK, "{path}");
    }
    let events = common::events(&store);
    let ids: Vec<(&str, &str)> = events.iter().map(|e| (e.resource.kind.as_str(), e.resource.id.as_str())).collect();
    assert_eq!(ids, [("files", "files/\\xff"), ("files", "\\xff")]);
}

/// A sensitive route named as the nested router names it is audited once nested: axum's
/// `MatchedPath` is then `/api/patients/{id}`, and exact comparison let every read of it pass
/// unrecorded ("who viewed this record" failing open). Skipped routes stay exact.
#[tokio::test]
async fn a_sensitive_route_is_audited_under_a_nesting_prefix() {
    let (auditor, store) = common::auditor();
    let layer = AuditLayer::new(auditor.clone())
        .with_sensitive_routes(["/patients/{id}"])
        .with_skipped_routes(["/patients/{id}/ping"]);
    let inner = Router::new()
        .route("/patients/{id}", axum::routing::get(|| async {}))
        .route("/xpatients/{id}", axum::routing::get(|| async {}))
        .route("/patients/{id}/ping", post(|| async {}))
        .layer(layer);
    let app = Router::new().nest("/api", inner.clone()).merge(inner);
    for (method, path) in [
        ("GET", "/api/patients/7"),
        ("HEAD", "/patients/8"),
        ("GET", "/api/xpatients/9"),
        ("POST", "/api/patients/7/ping"),
        ("POST", "/patients/7/ping"),
    ] {
        let request = http::Request::builder().method(method).uri(path).body(axum::body::Body::empty());
        let response = app.clone().oneshot(request.expect("request")).await.expect("infallible");
        assert_eq!(response.status(), StatusCode::OK, "{method} {path}");
    }
    let recorded: Vec<(String, Option<String>)> =
        common::events(&store).into_iter().map(|e| (e.action, e.context.path)).collect();
    assert_eq!(
        recorded,
        [
            ("GET /api/patients/{id}".to_string(), Some("/api/patients/7".to_string())),
            ("HEAD /patients/{id}".to_string(), Some("/patients/8".to_string())),
            ("POST /api/patients/{id}/ping".to_string(), Some("/api/patients/7/ping".to_string())),
        ],
        "the nested sensitive read is audited, /xpatients is not /patients, a skipped route is skipped only as named"
    );
}

/// Reads served without a matched route (a `nest_service` file server, here one that resolves
/// paths as `ServeDir` does: percent-decoded, empty and `.` segments passed over) are matched
/// against sensitive templates segment by segment: every spelling of a sensitive file is
/// audited (a template never matched a raw path, and `/records/patient%2D7.pdf` dodged the
/// literal `/records/patient-7.pdf`).
#[tokio::test]
async fn reads_served_without_a_matched_route_match_sensitive_templates() {
    let (auditor, store) = common::auditor();
    let files = tower::service_fn(|_request: http::Request<axum::body::Body>| async {
        Ok::<_, std::convert::Infallible>(http::Response::new(axum::body::Body::from("file")))
    });
    let app = Router::new()
        .nest_service("/records", files)
        .fallback(|| async { "fallback" })
        .layer(AuditLayer::new(auditor).with_sensitive_routes(["/records/patient-7.pdf", "/patients/{id}"]));
    let get = |path: &str| http::Request::get(path).body(axum::body::Body::empty()).expect("request");
    let audited = [
        "/records/patient-7.pdf",
        "/records/patient%2D7.pdf",
        "/records//patient-7.pdf",
        "/records/./patient-7.pdf",
        "/records/x/../patient-7.pdf",
        "/patients/7",
    ];
    for path in audited.into_iter().chain(["/records/patient-8.pdf", "/patients"]) {
        let response = app.clone().oneshot(get(path)).await.expect("infallible");
        assert_eq!(response.status(), StatusCode::OK, "{path}");
    }
    let paths: Vec<String> = common::events(&store).into_iter().filter_map(|e| e.context.path).collect();
    assert_eq!(paths, audited, "every spelling of a sensitive read, and only those");
}

//! The quickstart app served for a test: a real server on 127.0.0.1, a real HTTP client, the
//! audit trail in a real SQLite file (the quickstart's default kind of database).
#![allow(dead_code)] // each test file uses a part of this module

#[allow(dead_code, unreachable_pub)]
#[path = "../../examples/quickstart.rs"]
pub(crate) mod quickstart;

use audit_core::Event;
use audit_core::store::{AuditStore, Query};
use audit_seaorm::SqlStore;
use axum::body::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use std::net::SocketAddr;
use std::sync::Arc;

pub(crate) struct Running {
    pub(crate) addr: SocketAddr,
    pub(crate) store: Arc<SqlStore>,
    pub(crate) auditor: audit_core::Auditor,
    pub(crate) client: Client<HttpConnector, Full<Bytes>>,
    _dir: tempfile::TempDir,
}

/// Starts the quickstart app on a fresh SQLite file, served on 127.0.0.1 (port 0), trusting
/// `trusted` (CIDRs) as proxies.
pub(crate) async fn run(trusted: &[&str]) -> Running {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("quickstart.db").display());
    run_on(&url, trusted, dir).await
}

/// Starts the quickstart app on the database at `url` (any of its `--db` URLs), served as
/// [`run`] says; `dir` is kept as long as the app runs.
pub(crate) async fn run_on(url: &str, trusted: &[&str], dir: tempfile::TempDir) -> Running {
    let trusted = trusted.iter().map(|c| c.parse().expect("cidr")).collect();
    let started = quickstart::start(url, trusted).await.expect("quickstart starts");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let router = started.router;
    tokio::spawn(async move {
        axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>()).await.expect("serve");
    });
    let client = Client::builder(TokioExecutor::new()).build_http();
    Running { addr, store: started.store, auditor: started.auditor, client, _dir: dir }
}

/// A response: its status, `x-request-id` and body.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) request_id: Option<String>,
    pub(crate) body: String,
}

impl Running {
    /// Sends a request with exactly these headers.
    pub(crate) async fn send(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Reply {
        let mut request = Request::builder()
            .method(Method::from_bytes(method.as_bytes()).expect("method"))
            .uri(format!("http://{}{path}", self.addr));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = self
            .client
            .request(request.body(Full::new(Bytes::from(body.to_string()))).expect("request"))
            .await
            .expect("response");
        let status = response.status();
        let request_id = response.headers().get("x-request-id").and_then(|v| v.to_str().ok()).map(str::to_owned);
        let body = response.into_body().collect().await.expect("body").to_bytes();
        Reply { status, request_id, body: String::from_utf8_lossy(&body).into_owned() }
    }

    /// Sends a request with `content-type: application/json` besides `headers`.
    pub(crate) async fn send_json(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Reply {
        let mut all = vec![("content-type", "application/json")];
        all.extend_from_slice(headers);
        self.send(method, path, &all, body).await
    }

    /// Every event of the trail, in order.
    pub(crate) async fn events(&self) -> Vec<Event> {
        let mut events = Vec::new();
        let mut query = Query::new().limit(1000);
        loop {
            let page = self.store.query(&query).await.expect("query");
            events.extend(page.events.into_iter().map(|e| e.event));
            match page.next {
                Some(next) => query = query.after(Some(next)),
                None => return events,
            }
        }
    }

    /// The events recorded with this request id.
    pub(crate) async fn events_of_request(&self, request_id: &str) -> Vec<Event> {
        self.events().await.into_iter().filter(|e| e.context.request_id.as_deref() == Some(request_id)).collect()
    }
}

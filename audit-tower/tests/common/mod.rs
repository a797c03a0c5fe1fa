//! Shared by the integration tests: a real server on 127.0.0.1, a real HTTP client, and
//! stores to look into.
#![allow(dead_code, unreachable_pub)]

use audit_core::store::{AppendError, AuditStore, Head, LineStream, MemoryStore, Query, QueryPage, StoreError};
use audit_core::verify::ChainVerifier;
use audit_core::{Auditor, Event, RetryPolicy, SealedEvent};
use axum::Router;
use axum::body::Bytes;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::{Notify, Semaphore};

/// An auditor over a fresh in-memory store.
pub fn auditor() -> (Auditor, Arc<MemoryStore>) {
    let store = Arc::new(MemoryStore::new());
    (Auditor::builder(store.clone()).build(), store)
}

/// Serves `app` on 127.0.0.1 (a free port) with connect info, as production does.
pub async fn serve(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("local addr");
    tokio::spawn(async move {
        axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await.expect("serve");
    });
    addr
}

pub type HttpClient = Client<HttpConnector, Full<Bytes>>;

pub fn client() -> HttpClient {
    Client::builder(TokioExecutor::new()).build_http()
}

/// What came back.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Reply {
    pub fn request_id(&self) -> &str {
        self.headers.get("x-request-id").and_then(|v| v.to_str().ok()).expect("an x-request-id header")
    }
}

pub async fn send(client: &HttpClient, addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)]) -> Reply {
    let mut request = Request::builder().method(Method::from_bytes(method.as_bytes()).expect("method"));
    request = request.uri(format!("http://{addr}{path}"));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = client.request(request.body(Full::new(Bytes::new())).expect("request")).await.expect("response");
    let (parts, body) = response.into_parts();
    let body = body.collect().await.expect("body").to_bytes();
    Reply { status: parts.status, headers: parts.headers, body: String::from_utf8_lossy(&body).into_owned() }
}

/// The typed events of the default chain.
pub fn events(store: &MemoryStore) -> Vec<Event> {
    store.events("default").into_iter().map(|e| e.event).collect()
}

/// Asserts that the default chain verifies (SPEC §2) and returns its length.
pub fn verify_chain(store: &MemoryStore) -> u64 {
    let sealed = store.events("default");
    let lines: Vec<&[u8]> = sealed.iter().map(|e| e.line.as_bytes()).collect();
    let mut verifier = ChainVerifier::from_genesis();
    verifier.push_lines(&lines);
    let report = verifier.finish();
    assert!(report.is_valid(), "chain broken: {report:?}");
    report.verified
}

/// Waits until `condition` holds, checking every few milliseconds, for at most 30 s (a safety
/// net against hanging, not a timing assertion).
pub async fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    for _ in 0..6_000 {
        if condition() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("gave up waiting until {what}");
}

/// A memory store that can be made to fail, and whose appends can be held at a gate.
pub struct TestStore {
    pub inner: MemoryStore,
    failing: AtomicBool,
    gated: AtomicBool,
    gate: Semaphore,
    /// Notified (one permit) each time an append starts.
    pub append_started: Notify,
}

impl TestStore {
    pub fn new() -> Arc<TestStore> {
        Arc::new(TestStore {
            inner: MemoryStore::new(),
            failing: AtomicBool::new(false),
            gated: AtomicBool::new(false),
            gate: Semaphore::new(0),
            append_started: Notify::new(),
        })
    }
    /// Appends (and head reads) fail while set.
    pub fn set_failing(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }
    /// Appends wait at the gate until [`TestStore::open_gate`].
    pub fn close_gate(&self) {
        self.gated.store(true, Ordering::SeqCst);
    }
    pub fn open_gate(&self) {
        self.gated.store(false, Ordering::SeqCst);
        self.gate.add_permits(Semaphore::MAX_PERMITS / 2);
    }
    /// An auditor over this store that retries quickly.
    pub fn auditor(self: &Arc<Self>) -> Auditor {
        Auditor::builder(self.clone())
            .retry(RetryPolicy { initial: Duration::from_millis(1), max: Duration::from_millis(20) })
            .build()
    }
    /// The same, with room for only `capacity` queued events.
    pub fn auditor_with_queue(self: &Arc<Self>, capacity: usize) -> Auditor {
        Auditor::builder(self.clone())
            .retry(RetryPolicy { initial: Duration::from_millis(1), max: Duration::from_millis(20) })
            .queue_capacity(capacity)
            .build()
    }
    fn fail(&self) -> Option<StoreError> {
        self.failing.load(Ordering::SeqCst).then(|| StoreError::Corrupt("test store is failing".into()))
    }
}

#[async_trait::async_trait]
impl AuditStore for TestStore {
    async fn head(&self, chain: &str) -> Result<Head, StoreError> {
        if let Some(e) = self.fail() {
            return Err(e);
        }
        self.inner.head(chain).await
    }

    async fn append(&self, chain: &str, expected: Head, batch: &[SealedEvent]) -> Result<Head, AppendError> {
        self.append_started.notify_one();
        if self.gated.load(Ordering::SeqCst) {
            let _permit = self.gate.acquire().await.expect("gate");
        }
        if let Some(e) = self.fail() {
            return Err(e.into());
        }
        self.inner.append(chain, expected, batch).await
    }

    fn read(&self, chain: &str, from: u64, to: Option<u64>) -> LineStream<'_> {
        self.inner.read(chain, from, to)
    }

    async fn query(&self, query: &Query) -> Result<QueryPage, StoreError> {
        self.inner.query(query).await
    }
}

//! A request whose client goes away while the handler waits is still recorded.

mod common;

use audit_core::{Actor, Outcome};
use audit_tower::{AuditHandle, AuditLayer};
use axum::Router;
use axum::routing::post;
use std::sync::{Arc, Mutex};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::oneshot;

/// Sends on its channel when dropped: tells the test the handler's future is gone.
struct DropSignal(#[allow(dead_code)] oneshot::Sender<()>);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_whose_client_disconnects_is_recorded_as_aborted() {
    let (auditor, store) = common::auditor();
    let layer = AuditLayer::new(auditor.clone());
    let (entered_tx, entered_rx) = oneshot::channel::<String>();
    let (dropped_tx, dropped_rx) = oneshot::channel::<()>();
    let channels = Arc::new(Mutex::new(Some((entered_tx, dropped_tx))));
    let app = Router::new()
        .route(
            "/reports/{id}",
            post(move |audit: AuditHandle| async move {
                audit.set_actor(Actor::user("dana"));
                // The layer's own reason takes precedence over the handler's.
                audit.set_reason("still validating");
                let Some((entered, dropped)) = channels.lock().expect("lock").take() else { return };
                let _signal = DropSignal(dropped);
                let _ = entered.send(audit.request_id().to_owned());
                // Waits for ever: only the client going away ends this request.
                std::future::pending::<()>().await;
            }),
        )
        .layer(layer.clone());
    let addr = common::serve(app).await;

    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream
        .write_all(b"POST /reports/r-1 HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n")
        .await
        .expect("write request");
    let request_id = entered_rx.await.expect("the handler started");
    drop(stream);

    // The layer records the abort before the handler's future is dropped (its fields drop
    // after its own `Drop`), so once the handler is gone the event is queued.
    let _ = dropped_rx.await;
    auditor.shutdown().await;

    let events = common::events(&store);
    assert_eq!(events.len(), 1, "exactly one event: {events:?}");
    let e = &events[0];
    assert_eq!(e.action, "POST /reports/{id}");
    assert_eq!(e.outcome, Outcome::Failure);
    assert_eq!(e.reason.as_deref(), Some("aborted"));
    assert_eq!(e.actor, Actor::user("dana"), "the actor named before the abort is kept");
    assert_eq!((e.resource.kind.as_str(), e.resource.id.as_str()), ("reports", "r-1"));
    assert_eq!(e.context.request_id.as_deref(), Some(request_id.as_str()));
    assert_eq!(e.context.status, None, "no response was sent");
    assert_eq!(e.context.ip.as_deref(), Some("127.0.0.1"));
    assert_eq!(layer.stats().aborted, 1);
    common::verify_chain(&store);
}

/// A service whose `call` panics before it returns a future.
#[derive(Clone)]
struct PanicsInCall;

impl tower::Service<http::Request<axum::body::Body>> for PanicsInCall {
    type Response = http::Response<axum::body::Body>;
    type Error = std::convert::Infallible;
    type Future = std::future::Ready<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, _cx: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, _request: http::Request<axum::body::Body>) -> Self::Future {
        panic!("bug in call, before any future exists");
    }
}

fn put(path: &str) -> http::Request<axum::body::Body> {
    http::Request::put(path).body(axum::body::Body::empty()).expect("request")
}

#[tokio::test]
async fn a_panic_in_the_inner_services_call_is_recorded() {
    use tower::{Layer, Service};

    let (auditor, store) = common::auditor();
    let layer = AuditLayer::new(auditor.clone());
    let mut service = layer.layer(PanicsInCall);
    let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| service.call(put("/things/1"))));
    assert!(unwound.is_err(), "the panic goes on unwinding");
    auditor.shutdown().await;

    let events = common::events(&store);
    assert_eq!(events.len(), 1, "exactly one event: {events:?}");
    assert_eq!(events[0].action, "PUT <unmatched>");
    assert_eq!(events[0].outcome, Outcome::Failure);
    assert_eq!(events[0].reason.as_deref(), Some("panic"));
    assert_eq!(events[0].context.status, None);
    assert_eq!(layer.stats().aborted, 1);
    assert_eq!(layer.stats().unrecorded, 0);
}

#[tokio::test]
async fn a_panic_in_on_actor_is_recorded() {
    use tower::{Layer, Service};

    let (auditor, store) = common::auditor();
    let layer = AuditLayer::new(auditor.clone()).on_actor(|_parts| panic!("bug in the actor function"));
    let mut service = layer.layer(tower::service_fn(|_request: http::Request<axum::body::Body>| async {
        Ok::<_, std::convert::Infallible>(http::Response::new(axum::body::Body::empty()))
    }));
    let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| service.call(put("/things/2"))));
    assert!(unwound.is_err());
    auditor.shutdown().await;

    let events = common::events(&store);
    assert_eq!(events.len(), 1, "exactly one event: {events:?}");
    assert_eq!(events[0].reason.as_deref(), Some("panic"));
    assert_eq!(events[0].actor, Actor::anonymous());
    assert_eq!(layer.stats().aborted, 1);
}

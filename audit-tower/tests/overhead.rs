//! A request the layer does not audit costs no allocation (and so no handle, scope or
//! event); an audited one does, which shows the counter counts.

use audit_core::Auditor;
use audit_core::store::MemoryStore;
use audit_tower::AuditLayer;
use http::{Method, Request, Response};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use std::alloc::System;
use std::convert::Infallible;
use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use tower::{Layer, Service, service_fn};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

#[test]
fn unaudited_requests_do_not_allocate() {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let _entered = runtime.enter();
    let auditor = Auditor::builder(Arc::new(MemoryStore::new())).build();
    let layer = AuditLayer::new(auditor).with_sensitive_routes(["/patients/{id}"]).with_skipped_routes(["/health"]);
    let mut service =
        layer.layer(service_fn(|_req: Request<()>| std::future::ready(Ok::<_, Infallible>(Response::new(())))));
    let mut cx = Context::from_waker(Waker::noop());

    let unaudited = [
        (Method::GET, "/items/1"),
        (Method::HEAD, "/items/1"),
        (Method::OPTIONS, "/items/1"),
        (Method::GET, "/patients"),  // not the sensitive template (no id)
        (Method::GET, "/doctors/1"), // another route
        (Method::POST, "/health"),   // skipped
        (Method::DELETE, "/health"), // skipped
    ];
    for (method, path) in unaudited {
        let request = Request::builder().method(method.clone()).uri(path).body(()).expect("request");
        let region = Region::new(GLOBAL);
        assert!(service.poll_ready(&mut cx).is_ready());
        let future = pin!(service.call(request));
        let Poll::Ready(Ok(response)) = future.poll(&mut cx) else { panic!("the inner service is ready at once") };
        assert!(!response.headers().contains_key("x-request-id"));
        drop(response);
        let change = region.change();
        assert_eq!(change.allocations + change.reallocations, 0, "{method} {path} allocated: {change:?}");
    }

    let request = Request::builder().method(Method::POST).uri("/items").body(()).expect("request");
    let region = Region::new(GLOBAL);
    let future = service.call(request);
    assert!(region.change().allocations > 0, "an audited request allocates its handle and scope");
    drop(future); // recorded as aborted; nothing else to check here
}

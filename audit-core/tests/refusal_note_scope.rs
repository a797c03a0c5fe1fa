//! The writer's note that the store refused one event is its own: it carries nothing of the
//! scope of the task that happens to run the append. Written on a request's task (the writer
//! idle, `record` appends there), the note took the request's context, with the very value
//! the store refused; the writer then took the refused note for a store refusing every event,
//! held the events and reported the store unhealthy (waking fail-open responses early, making
//! fail-closed layers answer 503) until its own task tried again.

use audit_core::store::{AppendError, AuditStore, Head, LineStream, MemoryStore, Query, QueryPage, StoreError};
use audit_core::{AuditScope, Auditor, EventDraft, RecordError, SealedEvent};
use futures_util::FutureExt;
use std::sync::Arc;

/// Refuses, like a database's data error, every batch holding the user agent `poison-agent`.
struct RefusingStore(MemoryStore);

#[async_trait::async_trait]
impl AuditStore for RefusingStore {
    async fn head(&self, chain: &str) -> Result<Head, StoreError> {
        self.0.head(chain).await
    }
    async fn append(&self, chain: &str, expected: Head, batch: &[SealedEvent]) -> Result<Head, AppendError> {
        if batch.iter().any(|event| event.event.context.user_agent.as_deref() == Some("poison-agent")) {
            return Err(AppendError::RefusedValue { reason: "invalid byte sequence (poison-agent)".into() });
        }
        self.0.append(chain, expected, batch).await
    }
    fn read(&self, chain: &str, from: u64, to: Option<u64>) -> LineStream<'_> {
        self.0.read(chain, from, to)
    }
    async fn query(&self, query: &Query) -> Result<QueryPage, StoreError> {
        self.0.query(query).await
    }
}

#[tokio::test]
async fn a_refusal_note_written_on_a_requests_task_carries_none_of_its_context() {
    let store = Arc::new(RefusingStore(MemoryStore::new()));
    let auditor = Auditor::builder(store.clone()).build();
    let mut unhealthy = Box::pin(auditor.until_unhealthy());
    assert!(unhealthy.as_mut().now_or_never().is_none(), "healthy, and now listening");

    let scope = AuditScope::new();
    scope.update_context(|context| context.user_agent = Some("poison-agent".into()));
    let refused = scope.run(auditor.record(EventDraft::new("update"))).await;
    assert!(matches!(refused, Err(RecordError::Rejected(_))), "{refused:?}");
    assert!(unhealthy.as_mut().now_or_never().is_none(), "one refused value is not a failing store");
    assert!(auditor.stats().healthy);

    let notes = store.0.events("default");
    assert_eq!(notes.len(), 1, "the note");
    assert_eq!(notes[0].event.action, audit_core::REFUSAL_ACTION);
    assert_eq!(notes[0].event.context.user_agent, None, "nothing of the request's scope");
    auditor.shutdown().await;
}

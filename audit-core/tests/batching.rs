//! How the writer batches: events no one waits for wait for the tasks about to record, so
//! that they share an append; an event someone waits for is written at once.
//!
//! On a current-thread runtime the order in which tasks run is fixed, so these tests see
//! exactly which events shared an append.

use audit_core::store::{AppendError, AuditStore, Head, LineStream, MemoryStore, Query, QueryPage, StoreError};
use audit_core::{Auditor, EventDraft, SealedEvent};
use std::sync::{Arc, Mutex};

/// A [`MemoryStore`] that remembers the actions of each append.
#[derive(Default)]
struct BatchLog {
    inner: MemoryStore,
    appends: Mutex<Vec<Vec<String>>>,
}

impl BatchLog {
    fn appends(&self) -> Vec<Vec<String>> {
        self.appends.lock().expect("lock").clone()
    }
}

#[async_trait::async_trait]
impl AuditStore for BatchLog {
    async fn head(&self, chain: &str) -> Result<Head, StoreError> {
        self.inner.head(chain).await
    }
    async fn append(&self, chain: &str, expected: Head, batch: &[SealedEvent]) -> Result<Head, AppendError> {
        let head = self.inner.append(chain, expected, batch).await?;
        self.appends.lock().expect("lock").push(batch.iter().map(|sealed| sealed.event.action.clone()).collect());
        Ok(head)
    }
    fn read(&self, chain: &str, from: u64, to: Option<u64>) -> LineStream<'_> {
        self.inner.read(chain, from, to)
    }
    async fn query(&self, query: &Query) -> Result<QueryPage, StoreError> {
        self.inner.query(query).await
    }
}

/// Queues `first` (waited for, or not), then spawns a task that queues `second` detached,
/// and waits until both are written. Returns the actions of each append.
async fn first_then_a_task_recording(first_waited_for: bool) -> Vec<Vec<String>> {
    let store = Arc::new(BatchLog::default());
    let auditor = Auditor::builder(store.clone()).build();
    // The writer's first poll: it reads the (empty) chain's head, then waits for events.
    tokio::task::yield_now().await;
    let ticket = match first_waited_for {
        true => Some(auditor.try_record(EventDraft::new("first")).expect("queued")),
        false => {
            auditor.try_record_detached(EventDraft::new("first")).expect("queued");
            None
        }
    };
    // Runnable after the writer, which the first event woke.
    let other = auditor.clone();
    let second = tokio::spawn(async move {
        other.try_record_detached(EventDraft::new("second")).expect("queued");
    });
    if let Some(ticket) = ticket {
        ticket.await.expect("first written");
    }
    second.await.expect("task");
    auditor.shutdown().await;
    assert_eq!(auditor.stats().written, 2);
    store.appends()
}

#[tokio::test(flavor = "current_thread")]
async fn events_no_one_waits_for_wait_for_the_tasks_about_to_record() {
    assert_eq!(first_then_a_task_recording(false).await, vec![vec!["first", "second"]]);
}

#[tokio::test(flavor = "current_thread")]
async fn an_event_someone_waits_for_is_written_without_waiting_for_other_tasks() {
    assert_eq!(first_then_a_task_recording(true).await, vec![vec!["first"], vec!["second"]]);
}

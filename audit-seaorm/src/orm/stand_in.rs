//! Stand-in events: the `bulk` event that stands, from the moment a hooked write's
//! statement runs, for the event its `after_*` hook will send (see [`Ran`](super::tracker::Ran)). Inside a
//! transaction it waits in the buffer, at the write's place; on the autocommit connection it
//! is held by the connection's tracker, and recorded if the hook is known not to come: the
//! task's read-back of the row was dropped ([`StandInGuard`]), a minute passed, or
//! [`crate::orm::AuditedDb::flush`].

use super::conn::{DbShared, InFlightGuard, Target, lock, without_scope};
use super::event::{self, OrmEvent};
use super::tracker::{Pending, StandIn, Token};
use audit_core::{Auditor, EventDraft};
use serde_json::json;
use std::sync::atomic::Ordering;

impl DbShared {
    /// The `bulk` event that stands in for a hooked write that just ran until its `after_*`
    /// hook sends the write's own event (see [`Ran`](super::tracker::Ran)): built now, with the actor and context of
    /// the moment the write ran, the old values if `before_*` read them, no new ones.
    pub(super) fn stand_in(&self, token: &Token, affected: Option<u64>, pending: Option<&Pending>) -> OrmEvent {
        let inserted = token.inserted.as_deref();
        let mut event = OrmEvent::new("bulk", &token.table, token.shown_key.clone().unwrap_or_default());
        event.details.insert("verb".into(), json!(token.verb.as_str()));
        event.details.insert("reason".into(), json!("the write ran but its after_save/after_delete hook did not"));
        event.details.insert("rows_affected".into(), json!(affected));
        let redact = match (pending, inserted) {
            (Some(pending), _) => {
                event.changes = event::deleted(pending.old.clone());
                &pending.redact[..]
            }
            // The values the model set, as sent (the database's defaults and generated
            // columns are not known).
            (None, Some(inserted)) => {
                event.changes = event::created(inserted.row.clone());
                &inserted.redact[..]
            }
            (None, None) => &[],
        };
        let redact: Vec<&str> = redact.iter().map(String::as_str).collect();
        event.redact(&self.redaction, &redact, &self.auditor);
        event
    }

    /// The `after_*` hook's event takes its stand-in's place. `None` with the old row known
    /// means the write changed nothing: the stand-in goes too; `None` without it (a delete
    /// whose old row was not read) keeps the stand-in, the only record of the write. A
    /// [`StandIn::Nothing`] (the write wrote nothing) drops the event. Returns the event to
    /// emit: autocommit, no stand-in, or one rolled back with a savepoint.
    pub(super) fn replace_stand_in(
        &self,
        target: Target<'_>,
        stand_in: Option<StandIn>,
        event: Option<OrmEvent>,
        old_known: bool,
    ) -> Option<OrmEvent> {
        let (state, id) = match (target, stand_in) {
            // Nothing written, or the write recorded already by its stand-in.
            (_, Some(StandIn::Nothing | StandIn::Recorded)) => return None,
            (Target::Tx(state, _), Some(StandIn::Buffered(id))) => (state, id),
            (Target::Auto, Some(StandIn::Held(held))) => {
                self.auto_ran.fetch_sub(1, Ordering::Relaxed);
                return if event.is_none() && !old_known { Some(*held) } else { event };
            }
            _ => return event,
        };
        let mut state = lock(state);
        let Some(slot) = state.events.iter_mut().rev().find(|e| e.id == id) else { return event };
        match event {
            // With the stand-in's id and time, fixed when the write's statement ran: writes of
            // the transaction that came before the hook have later ones, so ids keep the order
            // of the writes, in which outbox recovery seals (it reads the outbox by id).
            Some(event) => *slot = OrmEvent { id: slot.id, ts: slot.ts, ..event },
            None if old_known => slot.void = true,
            None => {}
        }
        None
    }

    /// Drops the stand-ins of rows their statement did not write (see
    /// [`Tracker::ran`](super::tracker::Tracker::ran)).
    pub(super) fn drop_stand_ins(&self, target: Target<'_>, skipped: Vec<StandIn>) {
        if skipped.is_empty() {
            return;
        }
        let buffered: Vec<uuid::Uuid> = skipped
            .into_iter()
            .filter_map(|stand_in| match stand_in {
                StandIn::Buffered(id) => Some(id),
                StandIn::Held(_) => {
                    self.auto_ran.fetch_sub(1, Ordering::Relaxed);
                    None
                }
                StandIn::Nothing | StandIn::Recorded => None,
            })
            .collect();
        if let (Target::Tx(state, _), false) = (target, buffered.is_empty()) {
            for event in lock(state).events.iter_mut().filter(|e| buffered.contains(&e.id)) {
                event.void = true;
            }
        }
    }

    /// Arms a guard while a statement runs on the autocommit connection that may be the
    /// read-back of hooked writes of its task waiting for their `after_*` hook (on MySQL,
    /// SeaORM reads a written row back, by its key, before the hook). If the task's future is
    /// dropped meanwhile (a client disconnect cancels its request), the hook will not come,
    /// and the guard records those stand-ins; nothing else would, the writes being committed
    /// already. Other statements of the task (a `select!` sibling, say) do not arm it for
    /// them, so that a hook still to come does not find its write recorded already.
    pub(super) fn guard_stand_ins(&self, target: Target<'_>, sql: &str, values: &[sea_orm::Value]) -> StandInGuard<'_> {
        let mut guard = StandInGuard { shared: self, held: Vec::new() };
        if matches!(target, Target::Auto) && self.auto_ran.load(Ordering::Relaxed) > 0 {
            guard.held = lock(&self.auto).held_for(tokio::task::try_id(), sql, values);
        }
        guard
    }

    /// Records, without waiting, held stand-ins taken out of the autocommit tracker because
    /// their hook will not come (`Drop`, expiry and `flush` cannot wait for room in the queue;
    /// what does not fit now is queued by a task of its own).
    pub(super) fn record_stand_ins(&self, events: Vec<OrmEvent>) {
        if events.is_empty() {
            return;
        }
        self.auto_ran.fetch_sub(events.len(), Ordering::Relaxed);
        // (Drafts the auditor refuses for good, shut down, are not counted: no one is left to
        // tell.)
        let rest = without_scope(|| {
            self.auditor.try_record_all_detached(events.iter().map(|event| self.draft_of(event))).rest
        });
        if !rest.is_empty() {
            queue_in_background(self.auditor.clone(), rest, self.in_flight.start());
        }
    }

    /// Queues held stand-ins taken out of the autocommit tracker, in order, each once there
    /// is room, before returning: for [`crate::orm::AuditedDb::flush`], after which the
    /// auditor is shut down (events still waiting for room in a task of their own would be
    /// refused by then, and lost without a word).
    pub(super) async fn queue_stand_ins(&self, events: Vec<OrmEvent>) -> Result<(), audit_core::RecordError> {
        if events.is_empty() {
            return Ok(());
        }
        self.auto_ran.fetch_sub(events.len(), Ordering::Relaxed);
        // Outside the caller's scope, as `without_scope` does for the calls that do not wait.
        audit_core::AuditScope::new()
            .run(async {
                for event in &events {
                    drop(self.auditor.record_buffered(self.draft_of(event)).await?);
                }
                Ok(())
            })
            .await
    }
}

/// Queues `drafts` in order, each once there is room, without holding up the caller: on a
/// task of the current tokio runtime, or, called outside one (a future dropped by another
/// executor or on a plain thread), on a thread of its own. Stops if the auditor is shut down.
/// `in_flight` is dropped when it ends (so that [`crate::orm::AuditedDb::flush`] waits for it).
fn queue_in_background(auditor: Auditor, drafts: Vec<EventDraft>, in_flight: InFlightGuard) {
    let queue = async move {
        let _in_flight = in_flight;
        for draft in drafts {
            if auditor.record_buffered(draft).await.is_err() {
                break; // shut down: nothing more is accepted
            }
        }
    };
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => drop(runtime.spawn(queue)),
        Err(_) => drop(std::thread::spawn(move || {
            // The queue's channel needs no runtime of its own to wait on; this one only polls.
            if let Ok(runtime) = tokio::runtime::Builder::new_current_thread().build() {
                runtime.block_on(queue);
            }
        })),
    }
}

/// See [`DbShared::guard_stand_ins`].
pub(super) struct StandInGuard<'a> {
    shared: &'a DbShared,
    /// The stand-ins to record if dropped armed (disarmed: empty).
    pub(super) held: Vec<uuid::Uuid>,
}

impl Drop for StandInGuard<'_> {
    fn drop(&mut self) {
        if !self.held.is_empty() {
            let events = lock(&self.shared.auto).take_held(&self.held);
            self.shared.record_stand_ins(events);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::orm::conn::InFlight;
    use audit_core::store::MemoryStore;
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn events_are_queued_from_outside_a_runtime_too() {
        let store = Arc::new(MemoryStore::new());
        let auditor = Auditor::builder(store.clone()).build();
        let drafts = vec![EventDraft::new("bulk"), EventDraft::new("bulk")];
        let handed = auditor.clone();
        std::thread::spawn(move || {
            assert!(tokio::runtime::Handle::try_current().is_err(), "no runtime on this thread");
            queue_in_background(handed, drafts, Arc::new(InFlight::default()).start());
        })
        .join()
        .expect("the plain thread");
        // Not a speed check: a generous bound so that a broken fallback fails instead of hanging.
        let deadline = Instant::now() + Duration::from_secs(60);
        while auditor.stats().written < 2 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(auditor.stats().written, 2, "both events reached the store");
        auditor.shutdown().await;
    }
}

//! [`ResponseFuture`]: the inner service's future, then the recording of the request's events.

use crate::layer::{Config, Counters, UnhealthyPolicy};
use crate::request::{Started, X_REQUEST_ID, outside_scope, record_detached_with};
use audit_core::scope::ScopedFuture;
use audit_core::{Auditor, EventDraft, Outcome, RecordError, Reserved, Ticket, TryRecordError};
use http::{Response, StatusCode};
use pin_project_lite::pin_project;
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;
use tokio::time::Sleep;

pin_project! {
    /// The response future of [`Audit`](crate::Audit).
    ///
    /// For an audited request it runs the inner future inside the request's
    /// [`audit_core::AuditScope`], then hands the request's events to the writer and, under
    /// acknowledged delivery, waits until they are durable before yielding the response
    /// (with its `x-request-id` header); under [`UnhealthyPolicy::FailOpen`], only until the
    /// auditor finds the store failing or the ack timeout passes (a timer: poll it inside a
    /// tokio runtime with timers enabled, as the auditor's writer needs too).
    ///
    /// Dropped before the inner future answered (the client went away, a timeout, a panic),
    /// it records the request as a `failure` with reason `aborted` (or `panic` while
    /// unwinding, or after a panic unwound out of the inner future's poll and was caught
    /// outside). `Drop` cannot wait, so the events are queued with
    /// [`Auditor::try_record_detached`]; if the queue is full, one task is spawned that waits
    /// for room (only on this path: the normal path spawns nothing), unless
    /// [`MAX_DETACHED_WAITERS`](crate::MAX_DETACHED_WAITERS) such tasks already wait: then the
    /// events are counted in [`LayerStats::unrecorded`](crate::LayerStats::unrecorded).
    /// Dropped while its events were being recorded, the ones not yet queued are queued the
    /// same way.
    pub struct ResponseFuture<F>
    where
        F: Future,
    {
        #[pin]
        state: State<F>,
        started: Option<Box<Started>>,
        recording: Option<Box<Recording>>,
        output: Option<F::Output>,
        // True while the inner future is polled: still true at `drop` if a panic unwound
        // out of that poll, even when a `catch_unwind` outside (tower-http's
        // `CatchPanicLayer`) stopped the unwinding before this future was dropped.
        polling_inner: bool,
    }

    impl<F> PinnedDrop for ResponseFuture<F>
    where
        F: Future,
    {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if let Some(started) = this.started.take() {
                let reason = if std::thread::panicking() || *this.polling_inner { "panic" } else { "aborted" };
                started.abort(reason);
            }
            if let Some(recording) = this.recording.take() {
                recording.abandon();
            }
        }
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F> {
        // Not audited: the inner future, untouched.
        Passthrough { #[pin] future: F },
        // Audited: the inner future inside the request's scope.
        Audited { #[pin] future: ScopedFuture<F> },
        // The inner future has answered (or never ran).
        Done,
    }
}

impl<F: Future> ResponseFuture<F> {
    pub(crate) fn passthrough(future: F) -> Self {
        ResponseFuture {
            state: State::Passthrough { future },
            started: None,
            recording: None,
            output: None,
            polling_inner: false,
        }
    }

    pub(crate) fn audited(future: ScopedFuture<F>, started: Option<Box<Started>>) -> Self {
        ResponseFuture {
            state: State::Audited { future },
            started,
            recording: None,
            output: None,
            polling_inner: false,
        }
    }

    pub(crate) fn ready<B, E>(response: Response<B>) -> Self
    where
        F: Future<Output = Result<Response<B>, E>>,
    {
        ResponseFuture {
            state: State::Done,
            started: None,
            recording: None,
            output: Some(Ok(response)),
            polling_inner: false,
        }
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: Default,
{
    type Output = Result<Response<B>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Passthrough { future } => return future.poll(cx),
                StateProj::Audited { future } => {
                    *this.polling_inner = true;
                    let output = future.poll(cx);
                    *this.polling_inner = false;
                    let output = ready!(output);
                    this.state.set(State::Done);
                    let Some(mut started) = this.started.take() else {
                        return Poll::Ready(output);
                    };
                    let config = Arc::clone(&started.config);
                    let responded = output.is_ok();
                    let (output, drafts) = match output {
                        Ok(mut response) => {
                            if let Some(id) = started.take_header() {
                                response.headers_mut().insert(X_REQUEST_ID, id);
                            }
                            let drafts = started.drafts(Some(response.status()), None);
                            (Ok(response), drafts)
                        }
                        Err(error) => (Err(error), started.drafts(None, Some("service error"))),
                    };
                    *this.output = Some(output);
                    *this.recording = Some(Box::new(Recording::new(&config, drafts, responded)));
                }
                StateProj::Done => {
                    if let Some(recording) = this.recording.as_mut() {
                        let recorded = ready!(recording.poll(cx));
                        *this.recording = None;
                        if !recorded && let Some(Ok(response)) = this.output.as_mut() {
                            // The events could not be recorded: do not release the response
                            // as if they had been.
                            let mut failed = Response::new(B::default());
                            *failed.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
                            if let Some(id) = response.headers().get(X_REQUEST_ID) {
                                failed.headers_mut().insert(X_REQUEST_ID, id.clone());
                            }
                            *response = failed;
                        }
                    }
                    return Poll::Ready(this.output.take().expect("ResponseFuture polled after it completed"));
                }
            }
        }
    }
}

type Queuing = Pin<Box<dyn Future<Output = Result<Ticket, RecordError>> + Send>>;

/// [`Auditor::until_unhealthy`], boxed.
type UntilUnhealthy = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Hands a request's events to the writer, in order, and (acknowledged) waits for them.
///
/// Each draft is offered with [`Auditor::try_record`], which costs no allocation or task; only
/// when the queue is full is a boxed [`Auditor::record_buffered`] awaited (backpressure), with
/// a copy of the draft kept in case this is dropped meanwhile.
///
/// Acknowledged, when the handler added events, the request's own event is queued only once
/// theirs are durable (one more append for such requests): the store can refuse an event
/// after it was queued, and the own event then records the `500` the client gets. A place in
/// the queue is kept for it meanwhile ([`Auditor::try_reserve_place`], once the added events
/// are queued), so that a shutdown of the auditor still writes it; when the queue has no room
/// for that, it waits all the same, and is then queued as any event is (a shutdown meanwhile
/// refuses it: the response becomes a `500`, the event is counted unrecorded).
///
/// Under [`UnhealthyPolicy::FailOpen`], waiting for durability stops once the store is found
/// failing (or the [`AuditLayer::with_ack_timeout`](crate::AuditLayer::with_ack_timeout) has
/// passed): the events are queued, the writer writes them when the store recovers. The
/// writer wakes the response when it finds the store failing
/// ([`Auditor::until_unhealthy`]); that wait (and the timeout's timer, if one is set) is
/// allocated only once a ticket is still pending after the events were queued.
pub(crate) struct Recording {
    auditor: Auditor,
    counters: Arc<Counters>,
    queue: VecDeque<EventDraft>,
    /// Waiting for room in the queue, and the draft being queued.
    waiting: Option<(Queuing, EventDraft)>,
    tickets: Vec<Ticket>,
    acknowledged: bool,
    /// Acknowledged, and the handler added events: the request's own event (last in `queue`)
    /// is queued only once theirs are settled, so that it records a refusal of theirs.
    own_waits: bool,
    /// The place kept in the queue for the own event while it waits: taken once the added
    /// events are all queued (so that none of them waits for room behind it; without room,
    /// the own event waits without a place), so that a shutdown meanwhile still writes it.
    own_place: Option<Reserved>,
    /// The inner service answered with a response, which a failure replaces with a `500`:
    /// the own event is amended to say so. Without one (a service error), the client gets the
    /// error, and the own event keeps saying that (no status, `service error`).
    responded: bool,
    failed: bool,
    /// Fail open: pending tickets are given up once the store is unhealthy.
    fail_open: bool,
    ack_timeout: Option<Duration>,
    /// Fail open, tickets pending: woken when the auditor finds the store failing.
    unhealthy: Option<UntilUnhealthy>,
    /// Fail open, tickets pending: when they are given up even if the store looks healthy
    /// (from `ack_timeout`).
    deadline: Option<Pin<Box<Sleep>>>,
    /// Fail open: waiting was given up once (the store was found failing, or the ack timeout
    /// passed), so later tickets (the own event's, after the added events') are not waited
    /// for either, and the finished `unhealthy` future is not polled again.
    gave_up: bool,
}

impl Recording {
    fn new(config: &Config, drafts: VecDeque<EventDraft>, responded: bool) -> Recording {
        let acknowledged = config.acknowledged_now();
        Recording {
            auditor: config.auditor.clone(),
            counters: Arc::clone(&config.counters),
            own_waits: acknowledged && drafts.len() > 1,
            own_place: None,
            responded,
            queue: drafts,
            waiting: None,
            tickets: Vec::new(),
            acknowledged,
            failed: false,
            fail_open: config.unhealthy == UnhealthyPolicy::FailOpen,
            ack_timeout: config.ack_timeout,
            unhealthy: None,
            deadline: None,
            gave_up: false,
        }
    }

    fn accepted(&mut self, ticket: Ticket) {
        if self.acknowledged {
            self.tickets.push(ticket);
        }
    }

    fn lost(&mut self, events: u64) {
        self.failed = true;
        Counters::add(&self.counters.unrecorded, events);
    }

    /// The auditor refused the draft just offered (at once, or after waiting for room).
    fn refused(&mut self, error: &RecordError) {
        self.lost(1);
        self.amend_own(error);
    }

    /// An event the handler added could not be recorded, so the response becomes a 500: the
    /// request's own event, if still to be queued (last in `queue`), says so, so that the
    /// trail and the client agree. Not when there is no response to replace (a service
    /// error reaches the client as it is, as the own event says).
    fn amend_own(&mut self, error: &RecordError) {
        if !self.responded {
            return;
        }
        if let Some(mut own) = self.queue.pop_back() {
            own.context_mut().status = Some(StatusCode::INTERNAL_SERVER_ERROR.as_u16().into());
            let reason = format!("audit: an event the handler added could not be recorded ({error})");
            self.queue.push_back(own.outcome(Outcome::Failure).reason(reason));
        }
    }

    /// `Ready(true)` once every event is queued (buffered) or durable (acknowledged);
    /// `Ready(false)` if any could not be recorded. Outside any scope the caller polls it in
    /// (its drafts carry the request's actor and context whole, see [`outside_scope`]).
    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<bool> {
        outside_scope(|| self.poll_queue(cx))
    }

    /// [`Recording::poll`], in the scope it makes.
    fn poll_queue(&mut self, cx: &mut Context<'_>) -> Poll<bool> {
        loop {
            if let Some((queuing, _)) = self.waiting.as_mut() {
                let result = ready!(queuing.as_mut().poll(cx));
                self.waiting = None;
                match result {
                    Ok(ticket) => self.accepted(ticket),
                    Err(error) => self.refused(&error),
                }
            }
            if self.own_waits && self.queue.len() == 1 {
                // Only the request's own event is left: first wait for the added events (a
                // store can refuse one after it was queued, e.g. an id the chain holds), in a
                // place kept for it if the queue has room for one. The added events are
                // queued already, so the writer needs nothing from this place to write them.
                if self.own_place.is_none() {
                    self.own_place = self.auditor.try_reserve_place();
                }
                ready!(self.poll_tickets(cx));
                self.own_waits = false;
            }
            let Some(draft) = self.queue.pop_front() else { break };
            if self.queue.is_empty()
                && let Some(place) = self.own_place.take()
            {
                // The own event, in the place kept for it.
                match place.record(draft) {
                    Ok(ticket) => self.tickets.push(ticket),
                    Err(error) => self.refused(&error),
                }
                continue;
            }
            let queued = if self.acknowledged {
                self.auditor.try_record(draft).map(|ticket| self.tickets.push(ticket))
            } else {
                // No one waits for a buffered event: no ticket.
                self.auditor.try_record_detached(draft).map(drop)
            };
            match queued {
                Ok(()) => {}
                Err(TryRecordError::Full { draft, .. }) => {
                    let copy = (*draft).clone();
                    let auditor = self.auditor.clone();
                    let queuing: Queuing = Box::pin(async move { auditor.record_buffered(*draft).await });
                    self.waiting = Some((queuing, copy));
                }
                Err(TryRecordError::Record(error)) => self.refused(&error),
            }
        }
        ready!(self.poll_tickets(cx));
        Poll::Ready(!self.failed)
    }

    /// `Ready` once every queued event's ticket is settled: durable, or not written (the
    /// store refused it, or the writer went away before writing it), which amends the own
    /// event if it is still to be queued. Fail open, also once waiting is given up
    /// ([`Recording::poll_give_up`]).
    fn poll_tickets(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let mut lost = 0;
        let mut first_error = None;
        self.tickets.retain_mut(|ticket| match Pin::new(ticket).poll(cx) {
            Poll::Pending => true,
            Poll::Ready(Ok(_receipt)) => false,
            Poll::Ready(Err(error)) => {
                lost += 1;
                first_error.get_or_insert(error);
                false
            }
        });
        if lost > 0 {
            self.lost(lost);
        }
        if let Some(error) = first_error {
            self.amend_own(&error);
        }
        if !self.tickets.is_empty() {
            if !self.fail_open {
                return Poll::Pending;
            }
            ready!(self.poll_give_up(cx));
            // Every event is queued: the writer writes them once the store takes them, and
            // the dropped tickets' receipts are not needed for that.
            self.tickets.clear();
        }
        Poll::Ready(())
    }

    /// Fail open, tickets pending: `Ready` once the auditor finds the store failing or the ack
    /// timeout (counted from the first call) has passed.
    /// Once `Ready`, always `Ready` at once (an `async` block polled after it finished
    /// panics).
    fn poll_give_up(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if self.gave_up {
            return Poll::Ready(());
        }
        let auditor = &self.auditor;
        let unhealthy = self.unhealthy.get_or_insert_with(|| Box::pin(auditor.until_unhealthy()));
        if unhealthy.as_mut().poll(cx).is_pending() {
            if self.deadline.is_none()
                && let Some(timeout) = self.ack_timeout
            {
                self.deadline = Some(Box::pin(tokio::time::sleep(timeout)));
            }
            ready!(self.deadline.as_mut().map_or(Poll::Pending, |deadline| deadline.as_mut().poll(cx)));
        }
        self.gave_up = true;
        self.unhealthy = None;
        self.deadline = None;
        Poll::Ready(())
    }

    /// Dropped before done: queue what was not queued yet (the draft waiting for room was
    /// not sent: `record_buffered` sends within the poll that finds room, and that poll would
    /// have returned `Ready`). Queued events need no one to wait for them.
    fn abandon(mut self: Box<Self>) {
        let mut rest: Vec<EventDraft> = Vec::with_capacity(self.queue.len() + 1);
        if let Some((_, draft)) = self.waiting.take() {
            rest.push(draft);
        }
        rest.extend(self.queue.drain(..));
        if let (Some(place), [_]) = (self.own_place.take(), &rest[..]) {
            // Only the own event is left, and its place is kept: queued there, it is written
            // even if the auditor is shutting down. (With added events still to queue, the
            // place is given back and all go in order below.)
            if let Some(own) = rest.pop()
                && outside_scope(|| place.record(own)).is_err()
            {
                Counters::add(&self.counters.unrecorded, 1);
            }
            return;
        }
        if !rest.is_empty() {
            record_detached_with(&self.auditor, &self.counters, rest);
        }
    }
}

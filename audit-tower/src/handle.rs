//! [`AuditHandle`]: the audited request's shared handle, and its axum extractor.

use crate::layer::Config;
use crate::request::{cut_marked, fit_actor, fit_added, record_detached};
use audit_core::scope::ScopeState;
use audit_core::{Actor, AuditScope, EventDraft, Resource};
use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::response::{IntoResponse, Response};
use http::request::Parts;
use http::{Extensions, StatusCode};
use serde_json::{Map, Value};
use std::convert::Infallible;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};

/// The audit handle of one audited request: authentication middleware and handlers name the
/// actor and add to the request's event through it.
///
/// [`AuditLayer`](crate::AuditLayer) puts one into the request's extensions before calling the
/// inner service, and reads it when the response comes back, so what is set here, by
/// anything running inside the layer, ends up in the event. It is cheap to clone (one `Arc`)
/// and every clone is the same handle.
///
/// As an axum extractor, `AuditHandle` rejects a request the layer does not audit with a
/// `500` (a handler that needs its request audited then fails loudly in development, rather
/// than losing its events); `Option<AuditHandle>` never rejects, for middleware that runs on
/// every route. Outside axum, use [`AuditHandle::from_extensions`].
///
/// The layer takes what was added when the inner service answers (or the request is
/// dropped). A clone that outlives the request can still [`add_event`](Self::add_event)
/// (the event is then queued on its own); the other setters have no effect any more.
///
/// ```
/// use audit_core::{Actor, EventDraft, Outcome};
/// use audit_tower::AuditHandle;
/// use axum::http::StatusCode;
///
/// async fn login(audit: AuditHandle /* , Json(form): Json<Login> */) -> StatusCode {
///     let (user, password_ok) = ("bob", false);
///     if !password_ok {
///         audit.add_event(
///             EventDraft::new("login_failed").actor(Actor::user(user)).outcome(Outcome::Denied),
///         );
///         return StatusCode::UNAUTHORIZED;
///     }
///     audit.set_actor(Actor::user(user).with_auth("password"));
///     StatusCode::NO_CONTENT
/// }
/// ```
#[derive(Clone)]
pub struct AuditHandle {
    inner: Arc<Shared>,
}

struct Shared {
    scope: AuditScope,
    request_id: String,
    config: Arc<Config>,
    state: Mutex<HandleState>,
}

/// What the application added, taken by the layer when the request ends.
#[derive(Debug, Default)]
pub(crate) struct HandleState {
    /// True once the layer has taken the rest: later events are recorded on their own.
    closed: bool,
    pub(crate) resource: Option<Resource>,
    pub(crate) details: Map<String, Value>,
    pub(crate) justification: Option<String>,
    pub(crate) tags: Vec<String>,
    pub(crate) reason: Option<String>,
    pub(crate) events: Vec<EventDraft>,
}

impl fmt::Debug for AuditHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuditHandle")
            .field("request_id", &self.inner.request_id)
            .field("scope", &self.inner.scope)
            .field("state", &*self.state())
            .finish()
    }
}

impl AuditHandle {
    pub(crate) fn new(scope: AuditScope, request_id: String, config: Arc<Config>) -> AuditHandle {
        AuditHandle { inner: Arc::new(Shared { scope, request_id, config, state: Mutex::new(HandleState::default()) }) }
    }

    fn state(&self) -> MutexGuard<'_, HandleState> {
        // Every update is a plain assignment or push: a panic elsewhere cannot leave the state
        // half-written, so a poisoned lock is still usable.
        self.inner.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The handle of the audited request whose extensions these are, if any.
    pub fn from_extensions(extensions: &Extensions) -> Option<AuditHandle> {
        extensions.get::<AuditHandle>().cloned()
    }

    /// Names who is acting. It goes to the request's [`AuditScope`] too, so events recorded
    /// later in the request without an actor (ORM hooks, [`audit_core::Auditor::record`])
    /// get it. Replaces an actor set earlier or derived by
    /// [`AuditLayer::on_actor`](crate::AuditLayer::on_actor).
    ///
    /// An actor taken from the request is fitted so that the request is still recorded: an
    /// empty id names no one (`anonymous`); an id, `auth` or `session` over
    /// [`MAX_INDEXED_FIELD_BYTES`](audit_core::event::MAX_INDEXED_FIELD_BYTES) is cut and
    /// marked with a hash of its whole value, as [`set_resource`](Self::set_resource) does.
    /// Once the request is recorded, it has no effect (the events a clone adds later keep the
    /// request's actor).
    pub fn set_actor(&self, actor: Actor) {
        let state = self.state();
        if !state.closed {
            self.inner.scope.set_actor(fit_actor(actor));
        }
    }

    /// The actor named so far, if any.
    pub fn actor(&self) -> Option<Actor> {
        self.inner.scope.actor()
    }

    /// Replaces the resource derived from the route (see the crate documentation). A type or
    /// id over [`MAX_INDEXED_FIELD_BYTES`](audit_core::event::MAX_INDEXED_FIELD_BYTES) (what
    /// stores index, and the most an event takes) is cut and marked with a hash of its whole
    /// value, as a long path parameter is, so that the request's event is still recorded.
    pub fn set_resource(&self, kind: impl Into<String>, id: impl Into<String>) {
        let max = audit_core::event::MAX_INDEXED_FIELD_BYTES;
        let resource = Resource::new(cut_marked(kind.into(), max), cut_marked(id.into(), max));
        self.state().resource = Some(resource);
    }

    /// Adds a detail to the request's event (`details.<key>`). The layer's own
    /// `client_request_id` wins over a detail of that name.
    pub fn add_detail(&self, key: impl Into<String>, value: Value) {
        self.state().details.insert(key.into(), value);
    }

    /// Sets why a person did it (break-glass access, admin changes).
    pub fn set_justification(&self, justification: impl Into<String>) {
        self.state().justification = Some(justification.into());
    }

    /// Adds a tag to the request's event (e.g. `privileged`, `break_glass`).
    pub fn add_tag(&self, tag: impl Into<String>) {
        self.state().tags.push(tag.into());
    }

    /// Sets why the request failed or was denied. The layer's own reasons (`aborted`,
    /// `panic`) take precedence; without either, a failed or denied request gets its status's
    /// reason phrase (`Forbidden`).
    pub fn set_reason(&self, reason: impl Into<String>) {
        self.state().reason = Some(reason.into());
    }

    /// Adds an event of the application's own (`login_failed`, `export`, …), recorded
    /// before the request's event, with the same delivery. Without an actor it gets the
    /// request's; its unset context fields come from the request (status and duration
    /// included). Its actor and resource are fitted as [`set_actor`](Self::set_actor) and
    /// [`set_resource`](Self::set_resource) fit the request's (a user name from a login form
    /// may be empty or huge).
    ///
    /// If the request has already been recorded (the handle outlived it, e.g. in a spawned
    /// task), the event is queued on its own at once, with the request's actor and context
    /// (like a dropped request's event: if the queue is full, a task waits for room, within
    /// [`MAX_DETACHED_WAITERS`](crate::MAX_DETACHED_WAITERS)).
    pub fn add_event(&self, event: EventDraft) {
        let mut state = self.state();
        if !state.closed {
            state.events.push(event);
            return;
        }
        drop(state);
        let snapshot = self.inner.scope.snapshot();
        let mut event = fit_added(event);
        if event.actor_ref().is_none() {
            event = event.actor(snapshot.actor.unwrap_or_else(Actor::anonymous));
        }
        event.context_mut().fill_from(&snapshot.context);
        record_detached(&self.inner.config, [event]);
    }

    /// The request id: generated by the layer (UUIDv7) unless it came from a trusted edge.
    /// It is also the `x-request-id` response header and the event's `context.request_id`.
    pub fn request_id(&self) -> &str {
        &self.inner.request_id
    }

    /// The request's audit scope (current while the inner service runs).
    pub fn scope(&self) -> &AuditScope {
        &self.inner.scope
    }

    /// Takes what the application added, and routes later events elsewhere.
    pub(crate) fn close(&self) -> HandleState {
        let mut state = self.state();
        let taken = std::mem::take(&mut *state);
        state.closed = true;
        taken
    }

    /// [`AuditHandle::close`], plus the scope's actor and context: moved out if this was the
    /// last handle and the scope's last holder, copied if the application still holds either
    /// (its later events need them).
    pub(crate) fn finish(self) -> (ScopeState, HandleState) {
        let added = self.close();
        let scope = match Arc::try_unwrap(self.inner) {
            Ok(shared) => shared.scope.into_state(),
            Err(shared) => shared.scope.snapshot(),
        };
        (scope, added)
    }
}

/// The rejection of the [`AuditHandle`] extractor: the request is not audited (the layer is
/// not applied, or this route's method is neither audited nor marked sensitive).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MissingAuditHandle;

impl fmt::Display for MissingAuditHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "this request is not audited: apply AuditLayer to the router, and audit this method \
             (AuditLayer::with_methods) or mark this route sensitive (AuditLayer::with_sensitive_routes)",
        )
    }
}

impl std::error::Error for MissingAuditHandle {}

impl IntoResponse for MissingAuditHandle {
    fn into_response(self) -> Response {
        (StatusCode::INTERNAL_SERVER_ERROR, self.to_string()).into_response()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for AuditHandle {
    type Rejection = MissingAuditHandle;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        AuditHandle::from_extensions(&parts.extensions).ok_or(MissingAuditHandle)
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for AuditHandle {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Option<Self>, Self::Rejection> {
        Ok(AuditHandle::from_extensions(&parts.extensions))
    }
}

//! The request's audit scope: who is acting and from where, visible to every event recorded
//! while a future runs inside it.
//!
//! The tower layer opens a scope around each audited request; authentication middleware or
//! the handler fills in the actor later (the scope is shared, so a late `set_actor` is seen
//! by everything recorded afterwards, ORM hooks included). Background jobs and scripts name
//! their actor with [`with_actor`]:
//!
//! ```
//! use audit_core::{Actor, scope};
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! scope::with_actor(Actor::system("nightly-cleanup"), async {
//!     let current = scope::AuditScope::current().and_then(|s| s.actor());
//!     assert_eq!(current, Some(Actor::system("nightly-cleanup")));
//! })
//! .await;
//! assert!(scope::AuditScope::current().is_none());
//! # });
//! ```
//!
//! A tokio task-local is not inherited by `tokio::spawn`: run spawned work inside
//! `scope.run(..)` again if it records events.

use crate::event::{Actor, Context};
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};

tokio::task_local! {
    static CURRENT: AuditScope;
}

/// The future returned by [`AuditScope::wrap`].
pub type ScopedFuture<F> = tokio::task::futures::TaskLocalFuture<AuditScope, F>;

/// A shared, late-bound audit scope (cheap to clone: one `Arc`).
#[derive(Clone, Debug, Default)]
pub struct AuditScope {
    inner: Arc<Mutex<ScopeState>>,
}

/// What a scope holds.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ScopeState {
    /// The actor, once known.
    pub actor: Option<Actor>,
    /// Client IP, request id, route, and the rest of the context.
    pub context: Context,
}

impl AuditScope {
    /// An empty scope.
    pub fn new() -> AuditScope {
        AuditScope::default()
    }

    /// A scope with `actor` already set.
    pub fn with_actor(actor: Actor) -> AuditScope {
        let scope = AuditScope::new();
        scope.set_actor(actor);
        scope
    }

    /// The scope of the running task, if any.
    pub fn current() -> Option<AuditScope> {
        CURRENT.try_with(Clone::clone).ok()
    }

    /// Runs `future` with this scope as the current one.
    pub async fn run<F: Future>(self, future: F) -> F::Output {
        self.wrap(future).await
    }

    /// `future` with this scope current while it is polled: a nameable future for
    /// middleware (e.g. a `pin_project!` response future).
    pub fn wrap<F: Future>(self, future: F) -> ScopedFuture<F> {
        CURRENT.scope(self, future)
    }

    /// Runs `f` with this scope as the current one (synchronous code).
    pub fn run_sync<R>(self, f: impl FnOnce() -> R) -> R {
        CURRENT.sync_scope(self, f)
    }

    fn state(&self) -> MutexGuard<'_, ScopeState> {
        // A panic while holding this lock cannot leave the state half-written (plain
        // assignments), so a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Sets (or replaces) the actor.
    pub fn set_actor(&self, actor: Actor) {
        self.state().actor = Some(actor);
    }

    /// The actor, if set.
    pub fn actor(&self) -> Option<Actor> {
        self.state().actor.clone()
    }

    /// A copy of the context.
    pub fn context(&self) -> Context {
        self.state().context.clone()
    }

    /// Changes the context in place.
    pub fn update_context(&self, f: impl FnOnce(&mut Context)) {
        f(&mut self.state().context);
    }

    /// A copy of everything.
    pub fn snapshot(&self) -> ScopeState {
        self.state().clone()
    }

    /// Everything the scope holds: moved out when this is its last handle (no one could see
    /// the scope any more), copied otherwise.
    pub fn into_state(self) -> ScopeState {
        match Arc::try_unwrap(self.inner) {
            Ok(state) => state.into_inner().unwrap_or_else(|poisoned| poisoned.into_inner()),
            Err(shared) => AuditScope { inner: shared }.snapshot(),
        }
    }
}

/// Runs `future` in a new scope whose actor is `actor` (background jobs, scripts).
pub async fn with_actor<F: Future>(actor: Actor, future: F) -> F::Output {
    AuditScope::with_actor(actor).run(future).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn into_state_leaves_a_shared_scope_whole() {
        let scope = AuditScope::with_actor(Actor::user("alice"));
        scope.update_context(|c| c.request_id = Some("r-1".into()));
        let other = scope.clone();
        let state = scope.into_state();
        assert_eq!(state.actor, Some(Actor::user("alice")));
        assert_eq!(other.snapshot(), state, "the other holder still sees everything");
        let last = other.into_state();
        assert_eq!(last, state);
    }
}

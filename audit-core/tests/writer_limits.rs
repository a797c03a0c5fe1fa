//! What the writer refuses to write, because a verifier or a store could not keep it: a
//! context integer beyond 2^53 (RFC 8785 numbers are doubles; the line checker reads integers
//! up to 2^53) and a leap second (`23:59:60`, which SQL time columns cannot hold). Each is
//! refused when recorded, with an error that names it; nothing is written, and the store
//! opens again. (Values nested too deep: `nesting.rs`.)

use audit_core::store::{AuditStore, JsonlStore};
use audit_core::{Actor, Auditor, Context, DraftError, EventDraft, RecordError, Timestamp};
use std::sync::Arc;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime")
}

#[test]
fn integers_beyond_2_pow_53_and_leap_seconds_are_refused_and_nothing_is_written() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("trail.jsonl");
    let leap: Timestamp = "2016-12-31T23:59:60.500000Z".parse().expect("a leap second is read");
    runtime().block_on(async {
        let auditor = Auditor::builder(Arc::new(JsonlStore::open(&path).expect("open"))).build();
        let with = |context: Context| EventDraft::new("POST /users").actor(Actor::user("u")).context(context);
        let at_limit = Context { status: Some(1 << 53), duration_us: Some(-(1 << 53)), ..Context::default() };
        auditor.record(with(at_limit)).await.expect("±2^53 are the largest integers a verifier reads");
        for (context, field) in [
            (Context { status: Some((1 << 53) + 1), ..Context::default() }, "context.status"),
            (Context { status: Some(i64::MAX), ..Context::default() }, "context.status"),
            (Context { status: Some(i64::MIN), ..Context::default() }, "context.status"),
            (Context { duration_us: Some(-(1 << 53) - 1), ..Context::default() }, "context.duration_us"),
        ] {
            let error = auditor.record(with(context)).await.expect_err("beyond 2^53");
            assert!(
                matches!(&error, RecordError::Invalid(DraftError::IntegerTooLarge { field: f, .. }) if *f == field),
                "{error:?}"
            );
            assert!(error.to_string().contains(field), "{error}");
        }
        let error = auditor.record(EventDraft::new("import").with_ts(leap)).await.expect_err("a leap second");
        assert!(matches!(error, RecordError::Invalid(DraftError::LeapSecond(ts)) if ts == leap), "{error:?}");
        assert!(error.to_string().contains("23:59:59.999999"), "says what to do: {error}");
        auditor.shutdown().await;
        let store = JsonlStore::open(&path).expect("the writer's file opens again");
        assert_eq!(store.head("default").await.expect("head").seq, 1, "only the event at the limit");
    });
}

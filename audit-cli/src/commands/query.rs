//! `audit-trail query (--db URL | --jsonl FILE) [--chain] [--actor] [--action] [--resource-type]
//! [--resource-id] [--outcome] [--request-id] [--since TS] [--until TS] [--limit N]
//! [--format table|json|csv]`.
//!
//! `--request-id` is an addition to SPEC §6's filters: every event of one HTTP request (its own
//! event, the row changes its handler made, the business events it added) carries the
//! request's id in `context.request_id`.
//!
//! `--jsonl FILE` asks the same questions of a JSON Lines export (SPEC §3, one chain), as
//! issue 5 asks of every command; like a query of a database, it does not verify the chain
//! (`audit-trail verify --jsonl FILE` does).

use super::output::{OutputArgs, print_pages};
use super::{
    OutcomeArg, Period, Source, Trail, block_on, db_failure, open_db, require_chain, require_jsonl_chain,
    unfinished_write_note,
};
use crate::Failure;
use audit_core::Outcome;
use audit_core::store::{AuditStore, JsonlStore, Query};
use clap::Args;

#[derive(Args)]
pub(crate) struct QueryArgs {
    #[command(flatten)]
    source: Source,
    /// Only this chain (default: every chain in the database; a JSON Lines export holds one).
    #[arg(long, value_name = "NAME")]
    chain: Option<String>,
    /// Only events by this actor id.
    #[arg(long, value_name = "ID")]
    actor: Option<String>,
    /// Only this action, e.g. update, login, "PUT /users/{id}".
    #[arg(long)]
    action: Option<String>,
    /// Only resources of this type, e.g. users.
    #[arg(long, value_name = "TYPE")]
    resource_type: Option<String>,
    /// Only the resource with this id.
    #[arg(long, value_name = "ID")]
    resource_id: Option<String>,
    /// Only this outcome.
    #[arg(long, value_enum)]
    outcome: Option<OutcomeArg>,
    /// Only the events of the request with this id (the `x-request-id` the server returned, or
    /// the request id column of a table): the request's own event and the row changes it made.
    #[arg(long, value_name = "ID")]
    request_id: Option<String>,
    #[command(flatten)]
    period: Period,
    #[command(flatten)]
    output: OutputArgs,
}

/// Prints the events matching the filters, page by page.
pub(crate) fn run(args: &QueryArgs) -> Result<u8, Failure> {
    args.period.check()?;
    let query = Query {
        chain: args.chain.clone(),
        actor: args.actor.clone(),
        action: args.action.clone(),
        resource_type: args.resource_type.clone(),
        resource_id: args.resource_id.clone(),
        outcome: args.outcome.map(Outcome::from),
        request_id: args.request_id.clone(),
        since: args.period.since,
        until: args.period.until,
        ..Query::new()
    };
    match args.source.trail()? {
        Trail::Db(url) => block_on(async {
            let store = open_db(url).await?;
            if let Some(chain) = &args.chain {
                require_chain(&store, chain).await?;
            }
            print_matches(&store, &query, args, db_failure).await
        })?,
        Trail::Jsonl(trail) => {
            // A mistyped --chain must not read as "no matching events".
            require_jsonl_chain(&trail, args.chain.as_deref())?;
            let shown = trail.shown();
            let store = JsonlStore::open_read_only(trail.path())
                .map_err(|e| Failure::new(format!("cannot read {shown}: {e}")))?;
            if let Some(bytes) = store.unfinished_write() {
                eprintln!("{}", unfinished_write_note(shown, bytes));
            }
            let failed =
                |e| Failure::new(format!("cannot read {shown}: {e} (`audit-trail verify --jsonl` says where)"));
            block_on(print_matches(&store, &query, args, failed))?
        }
    }
}

/// Prints the events of `store` matching `query`, page by page (`failed` says what a read
/// error means).
async fn print_matches<S: AuditStore>(
    store: &S,
    query: &Query,
    args: &QueryArgs,
    failed: impl Fn(audit_core::store::StoreError) -> Failure + Copy,
) -> Result<u8, Failure> {
    print_pages(&args.output, |after, limit| {
        let query = Query { after, limit, ..query.clone() };
        async move { store.query(&query).await.map_err(failed) }
    })
    .await
}

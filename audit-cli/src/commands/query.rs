//! `audit-trail query --db URL [--chain] [--actor] [--action] [--resource-type] [--resource-id]
//! [--outcome] [--request-id] [--since TS] [--until TS] [--limit N] [--format table|json|csv]`.
//!
//! `--request-id` is an addition to SPEC §6's filters: every event of one HTTP request (its own
//! event, the row changes its handler made, the business events it added) carries the
//! request's id in `context.request_id`.

use super::output::{OutputArgs, print_pages};
use super::{OutcomeArg, Period, block_on, db_failure, open_db, require_chain};
use crate::Failure;
use audit_core::Outcome;
use audit_core::store::{AuditStore, Query};
use clap::Args;

#[derive(Args)]
pub(crate) struct QueryArgs {
    /// The application's audit database (see `verify --help`), opened read only.
    #[arg(long, value_name = "URL")]
    db: String,
    /// Only this chain (default: every chain in the database).
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
    block_on(async {
        let store = open_db(&args.db).await?;
        if let Some(chain) = &args.chain {
            require_chain(&store, chain).await?;
        }
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
        print_pages(&args.output, |after, limit| {
            let query = Query { after, limit, ..query.clone() };
            let store = &store;
            async move { store.query(&query).await.map_err(db_failure) }
        })
        .await
    })?
}

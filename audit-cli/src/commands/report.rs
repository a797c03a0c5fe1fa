//! `audit-trail report (access|privileged|failures) --db URL …`: the compliance reports of the
//! SQL store.
//!
//! | report | answers | for |
//! |---|---|---|
//! | `access --resource-type T --resource-id ID` | who accessed or changed record ID, when, from where, with what outcome | HIPAA access logs, GDPR |
//! | `privileged` | actions by admin or system actors, or tagged `privileged` (with `--action login --outcome failure --outcome denied`: failed logins of privileged accounts) | SOC 2, PCI DSS 10.2 |
//! | `failures [--min N]` | actors with at least N failed or denied events in the period, most first | PCI DSS 8.3.4 |

use super::output::{OutputArgs, print_all, print_pages};
use super::{OutcomeArg, Period, block_on, db_failure, open_db, require_chain};
use crate::Failure;
use audit_core::Outcome;
use audit_seaorm::ReportFilter;
use clap::{Args, Subcommand};

#[derive(Args)]
pub(crate) struct ReportArgs {
    #[command(subcommand)]
    report: Report,
}

#[derive(Subcommand)]
enum Report {
    /// Who accessed or changed one record (HIPAA, GDPR): every event on it, reads included when
    /// the application records them.
    Access(AccessArgs),
    /// Privileged actions (SOC 2, PCI DSS): by admin or system actors, or tagged privileged.
    Privileged(PrivilegedArgs),
    /// Actors with repeated failed or denied events (PCI DSS), most failures first.
    Failures(FailuresArgs),
}

/// What every report takes.
#[derive(Args)]
struct Common {
    /// The application's audit database (see `verify --help`), opened read only.
    #[arg(long, value_name = "URL")]
    db: String,
    /// Only this chain (default: every chain in the database).
    #[arg(long, value_name = "NAME")]
    chain: Option<String>,
    /// Only this action, e.g. read, export, login.
    #[arg(long)]
    action: Option<String>,
    #[command(flatten)]
    period: Period,
}

impl Common {
    fn filter(&self) -> ReportFilter {
        let mut filter = ReportFilter::new().between(self.period.since, self.period.until);
        filter.chain = self.chain.clone();
        match &self.action {
            Some(action) => filter.action(action.as_str()),
            None => filter,
        }
    }
}

#[derive(Args)]
struct AccessArgs {
    #[command(flatten)]
    common: Common,
    /// The record's type, e.g. users (the table, for ORM events).
    #[arg(long, value_name = "TYPE")]
    resource_type: String,
    /// The record's id, e.g. 42.
    #[arg(long, value_name = "ID")]
    resource_id: String,
    #[command(flatten)]
    output: OutputArgs,
}

#[derive(Args)]
struct PrivilegedArgs {
    #[command(flatten)]
    common: Common,
    /// Only these outcomes (repeat the option for several).
    #[arg(long, value_enum)]
    outcome: Vec<OutcomeArg>,
    #[command(flatten)]
    output: OutputArgs,
}

#[derive(Args)]
struct FailuresArgs {
    #[command(flatten)]
    common: Common,
    /// Only actors with at least this many failed or denied events in the period.
    #[arg(long, value_name = "N", default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..))]
    min: u64,
    /// table (the default on a terminal), json (one object a line; the default in a pipe) or csv.
    #[arg(long, value_enum)]
    format: Option<super::output::Format>,
}

impl Report {
    fn common(&self) -> &Common {
        match self {
            Report::Access(args) => &args.common,
            Report::Privileged(args) => &args.common,
            Report::Failures(args) => &args.common,
        }
    }
}

/// Prints the report asked for.
pub(crate) fn run(args: &ReportArgs) -> Result<u8, Failure> {
    args.report.common().period.check()?;
    block_on(async {
        let common = args.report.common();
        let store = open_db(&common.db).await?;
        if let Some(chain) = &common.chain {
            require_chain(&store, chain).await?;
        }
        let filter = common.filter();
        match &args.report {
            Report::Access(args) => {
                print_pages(&args.output, |after, limit| {
                    let filter = filter.clone().after(after).limit(limit);
                    let store = &store;
                    async move {
                        store.access_report(&args.resource_type, &args.resource_id, &filter).await.map_err(db_failure)
                    }
                })
                .await
            }
            Report::Privileged(args) => {
                let filter = filter.outcomes(args.outcome.iter().copied().map(Outcome::from));
                print_pages(&args.output, |after, limit| {
                    let filter = filter.clone().after(after).limit(limit);
                    let store = &store;
                    async move { store.privileged_actions(&filter).await.map_err(db_failure) }
                })
                .await
            }
            Report::Failures(args) => {
                let failures = store.repeated_failures(args.min, &filter).await.map_err(db_failure)?;
                print_all(args.format, &failures)
            }
        }
    })?
}

//! `audit-trail report (access|privileged|failures|subject|last-change) --db URL …`: the
//! compliance reports of the SQL store.
//!
//! | report | answers | for |
//! |---|---|---|
//! | `access --resource-type T --resource-id ID` | who accessed or changed record ID, when, from where, with what outcome | HIPAA access logs, GDPR |
//! | `privileged` | actions by admin or system actors, or tagged `privileged` (with `--action login --outcome failure --outcome denied`: failed logins of privileged accounts) | SOC 2, PCI DSS 10.2 |
//! | `failures [--min N]` | actors with at least N failed or denied events in the period, most first | PCI DSS 8.3.4 |
//! | `subject --subject-id ID [--resource-type T]…` | every event about one person: what they did (as actor) and what was done to their records (as resource); with `--action export`, every export of their data | GDPR Art. 15 subject access |
//! | `last-change --resource-type T --resource-id ID` | when record ID was last changed, by whom, from where, and each changed field's value before and after | SOC 2 change management, HIPAA integrity |
//!
//! `access`, `privileged` and `failures` are the reports SPEC §6 names; `subject` and
//! `last-change` are additions of this tool, on the store's
//! [`SqlStore::subject_events`](audit_seaorm::SqlStore::subject_events) and
//! [`SqlStore::last_change`](audit_seaorm::SqlStore::last_change). `last-change` prints one
//! table or CSV row per changed field, or in JSON the event's stored line (the evidence, with
//! the old and new values inside).

use super::output::{Format, OutputArgs, print_all, print_last_change, print_pages};
use super::{OutcomeArg, Period, block_on, db_failure, open_db, require_chain};
use crate::Failure;
use audit_core::Outcome;
use audit_seaorm::{DataSubject, ReportFilter};
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
    /// Every event about one person (GDPR subject access): what they did, as actor, and what
    /// was done to their records, as resource.
    Subject(SubjectArgs),
    /// When one record was last changed, by whom, from where, and each changed field's value
    /// before and after.
    LastChange(LastChangeArgs),
}

/// Where a report reads: what every report takes.
#[derive(Args)]
struct Source {
    /// The application's audit database (see `verify --help`), opened read only.
    #[arg(long, value_name = "URL")]
    db: String,
    /// Only this chain (default: every chain in the database).
    #[arg(long, value_name = "NAME")]
    chain: Option<String>,
}

/// What every report of events in a period takes.
#[derive(Args)]
struct Common {
    #[command(flatten)]
    source: Source,
    /// Only this action, e.g. read, export, login.
    #[arg(long)]
    action: Option<String>,
    #[command(flatten)]
    period: Period,
}

impl Common {
    fn filter(&self) -> ReportFilter {
        let mut filter = ReportFilter::new().between(self.period.since, self.period.until);
        filter.chain = self.source.chain.clone();
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
    format: Option<Format>,
}

#[derive(Args)]
struct SubjectArgs {
    #[command(flatten)]
    common: Common,
    /// The person's identifier, as the application records it in `actor.id` (what they did)
    /// and `resource.id` (what was done to their records), e.g. 42. Not empty: an empty id
    /// names no one (records without an id, such as sessions, have it).
    #[arg(long, value_name = "ID", value_parser = clap::builder::NonEmptyStringValueParser::new())]
    subject_id: String,
    /// Count the id as a resource only in records of this type, e.g. users (repeat the option
    /// for several; default: any type). Events with the person as actor are found whatever
    /// their resource.
    #[arg(long = "resource-type", value_name = "TYPE")]
    resource_types: Vec<String>,
    #[command(flatten)]
    output: OutputArgs,
}

#[derive(Args)]
struct LastChangeArgs {
    #[command(flatten)]
    source: Source,
    /// The record's type, e.g. users (the table, for ORM events).
    #[arg(long, value_name = "TYPE")]
    resource_type: String,
    /// The record's id, e.g. 42.
    #[arg(long, value_name = "ID")]
    resource_id: String,
    /// table (one row per changed field; the default on a terminal), json (the event's stored
    /// canonical line; the default in a pipe) or csv (one row per changed field, values as
    /// canonical JSON).
    #[arg(long, value_enum)]
    format: Option<Format>,
}

impl Report {
    fn source(&self) -> &Source {
        match self {
            Report::Access(args) => &args.common.source,
            Report::Privileged(args) => &args.common.source,
            Report::Failures(args) => &args.common.source,
            Report::Subject(args) => &args.common.source,
            Report::LastChange(args) => &args.source,
        }
    }

    /// The period asked for, by the reports that take one.
    fn period(&self) -> Option<&Period> {
        match self {
            Report::Access(args) => Some(&args.common.period),
            Report::Privileged(args) => Some(&args.common.period),
            Report::Failures(args) => Some(&args.common.period),
            Report::Subject(args) => Some(&args.common.period),
            Report::LastChange(_) => None,
        }
    }
}

/// Prints the report asked for.
pub(crate) fn run(args: &ReportArgs) -> Result<u8, Failure> {
    if let Some(period) = args.report.period() {
        period.check()?;
    }
    block_on(async {
        let source = args.report.source();
        let store = open_db(&source.db).await?;
        if let Some(chain) = &source.chain {
            require_chain(&store, chain).await?;
        }
        match &args.report {
            Report::Access(args) => {
                let filter = args.common.filter();
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
                let filter = args.common.filter().outcomes(args.outcome.iter().copied().map(Outcome::from));
                print_pages(&args.output, |after, limit| {
                    let filter = filter.clone().after(after).limit(limit);
                    let store = &store;
                    async move { store.privileged_actions(&filter).await.map_err(db_failure) }
                })
                .await
            }
            Report::Failures(args) => {
                let failures = store.repeated_failures(args.min, &args.common.filter()).await.map_err(db_failure)?;
                print_all(args.format, &failures)
            }
            Report::Subject(args) => {
                let subject =
                    DataSubject::new(args.subject_id.as_str()).resource_types(args.resource_types.iter().cloned());
                let filter = args.common.filter();
                print_pages(&args.output, |after, limit| {
                    let filter = filter.clone().after(after).limit(limit);
                    let (store, subject) = (&store, &subject);
                    async move { store.subject_events(subject, &filter).await.map_err(db_failure) }
                })
                .await
            }
            Report::LastChange(args) => {
                let (kind, id) = (args.resource_type.as_str(), args.resource_id.as_str());
                let found = store.last_change(kind, id, args.source.chain.as_deref()).await.map_err(db_failure)?;
                print_last_change(args.format, (kind, id), found.as_ref())
            }
        }
    })?
}

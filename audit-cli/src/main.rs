//! `audit-trail`: the auditors' command line (SPEC §6).
//!
//! ```text
//! $ audit-trail verify --db postgres://auditor@db.example.com/app
//! valid: 1200 events
//! $ audit-trail export --db sqlite:///var/lib/app/audit.db --out audit.jsonl
//! exported 1200 events of chain "default" (seq 1..=1200) to audit.jsonl
//! $ audit-trail query --db sqlite:///var/lib/app/audit.db --actor alice --since 2026-11-01 --format csv   # every chain
//! $ audit-trail report failures --db mysql://auditor@db/app --min 5
//! $ audit-trail report last-change --db mysql://auditor@db/app --resource-type users --resource-id 42
//! $ audit-trail verify --jsonl audit.jsonl
//! valid: 1200 events
//! $ audit-trail verify --jsonl tampered.jsonl --json
//! {"broken_at":7,"reason":"hash mismatch","status":"broken","verified":6}
//! $ audit-trail keygen --name audit.example.com/default --out log.key
//! audit.example.com/default+1a2b3c4d+AWx…
//! $ audit-trail checkpoint --jsonl audit.jsonl --origin audit.example.com/default --key log.key > cp-1200
//! $ audit-trail verify --db sqlite:///var/lib/app/audit.db --checkpoint cp-1200 --key audit.example.com/default+1a2b3c4d+AWx…
//! valid: 1250 events
//! $ audit-trail prove --jsonl audit.jsonl --seq 7 --size 1200
//! {"chain":"default","seq":7,"size":1200,"leaf":"…","root":"…","path":["…",…]}
//! ```
//!
//! Exit codes: 0 = done / valid, 1 = tampering found, 2 = usage, I/O or database error.
//!
//! A database is only read: SQLite files are opened read-only, PostgreSQL and MySQL sessions
//! are read-only, and nothing is ever created (no file, table or row).

mod commands;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Verify, query and prove tamper-evident audit trails.
#[derive(Parser)]
#[command(name = "audit-trail", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check a trail's hash chain (SPEC §2), and against a signed checkpoint (SPEC §5) if one is
    /// given; names the first broken event. In a database, also every indexed column and the
    /// chain head.
    Verify(commands::verify::VerifyArgs),
    /// Write a chain (or its events since a time) as a SPEC §3 JSON Lines file.
    Export(commands::export::ExportArgs),
    /// The auditors' questions: events by actor, action, resource, outcome and period.
    Query(commands::query::QueryArgs),
    /// Compliance reports: access to a record, privileged actions, repeated failures, a data
    /// subject's events, a record's last change.
    Report(commands::report::ReportArgs),
    /// Make an Ed25519 key for signing checkpoints; prints the verifier key to publish.
    Keygen(commands::keygen::KeygenArgs),
    /// Verify a trail and print a signed checkpoint (SPEC §5) of it as it is now.
    Checkpoint(commands::checkpoint::CheckpointArgs),
    /// Print a Merkle inclusion or consistency proof (SPEC §4) as JSON.
    ///
    /// With --db the proof is built from the subtree hashes stored in audit_merkle_nodes (a
    /// few reads, whatever the chain's length). Before it is printed, each stored hash it uses
    /// is checked one level down (a subtree of up to 64 events against their hashes, a larger
    /// one against its two stored halves) and the proof against its own root: a corrupt row is
    /// found, a subtree of rows rewritten to agree with each other is not. A proof is evidence
    /// once it verifies against a checkpoint its recipient trusts (verify-proof).
    Prove(commands::prove::ProveArgs),
    /// Check a proof printed by `prove`, optionally against a signed checkpoint.
    VerifyProof(commands::verify_proof::VerifyProofArgs),
}

/// Exit codes of SPEC §6.
pub(crate) const EXIT_VALID: u8 = 0;
pub(crate) const EXIT_BROKEN: u8 = 1;
pub(crate) const EXIT_ERROR: u8 = 2;

/// A usage, I/O or input error: printed on stderr, exit code 2.
#[derive(Debug)]
pub(crate) struct Failure(pub(crate) String);

impl Failure {
    pub(crate) fn new(message: impl Into<String>) -> Failure {
        Failure(message.into())
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { EXIT_ERROR } else { EXIT_VALID });
        }
    };
    let result = match cli.command {
        Command::Verify(args) => commands::verify::run(&args),
        Command::Export(args) => commands::export::run(&args),
        Command::Query(args) => commands::query::run(&args),
        Command::Report(args) => commands::report::run(&args),
        Command::Keygen(args) => commands::keygen::run(&args),
        Command::Checkpoint(args) => commands::checkpoint::run(&args),
        Command::Prove(args) => commands::prove::run(&args),
        Command::VerifyProof(args) => commands::verify_proof::run(&args),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(Failure(message)) => {
            eprintln!("error: {message}");
            ExitCode::from(EXIT_ERROR)
        }
    }
}

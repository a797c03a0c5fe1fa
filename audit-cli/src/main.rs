//! `audit-trail`: the auditors' command line (SPEC §6).
//!
//! ```text
//! $ audit-trail verify --jsonl audit.jsonl
//! valid: 1200 events
//! $ audit-trail verify --jsonl tampered.jsonl --json
//! {"broken_at":7,"reason":"hash mismatch","status":"broken","verified":6}
//! ```
//!
//! Exit codes: 0 = done / valid, 1 = tampering found, 2 = usage, I/O or database error.

use audit_core::verify::{ChainVerifier, VerifyReport, verify_reader};
use clap::{Args, Parser, Subcommand};
use serde_json::json;
use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
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
    /// Check a trail's hash chain (SPEC §2); names the first broken event.
    Verify(VerifyArgs),
}

#[derive(Args)]
struct VerifyArgs {
    /// A JSON Lines export (SPEC §3).
    #[arg(long, value_name = "FILE")]
    jsonl: PathBuf,
    /// Print one JSON object instead of a sentence.
    #[arg(long)]
    json: bool,
}

/// Exit codes of SPEC §6.
const EXIT_VALID: u8 = 0;
const EXIT_BROKEN: u8 = 1;
const EXIT_ERROR: u8 = 2;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { EXIT_ERROR } else { EXIT_VALID });
        }
    };
    match cli.command {
        Command::Verify(args) => verify(&args),
    }
}

fn verify(args: &VerifyArgs) -> ExitCode {
    let shown = args.jsonl.display();
    let file = match File::open(&args.jsonl) {
        Ok(file) => file,
        Err(e) => return fail(&format!("cannot open {shown}: {e}")),
    };
    let report = match verify_reader(file, ChainVerifier::new()) {
        Ok(report) => report,
        Err(e) => return fail(&format!("cannot read {shown}: {e}")),
    };
    print_report(&report, args.json);
    ExitCode::from(if report.is_valid() { EXIT_VALID } else { EXIT_BROKEN })
}

fn print_report(report: &VerifyReport, as_json: bool) {
    let mut out = std::io::stdout().lock();
    let written = if as_json {
        let value = json!({
            "status": if report.is_valid() { "valid" } else { "broken" },
            "verified": report.verified,
            "broken_at": report.broken.as_ref().map(|b| b.seq),
            "reason": report.broken.as_ref().map(|b| b.reason.as_str()),
        });
        writeln!(out, "{value}")
    } else {
        match &report.broken {
            None => writeln!(out, "valid: {} events", report.verified),
            Some(broken) => writeln!(out, "{broken}"),
        }
    };
    let notes = match (&report.broken, report.trusted_prev) {
        (Some(broken), _) => format!("  {} (after {} valid events)", broken.detail, report.verified),
        (None, Some(prev)) => format!(
            "note: this is a part of a chain starting at seq {}; its first prev ({prev}) is taken on trust",
            report.first_seq.unwrap_or(0)
        ),
        (None, None) => String::new(),
    };
    if written.is_ok() && !notes.is_empty() {
        eprintln!("{notes}");
    }
}

fn fail(message: &str) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(EXIT_ERROR)
}

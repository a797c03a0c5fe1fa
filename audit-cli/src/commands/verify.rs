//! `audit-trail verify --jsonl FILE [--checkpoint FILE --key VERIFIER_KEY] [--json]`.

use super::{require_whole_chain, trusted_checkpoint, verifier_key};
use crate::{EXIT_BROKEN, EXIT_VALID, Failure};
use audit_core::checkpoint::Checkpoint;
use audit_core::verify::{ChainVerifier, VerifyReport, verify_reader};
use clap::Args;
use serde_json::json;
use std::fs::File;
use std::io::Write;
use std::path::PathBuf;

#[derive(Args)]
pub(crate) struct VerifyArgs {
    /// A JSON Lines export (SPEC §3).
    #[arg(long, value_name = "FILE")]
    jsonl: PathBuf,
    /// A signed checkpoint (SPEC §5) kept outside the application: the trail must reach its
    /// size and have its Merkle root there. Needs the whole chain, from seq 1.
    #[arg(long, value_name = "FILE", requires = "key")]
    checkpoint: Option<PathBuf>,
    /// The verifier key of the checkpoint's log (`<name>+<8 hex>+<base64>`), or a file holding it.
    #[arg(long, value_name = "VERIFIER_KEY", requires = "checkpoint")]
    key: Option<String>,
    /// Print one JSON object instead of a sentence.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(args: &VerifyArgs) -> Result<u8, Failure> {
    // Check the checkpoint before reading the trail: a refused one verifies nothing.
    let checkpoint = match (&args.checkpoint, &args.key) {
        (Some(path), Some(key)) => Some(trusted_checkpoint(path, &verifier_key(key)?)?),
        _ => None,
    };
    if checkpoint.is_some() {
        require_whole_chain(&args.jsonl, "checking it against a checkpoint")?;
    }
    let shown = args.jsonl.display();
    let file = File::open(&args.jsonl).map_err(|e| Failure::new(format!("cannot open {shown}: {e}")))?;
    let verifier = checkpoint.as_ref().map_or_else(ChainVerifier::new, ChainVerifier::against_checkpoint);
    let report = verify_reader(file, verifier).map_err(|e| Failure::new(format!("cannot read {shown}: {e}")))?;
    print_report(&report, args.json, checkpoint.as_ref());
    Ok(if report.is_valid() { EXIT_VALID } else { EXIT_BROKEN })
}

fn print_report(report: &VerifyReport, as_json: bool, checkpoint: Option<&Checkpoint>) {
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
    let notes = match (&report.broken, report.trusted_prev, checkpoint) {
        (Some(broken), _, _) => format!("  {} (after {} valid events)", broken.detail, report.verified),
        (None, Some(prev), _) => format!(
            "note: this is a part of a chain starting at seq {}; its first prev ({prev}) is taken on trust",
            report.first_seq.unwrap_or(0)
        ),
        (None, None, Some(checkpoint)) => format!(
            "note: events 1..={} match checkpoint {} (size {}); later events are checked by their links only",
            checkpoint.size, checkpoint.origin, checkpoint.size
        ),
        (None, None, None) => String::new(),
    };
    if written.is_ok() && !notes.is_empty() {
        eprintln!("{notes}");
    }
}

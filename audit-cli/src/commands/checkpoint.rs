//! `audit-trail checkpoint --jsonl FILE --origin ORIGIN --key KEYFILE`.

use super::{require_whole_chain, signer_key};
use crate::{EXIT_BROKEN, EXIT_VALID, Failure};
use audit_core::checkpoint::Checkpoint;
use audit_core::verify::{ChainVerifier, feed_reader};
use clap::Args;
use std::fs::File;
use std::path::PathBuf;

#[derive(Args)]
pub(crate) struct CheckpointArgs {
    /// A JSON Lines export (SPEC §3) of a whole chain, from seq 1.
    #[arg(long, value_name = "FILE")]
    jsonl: PathBuf,
    /// The log's origin line, unique to the deployment and chain, e.g. audit.example.com/default.
    #[arg(long)]
    origin: String,
    /// The private key file written by `audit-trail keygen`.
    #[arg(long, value_name = "KEYFILE")]
    key: PathBuf,
}

/// Verifies the chain (a broken chain is not signed) and prints its signed checkpoint.
pub(crate) fn run(args: &CheckpointArgs) -> Result<u8, Failure> {
    let signer = signer_key(&args.key)?;
    // Refuse a bad origin before reading the whole trail.
    Checkpoint::new(args.origin.as_str(), 0, [0; 32]).to_body().map_err(|e| Failure::new(format!("--origin: {e}")))?;
    require_whole_chain(&args.jsonl, "a checkpoint")?;
    let shown = args.jsonl.display();
    let file = File::open(&args.jsonl).map_err(|e| Failure::new(format!("cannot open {shown}: {e}")))?;
    let verifier = feed_reader(file, ChainVerifier::from_genesis().with_tree())
        .map_err(|e| Failure::new(format!("cannot read {shown}: {e}")))?;
    let tree = verifier.tree().cloned();
    let report = verifier.finish();
    if let Some(broken) = &report.broken {
        println!("{broken}");
        eprintln!("  {} (after {} valid events)", broken.detail, report.verified);
        eprintln!("refusing to sign a checkpoint of a broken chain: investigate with `audit-trail verify` first");
        return Ok(EXIT_BROKEN);
    }
    let tree = tree
        .ok_or_else(|| Failure::new(format!("{shown} does not start at seq 1: a checkpoint covers a whole chain")))?;
    let note = Checkpoint::new(args.origin.as_str(), tree.size(), tree.root())
        .sign(&signer)
        .map_err(|e| Failure::new(format!("cannot sign the checkpoint: {e}")))?;
    print!("{note}");
    Ok(EXIT_VALID)
}

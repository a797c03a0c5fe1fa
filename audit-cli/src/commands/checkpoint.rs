//! `audit-trail checkpoint (--db URL | --jsonl FILE) [--chain NAME] --origin ORIGIN --key KEYFILE`.

use super::{
    DEFAULT_CHAIN, JsonlFile, Source, Trail, Verdict, block_on, db_failure, open_db, open_jsonl, print_out,
    progress_bar, require_chain, require_events, require_jsonl_chain, require_whole_chain, signer_key,
    stdin_at_most_once,
};
use crate::{EXIT_BROKEN, EXIT_VALID, Failure};
use audit_core::checkpoint::Checkpoint;
use audit_core::proof::TreeHead;
use audit_core::store::AuditStore;
use audit_core::verify::{ChainVerifier, feed_reader};
use clap::Args;
use std::path::PathBuf;

#[derive(Args)]
pub(crate) struct CheckpointArgs {
    #[command(flatten)]
    source: Source,
    /// The chain to sign (default: default). A JSON Lines file holds one chain; if given, it
    /// must be that one.
    #[arg(long, value_name = "NAME")]
    chain: Option<String>,
    /// The log's origin line, unique to the deployment and chain, e.g. audit.example.com/default.
    #[arg(long)]
    origin: String,
    /// The private key file written by `audit-trail keygen` (readable by its owner only; a
    /// file others may read is used with a warning).
    #[arg(long, value_name = "KEYFILE")]
    key: PathBuf,
}

/// Verifies the whole chain (a broken chain is not signed: exit 1, its verdict on standard
/// error, nothing on standard output) and prints the signed checkpoint of exactly the events
/// verified.
pub(crate) fn run(args: &CheckpointArgs) -> Result<u8, Failure> {
    stdin_at_most_once(&[("--jsonl", args.source.jsonl()), ("--key", Some(&args.key))])?;
    let signer = signer_key(&args.key)?;
    // Refuse a bad origin before reading the whole trail.
    Checkpoint::new(args.origin.as_str(), 0, [0; 32]).to_body().map_err(|e| Failure::new(format!("--origin: {e}")))?;
    let (verdict, tree) = match args.source.trail()? {
        Trail::Jsonl(trail) => verify_jsonl(&trail, args.chain.as_deref())?,
        Trail::Db(url) => block_on(verify_db(url, args.chain.as_deref().unwrap_or(DEFAULT_CHAIN)))??,
    };
    if !verdict.is_valid() {
        verdict.print_refusal()?;
        eprintln!("refusing to sign a checkpoint of a broken chain: investigate with `audit-trail verify` first");
        return Ok(EXIT_BROKEN);
    }
    let tree =
        tree.ok_or_else(|| Failure::new("the trail does not start at seq 1: a checkpoint covers a whole chain"))?;
    let note = tree
        .checkpoint(args.origin.as_str())
        .sign(&signer)
        .map_err(|e| Failure::new(format!("cannot sign the checkpoint: {e}")))?;
    print_out(note)?;
    for note in &verdict.notes {
        eprintln!("{note}");
    }
    Ok(EXIT_VALID)
}

/// Verifies a JSON Lines export of a whole chain, keeping its Merkle tree.
fn verify_jsonl(trail: &JsonlFile, chain: Option<&str>) -> Result<(Verdict, Option<TreeHead>), Failure> {
    require_events(trail, "a checkpoint")?;
    require_whole_chain(trail, "a checkpoint")?;
    require_jsonl_chain(trail, chain)?;
    let shown = trail.shown();
    let (file, _, unfinished) = open_jsonl(trail)?;
    let verifier = feed_reader(file, ChainVerifier::from_genesis().with_tree())
        .map_err(|e| Failure::new(format!("cannot read {shown}: {e}")))?;
    let tree = verifier.tree().map(|range| TreeHead { size: range.size(), root: range.root() });
    let mut verdict = Verdict::of_lines(&verifier.finish(), None);
    verdict.notes.extend(unfinished);
    Ok((verdict, tree))
}

/// Verifies `chain` as the database stores it (lines, columns, head row), keeping its Merkle
/// tree.
async fn verify_db(url: &str, chain: &str) -> Result<(Verdict, Option<TreeHead>), Failure> {
    let store = open_db(url).await?;
    // For the progress bar only: a head row that cannot be read (edited into something
    // malformed) is reported by the verification.
    let events = store.head(chain).await.map_or(0, |head| head.seq);
    let bar = progress_bar(events, "events");
    bar.set_message(format!("verifying chain {chain}"));
    let verifier = ChainVerifier::from_genesis().with_tree();
    let report = store.verify_chain_with_progress(chain, verifier, |read| bar.set_position(read)).await;
    bar.finish_and_clear();
    let report = report.map_err(db_failure)?;
    let verdict = Verdict::of_store(&report, None);
    if verdict.is_valid() && verdict.verified == 0 {
        require_chain(&store, chain).await?;
    }
    Ok((verdict, report.tree))
}

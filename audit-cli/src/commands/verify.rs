//! `audit-trail verify (--db URL | --jsonl FILE) [--chain NAME] [--checkpoint FILE --key
//! VERIFIER_KEY [--since-checkpoint]] [--json]`.

use super::{
    DEFAULT_CHAIN, JsonlFile, Source, Trail, Verdict, block_on, db_failure, first_event, open_db, open_jsonl,
    progress_bar, require_chain, require_jsonl_chain, require_whole_chain, stdin_at_most_once, trusted_checkpoint,
    verifier_key,
};
use crate::Failure;
use audit_core::checkpoint::Checkpoint;
use audit_core::store::AuditStore;
use audit_core::verify::{BreakReason, ChainVerifier, verify_reader};
use audit_seaorm::StoreVerifyReport;
use clap::Args;

#[derive(Args)]
pub(crate) struct VerifyArgs {
    #[command(flatten)]
    source: Source,
    /// The chain to verify in the database (default: default). A JSON Lines file holds one
    /// chain; if given, it must be that one.
    #[arg(long, value_name = "NAME")]
    chain: Option<String>,
    /// A signed checkpoint (SPEC §5) kept outside the application: the trail must reach its
    /// size and have its Merkle root there. Needs the whole chain, from seq 1.
    #[arg(long, value_name = "FILE", requires = "key")]
    checkpoint: Option<std::path::PathBuf>,
    /// The verifier key of the checkpoint's log (`<name>+<8 hex>+<base64>`), or a file holding it.
    #[arg(long, value_name = "VERIFIER_KEY", requires = "checkpoint")]
    key: Option<String>,
    /// With --db and --checkpoint: check only the events from the checkpoint's last one on,
    /// not the whole chain again. The store's Merkle subtree hashes and that event must give
    /// the checkpoint's root (so the hashes of the events up to it are the ones it signed); the
    /// later events are checked as usual. Not checked: the rows of the events before the
    /// checkpoint, which are not read (an edited line or column, a deleted row: verify without
    /// this flag now and then for those).
    #[arg(long, requires = "checkpoint", conflicts_with = "jsonl")]
    since_checkpoint: bool,
    /// Print one JSON object instead of a sentence.
    #[arg(long)]
    json: bool,
}

/// Verifies, prints the verdict, and returns its exit code (0 valid, 1 broken).
pub(crate) fn run(args: &VerifyArgs) -> Result<u8, Failure> {
    stdin_at_most_once(&[("--jsonl", args.source.jsonl()), ("--checkpoint", args.checkpoint.as_deref())])?;
    // Check the checkpoint before reading the trail: a refused one verifies nothing.
    let checkpoint = match (&args.checkpoint, &args.key) {
        (Some(path), Some(key)) => Some(trusted_checkpoint(path, &verifier_key(key)?)?),
        _ => None,
    };
    let verdict = match args.source.trail()? {
        Trail::Jsonl(trail) => {
            let mut verdict = verify_jsonl(&trail, args.chain.as_deref(), checkpoint.as_ref())?;
            // The file's chain (its first event's) is read again only for a break to explain.
            if let Some(checkpoint) = checkpoint.as_ref().filter(|_| !verdict.is_valid()) {
                let chain = args.chain.clone().or_else(|| first_event(&trail).ok().flatten().map(|(_, chain)| chain));
                verdict.notes.extend(chain.and_then(|chain| another_chains_checkpoint(&verdict, checkpoint, &chain)));
            }
            verdict
        }
        Trail::Db(url) => {
            let chain = args.chain.as_deref().unwrap_or(DEFAULT_CHAIN);
            let mut verdict = block_on(verify_db(url, chain, checkpoint.as_ref(), args.since_checkpoint))??;
            if let Some(checkpoint) = &checkpoint {
                verdict.notes.extend(another_chains_checkpoint(&verdict, checkpoint, chain));
            }
            verdict
        }
    };
    verdict.print(args.json)?;
    Ok(verdict.exit_code())
}

/// What `--since-checkpoint` read: from the checkpoint's last event, or (where the stored
/// subtree hashes could not give the frontier before it) the whole chain.
fn since_checkpoint_note(report: &StoreVerifyReport, checkpoint: &Checkpoint) -> String {
    let mismatch = report.lines.broken.as_ref().is_some_and(|b| b.reason == BreakReason::CheckpointMismatch);
    match report.lines.first_seq {
        Some(first) if first > 1 && mismatch => format!(
            "note: --since-checkpoint: events from seq {first} on were read; the stored Merkle subtree hashes of \
             events 1..={before} and event {first} do not give its root",
            before = first - 1,
        ),
        Some(first) if first > 1 => format!(
            "note: --since-checkpoint: events from seq {first} on were read; the history of events 1..={before} is \
             the one checkpoint {origin} signed, as the stored Merkle subtree hashes record it (with event {first} \
             they give its root); their rows were not read (a line or an indexed column edited since, a row removed, is not seen: verify \
             without --since-checkpoint for those)",
            before = first - 1,
            origin = checkpoint.origin,
        ),
        Some(_) => "note: --since-checkpoint: the whole chain was read from seq 1 (the checkpoint starts there, or \
                    the stored Merkle subtree hashes could not give the tree before it)"
            .to_string(),
        None => "note: --since-checkpoint: no event was verified".to_string(),
    }
}

/// A note for a break against a checkpoint that may be another chain's: its origin ends in
/// `/NAME` (as SPEC §5's example `audit.example.com/default` names its chain) and NAME is not
/// the chain verified. The verdict stands (SPEC §6 gives `verify` no origin to compare, and an
/// origin's form is the deployment's choice); the note says what else the break may mean, so
/// that a checkpoint picked from the wrong chain's folder does not read as tampering alone.
fn another_chains_checkpoint(verdict: &Verdict, checkpoint: &Checkpoint, chain: &str) -> Option<String> {
    let broken = verdict.broken.as_ref()?;
    let against_it = broken.reason == BreakReason::CheckpointMismatch.as_str()
        || (broken.reason == BreakReason::Truncated.as_str() && broken.seq <= checkpoint.size);
    let (_, named) = checkpoint.origin.rsplit_once('/')?;
    (against_it && named != chain).then(|| {
        format!(
            "note: checkpoint {origin} names chain {named:?} by the end of its origin, and this is chain {chain:?}: \
             if it is another chain's checkpoint, this break says nothing about chain {chain:?}; verify against \
             one of its own checkpoints",
            origin = checkpoint.origin
        )
    })
}

/// Verifies a JSON Lines file (a whole chain, or a part of one without a checkpoint).
fn verify_jsonl(trail: &JsonlFile, chain: Option<&str>, checkpoint: Option<&Checkpoint>) -> Result<Verdict, Failure> {
    if checkpoint.is_some() {
        require_whole_chain(trail, "checking it against a checkpoint")?;
    }
    require_jsonl_chain(trail, chain)?;
    let shown = trail.shown();
    let (file, size, unfinished) = open_jsonl(trail)?;
    let bar = progress_bar(size, "bytes");
    bar.set_message("verifying");
    let verifier = checkpoint.map_or_else(ChainVerifier::new, ChainVerifier::against_checkpoint);
    let report = verify_reader(bar.wrap_read(file), verifier);
    bar.finish_and_clear();
    let report = report.map_err(|e| Failure::new(format!("cannot read {shown}: {e}")))?;
    let mut verdict = Verdict::of_lines(&report, checkpoint);
    if report.first_seq.is_none() && report.is_valid() {
        verdict.notes.push(format!("note: {shown} holds no events"));
    }
    verdict.notes.extend(unfinished);
    Ok(verdict)
}

/// Verifies `chain` as the database stores it: its lines from seq 1 (against `checkpoint` if
/// given; `since_checkpoint`: from the checkpoint's last event on), every indexed column of
/// the events read against its line, and the chain-head row.
async fn verify_db(
    url: &str,
    chain: &str,
    checkpoint: Option<&Checkpoint>,
    since_checkpoint: bool,
) -> Result<Verdict, Failure> {
    let store = open_db(url).await?;
    // Only the progress bar's length: a head row edited into something malformed is the
    // verification's finding (`head mismatch`, exit 1), not a reason to stop here (exit 2);
    // a database that fails fails the verification just after.
    let events = store.head(chain).await.map_or(0, |head| head.seq);
    let bar = progress_bar(events, "events");
    bar.set_message(format!("verifying chain {chain}"));
    let since = checkpoint.filter(|_| since_checkpoint);
    let report = match since {
        Some(checkpoint) => {
            bar.set_length(events.saturating_sub(checkpoint.size).saturating_add(1));
            let progress = |read: u64| {
                // More read than there are after the checkpoint: the whole chain is read.
                if bar.length().is_some_and(|length| read > length) {
                    bar.set_length(events);
                }
                bar.set_position(read);
            };
            store.verify_chain_after_checkpoint(chain, checkpoint, progress).await
        }
        None => {
            let verifier = checkpoint.map_or_else(ChainVerifier::from_genesis, ChainVerifier::against_checkpoint);
            store.verify_chain_with_progress(chain, verifier, |read| bar.set_position(read)).await
        }
    };
    bar.finish_and_clear();
    let report = report.map_err(db_failure)?;
    let mut verdict = Verdict::of_store(&report, checkpoint);
    if let Some(checkpoint) = since {
        verdict.notes.push(since_checkpoint_note(&report, checkpoint));
    }
    if verdict.verified == 0 {
        // Nothing there: a mistyped --chain must not read as an empty, valid trail. Against a
        // checkpoint it is broken (truncated: every event may have been deleted with its head
        // row), and stays so; a note names the chains there are, in case it was mistyped.
        match require_chain(&store, chain).await {
            Err(failure) if !verdict.is_valid() => verdict.notes.push(format!("note: {}", failure.0)),
            result => result?,
        }
    }
    Ok(verdict)
}

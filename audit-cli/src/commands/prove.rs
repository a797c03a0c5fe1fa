//! `audit-trail prove --jsonl FILE --seq N [--size M]` and `… --from M [--to N]`.

use super::{block_on, require_whole_chain};
use crate::{EXIT_BROKEN, EXIT_VALID, Failure};
use audit_core::proof::{self, StoreProofError};
use audit_core::store::{AuditStore, JsonlStore};
use clap::Args;
use std::path::PathBuf;

#[derive(Args)]
pub(crate) struct ProveArgs {
    /// A JSON Lines export (SPEC §3) of a whole chain, from seq 1 (read only).
    #[arg(long, value_name = "FILE")]
    jsonl: PathBuf,
    /// Inclusion proof: the event at this seq …
    #[arg(long, value_name = "N", conflicts_with_all = ["from", "to"], required_unless_present = "from")]
    seq: Option<u64>,
    /// … is in the tree of the first M events (default: all of them).
    #[arg(long, value_name = "M", requires = "seq")]
    size: Option<u64>,
    /// Consistency proof: the tree of the first M events …
    #[arg(long, value_name = "M")]
    from: Option<u64>,
    /// … is a prefix of the tree of the first N events (default: all of them).
    #[arg(long, value_name = "N", requires = "from")]
    to: Option<u64>,
}

/// Prints the proof as one line of SPEC §4 JSON.
pub(crate) fn run(args: &ProveArgs) -> Result<u8, Failure> {
    require_whole_chain(&args.jsonl, "a proof")?;
    let shown = args.jsonl.display();
    let store = JsonlStore::open_read_only(&args.jsonl).map_err(|e| Failure::new(e.to_string()))?;
    let chain =
        store.chain().ok_or_else(|| Failure::new(format!("{shown} holds no events: there is nothing to prove")))?;
    let proved = block_on(async {
        let size = store.head(&chain).await?.seq;
        match (args.seq, args.from) {
            (Some(seq), _) => {
                let proof = proof::inclusion_proof(&store, &chain, seq, args.size.unwrap_or(size)).await?;
                Ok(serde_json::to_string(&proof))
            }
            (None, Some(from)) => {
                let proof = proof::consistency_proof(&store, &chain, from, args.to.unwrap_or(size)).await?;
                Ok(serde_json::to_string(&proof))
            }
            (None, None) => Err(Failure::new("give --seq N (inclusion) or --from M (consistency)").into()),
        }
    })?;
    match proved {
        Ok(json) => {
            println!("{}", json.map_err(|e| Failure::new(format!("cannot write the proof as JSON: {e}")))?);
            Ok(EXIT_VALID)
        }
        Err(Problem::Proof(StoreProofError::Broken { chain_break, .. })) => {
            println!("{chain_break}");
            eprintln!("  {}", chain_break.detail);
            eprintln!("refusing to prove from a broken chain: investigate with `audit-trail verify` first");
            Ok(EXIT_BROKEN)
        }
        Err(Problem::Proof(e)) => Err(Failure::new(format!("{shown}: {e}"))),
        Err(Problem::Usage(failure)) => Err(failure),
    }
}

/// What can go wrong inside the async part.
enum Problem {
    Proof(StoreProofError),
    Usage(Failure),
}

impl From<StoreProofError> for Problem {
    fn from(e: StoreProofError) -> Problem {
        Problem::Proof(e)
    }
}

impl From<audit_core::store::StoreError> for Problem {
    fn from(e: audit_core::store::StoreError) -> Problem {
        Problem::Proof(e.into())
    }
}

impl From<Failure> for Problem {
    fn from(e: Failure) -> Problem {
        Problem::Usage(e)
    }
}

//! `audit-trail prove (--db URL | --jsonl FILE) [--chain NAME] --seq N [--size M]` and
//! `… --from M [--to N]`.

use super::{
    DEFAULT_CHAIN, JsonlFile, Source, Trail, Verdict, block_on, db_failure, open_db, println_out, require_chain,
    require_jsonl_chain, require_whole_chain, unfinished_write_note,
};
use crate::{EXIT_BROKEN, EXIT_VALID, Failure};
use audit_core::proof::{self, StoreProofError};
use audit_core::store::{AuditStore, JsonlStore};
use audit_core::verify::{ChainVerifier, verify_reader};
use clap::Args;

#[derive(Args)]
pub(crate) struct ProveArgs {
    #[command(flatten)]
    source: Source,
    /// The chain (default: default). A JSON Lines file holds one chain; if given, it must be
    /// that one.
    #[arg(long, value_name = "NAME")]
    chain: Option<String>,
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
    let (proved, shown) = match args.source.trail()? {
        Trail::Jsonl(trail) => {
            require_whole_chain(&trail, "a proof")?;
            require_jsonl_chain(&trail, args.chain.as_deref())?;
            let shown = trail.shown().to_string();
            let store = match JsonlStore::open_read_only(trail.path()) {
                Ok(store) => store,
                Err(e) => {
                    // A file verify calls broken (its end is not a complete line) is reported
                    // as verify reports it.
                    let verdict = jsonl_verdict(&trail)?;
                    if !verdict.is_valid() {
                        return refuse_broken(&verdict);
                    }
                    return Err(match trail.is_copy() {
                        true => Failure::new(format!("{shown} (read into a temporary copy): {e}")),
                        false => Failure::new(e.to_string()),
                    });
                }
            };
            if let Some(bytes) = store.unfinished_write() {
                eprintln!("{}", unfinished_write_note(&shown, bytes));
            }
            let chain = store
                .chain()
                .ok_or_else(|| Failure::new(format!("{shown} holds no events: there is nothing to prove")))?;
            let proved = match block_on(prove(&store, &chain, args))? {
                // A line the store cannot hand over (not UTF-8; a malformed first line, which
                // fixes the numbering) or fewer lines than its head says: `verify` calls such
                // a file broken, and names where.
                Err(Problem::Proof(e @ (StoreProofError::Store(_) | StoreProofError::Inconsistent { .. }))) => {
                    let verdict = jsonl_verdict(&trail)?;
                    Err(if verdict.is_valid() { Problem::Proof(e) } else { Problem::Broken(verdict) })
                }
                proved => proved,
            };
            (proved, shown)
        }
        Trail::Db(url) => {
            let chain = args.chain.as_deref().unwrap_or(DEFAULT_CHAIN);
            (block_on(prove_db(url, chain, args))?, format!("chain {chain:?}"))
        }
    };
    match proved {
        Ok(json) => {
            println_out(json)?;
            Ok(EXIT_VALID)
        }
        Err(Problem::Proof(StoreProofError::Broken { chain_break, .. })) => {
            eprintln!("{chain_break}");
            eprintln!("  {}", chain_break.detail);
            eprintln!("refusing to prove from a broken chain: investigate with `audit-trail verify` first");
            Ok(EXIT_BROKEN)
        }
        Err(Problem::Broken(verdict)) => refuse_broken(&verdict),
        Err(Problem::Proof(e)) => {
            // Most store errors name the chain already.
            let message = e.to_string();
            Err(Failure::new(if message.contains(&shown) { message } else { format!("{shown}: {message}") }))
        }
        Err(Problem::Usage(failure)) => Err(failure),
    }
}

/// Prints the verdict on a broken chain and refuses to prove from it: exit 1.
fn refuse_broken(verdict: &Verdict) -> Result<u8, Failure> {
    verdict.print_refusal()?;
    eprintln!("refusing to prove from a broken chain: investigate with `audit-trail verify` first");
    Ok(EXIT_BROKEN)
}

/// The verdict of verifying a JSON Lines trail from seq 1.
fn jsonl_verdict(trail: &JsonlFile) -> Result<Verdict, Failure> {
    let shown = trail.shown();
    let file = std::fs::File::open(trail.path()).map_err(|e| Failure::new(format!("cannot open {shown}: {e}")))?;
    let report = verify_reader(file, ChainVerifier::from_genesis())
        .map_err(|e| Failure::new(format!("cannot read {shown}: {e}")))?;
    Ok(Verdict::of_lines(&report, None))
}

/// The proof `args` ask for, over `chain` in the database at `url`, as JSON.
async fn prove_db(url: &str, chain: &str, args: &ProveArgs) -> Result<String, Problem> {
    let store = open_db(url).await?;
    let head = match store.head(chain).await {
        Ok(head) => head,
        // A head row edited into something no writer stores: tampering, which the
        // verification reports (with every other finding).
        Err(audit_core::store::StoreError::Corrupt(_)) => {
            let verdict = Verdict::of_store(&store.verify_chain(chain).await.map_err(db_failure)?, None);
            return Err(if verdict.is_valid() {
                Failure::new(format!("chain {chain:?}: its chain-head row cannot be read")).into()
            } else {
                Problem::Broken(verdict)
            });
        }
        Err(e) => return Err(e.into()),
    };
    if head.seq == 0 {
        require_chain(&store, chain).await?;
        // Events but no head row: broken (verify says where).
        let verdict = Verdict::of_store(&store.verify_chain(chain).await.map_err(db_failure)?, None);
        if !verdict.is_valid() {
            return Err(Problem::Broken(verdict));
        }
        return Err(Failure::new(format!("chain {chain:?} has no events: there is nothing to prove")).into());
    }
    match prove(&store, chain, args).await {
        // An event the store cannot hand over (not UTF-8 text): the chain is broken there.
        Err(Problem::Proof(StoreProofError::Store(e @ audit_core::store::StoreError::UnreadableLine { .. }))) => {
            let verdict = Verdict::of_store(&store.verify_chain(chain).await.map_err(db_failure)?, None);
            Err(if verdict.is_valid() { Problem::Proof(StoreProofError::Store(e)) } else { Problem::Broken(verdict) })
        }
        Err(Problem::Proof(StoreProofError::Inconsistent { chain, detail })) => {
            // The stored subtree hashes disagree with the events: stale hashes, or events
            // deleted or edited behind the store's back. Tell them apart by verifying.
            let report = store.verify_chain(&chain).await.map_err(db_failure)?;
            let verdict = Verdict::of_store(&report, None);
            if verdict.is_valid() {
                Err(Failure::new(format!(
                    "chain {chain:?}: no proof printed: the Merkle subtree hashes stored in audit_merkle_nodes are \
                     corrupt or stale ({detail}), though its {} events verify. Rebuild them: as the schema owner, \
                     delete the chain's rows (DELETE FROM audit_merkle_nodes WHERE chain = '{}') and run the \
                     application's migration (SqlStore::migrate), which stores them again from the events. Meanwhile \
                     a proof from an export does not use them: `audit-trail export`, then `prove --jsonl`",
                    verdict.verified,
                    chain.replace('\'', "''")
                ))
                .into())
            } else {
                Err(Problem::Broken(verdict))
            }
        }
        proved => proved,
    }
}

/// The proof `args` ask for, over `chain` in `store`, as JSON.
async fn prove<S: AuditStore + ?Sized>(store: &S, chain: &str, args: &ProveArgs) -> Result<String, Problem> {
    let size = store.head(chain).await?.seq;
    // Each proof is checked against the root it claims before it is printed: one built from a
    // corrupt stored subtree hash fails here (reported as inconsistent hashes), not at the
    // auditor's.
    let unverified = |e: audit_core::merkle::ProofError| {
        Problem::Proof(StoreProofError::Inconsistent {
            chain: chain.to_string(),
            detail: format!("the proof built from them does not verify against its own root: {e}"),
        })
    };
    if args.size == Some(0) || args.to == Some(0) {
        let option = if args.size == Some(0) { "--size" } else { "--to" };
        return Err(Failure::new(format!(
            "{option} 0: the tree of no events proves nothing (no event is in it, and consistency proofs \
             with it are refused); give {option} from 1 to {size} (chain {chain:?} has {size} events)"
        ))
        .into());
    }
    let json = match (args.seq, args.from) {
        (Some(seq), _) => {
            let tree = args.size.unwrap_or(size);
            if seq > tree && tree <= size {
                return Err(Failure::new(format!(
                    "--seq {seq} is not in the tree of the first {tree} events (chain {chain:?} has {size} events): \
                     give a seq from 1 to {tree}"
                ))
                .into());
            }
            let proof = proof::inclusion_proof(store, chain, seq, tree).await?;
            proof.verify().map_err(unverified)?;
            serde_json::to_string(&proof)
        }
        (None, Some(from)) => {
            if args.to.is_none() && from > size {
                return Err(Failure::new(format!(
                    "--from {from} is beyond chain {chain:?}, which has {size} events: give --from from 1 to {size}"
                ))
                .into());
            }
            let proof = proof::consistency_proof(store, chain, from, args.to.unwrap_or(size)).await?;
            proof.verify().map_err(unverified)?;
            serde_json::to_string(&proof)
        }
        (None, None) => return Err(Failure::new("give --seq N (inclusion) or --from M (consistency)").into()),
    };
    json.map_err(|e| Failure::new(format!("cannot write the proof as JSON: {e}")).into())
}

/// What can go wrong while proving.
enum Problem {
    Proof(StoreProofError),
    /// The chain in the database is broken (found when its proof could not be built).
    Broken(Verdict),
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

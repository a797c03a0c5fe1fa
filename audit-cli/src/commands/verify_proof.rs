//! `audit-trail verify-proof --proof FILE [--checkpoint FILE --key VERIFIER_KEY]`.

use super::{MAX_NOTE_FILE, println_out, read_limited_text, stdin_at_most_once, trusted_checkpoint, verifier_key};
use crate::{EXIT_BROKEN, EXIT_VALID, Failure};
use audit_core::checkpoint::Checkpoint;
use audit_core::merkle::{ConsistencyProof, Digest, InclusionProof, to_hex};
use clap::Args;
use std::path::PathBuf;

#[derive(Args)]
pub(crate) struct VerifyProofArgs {
    /// A proof as `audit-trail prove` prints it (SPEC §4 JSON), or `-` for standard input.
    #[arg(long, value_name = "FILE")]
    proof: PathBuf,
    /// A signed checkpoint whose root the proof must lead to (at the checkpoint's size). For a
    /// consistency proof, at its older or its newer size: at the older one, the checkpoint does
    /// not vouch for the newer root (any tree that extends the signed one has such a proof).
    #[arg(long, value_name = "FILE", requires = "key")]
    checkpoint: Option<PathBuf>,
    /// The verifier key of the checkpoint's log, or a file holding it.
    #[arg(long, value_name = "VERIFIER_KEY", requires = "checkpoint")]
    key: Option<String>,
}

enum Proof {
    Inclusion(InclusionProof),
    Consistency(ConsistencyProof),
}

/// Checks the proof's hashes (RFC 9162) and, with a checkpoint, that its root is the signed one.
pub(crate) fn run(args: &VerifyProofArgs) -> Result<u8, Failure> {
    stdin_at_most_once(&[("--proof", Some(&args.proof)), ("--checkpoint", args.checkpoint.as_deref())])?;
    let checkpoint = match (&args.checkpoint, &args.key) {
        (Some(path), Some(key)) => Some(trusted_checkpoint(path, &verifier_key(key)?)?),
        _ => None,
    };
    let proof = read_proof(&args.proof)?;
    let (checked, roots, what) = match &proof {
        Proof::Inclusion(p) => (
            p.verify(),
            vec![(p.size, p.root)],
            format!("event seq {} (hash {}) is in the tree of {} events", p.seq, to_hex(&p.leaf), p.size),
        ),
        Proof::Consistency(p) => (
            p.verify(),
            vec![(p.size1, p.root1), (p.size2, p.root2)],
            format!("the tree of {} events is a prefix of the tree of {}", p.size1, p.size2),
        ),
    };
    if let Err(e) = checked {
        println_out(format_args!("INVALID proof: {e}"))?;
        return Ok(EXIT_BROKEN);
    }
    match &checkpoint {
        None => {
            println_out(format_args!("valid: {what}"))?;
            eprintln!(
                "note: the proof is only as good as its root; compare it with a checkpoint you trust (--checkpoint)"
            );
        }
        Some(checkpoint) => match anchored(checkpoint, &roots) {
            Ok(()) => match &proof {
                // Signed at the older tree's size: the checkpoint vouches for root1 only. Any
                // tree that extends it (whatever events were added) has a valid proof, so the
                // newer root must not read as signed.
                Proof::Consistency(p) if p.size1 == checkpoint.size && p.size2 != p.size1 => {
                    println_out(format_args!(
                        "valid: the tree of {} events, whose root checkpoint {} signed, is a prefix of the tree of {}",
                        p.size1, checkpoint.origin, p.size2
                    ))?;
                    eprintln!(
                        "note: the root of the tree of {size2} events ({root2}) is not signed by checkpoint {origin} \
                         (size {size1}): it is only as good as where it came from; compare it with a checkpoint of \
                         size {size2} you trust",
                        size1 = p.size1,
                        size2 = p.size2,
                        root2 = to_hex(&p.root2),
                        origin = checkpoint.origin
                    );
                }
                _ => println_out(format_args!("valid: {what}, whose root checkpoint {} signed", checkpoint.origin))?,
            },
            Err(Anchor::Mismatch) => {
                println_out(format_args!(
                    "INVALID proof: its root for size {} is not the one checkpoint {} signed",
                    checkpoint.size, checkpoint.origin
                ))?;
                return Ok(EXIT_BROKEN);
            }
            Err(Anchor::OtherSize) => {
                let sizes: Vec<String> = roots.iter().map(|(size, _)| size.to_string()).collect();
                return Err(Failure::new(format!(
                    "the proof is about tree size {} but the checkpoint is for size {}: ask `audit-trail prove` for a \
                     proof at the checkpoint's size",
                    sizes.join(" and "),
                    checkpoint.size
                )));
            }
        },
    }
    Ok(EXIT_VALID)
}

enum Anchor {
    Mismatch,
    OtherSize,
}

/// The proof's root at the checkpoint's size must be the checkpoint's root.
fn anchored(checkpoint: &Checkpoint, roots: &[(u64, Digest)]) -> Result<(), Anchor> {
    let (_, root) = roots.iter().find(|(size, _)| *size == checkpoint.size).ok_or(Anchor::OtherSize)?;
    if *root == checkpoint.root { Ok(()) } else { Err(Anchor::Mismatch) }
}

fn read_proof(path: &std::path::Path) -> Result<Proof, Failure> {
    let shown = path.display();
    let text = read_limited_text(path, "proof", MAX_NOTE_FILE)?;
    // A member named twice is refused: a reader keeping the other one would check another proof.
    let value = audit_core::canonical::parse_unique(&text)
        .map_err(|e| Failure::new(format!("{shown} is not JSON with each member named once: {e}")))?;
    // Both kinds in one object is refused: only one of them would be checked, while a reader
    // (or another verifier) may take it for the other.
    let parsed = match (value.get("seq").is_some(), value.get("size1").is_some()) {
        (true, false) => serde_json::from_value(value).map(Proof::Inclusion),
        (false, true) => serde_json::from_value(value).map(Proof::Consistency),
        (true, true) => {
            return Err(Failure::new(format!(
                "{shown} holds both an inclusion proof (\"seq\") and a consistency proof (\"size1\"): a SPEC §4 \
                 proof is one or the other; give each proof in a file of its own, as `audit-trail prove` prints it"
            )));
        }
        (false, false) => {
            return Err(Failure::new(format!(
                "{shown} is neither an inclusion proof (with \"seq\") nor a consistency proof (with \"size1\") of \
                 SPEC §4"
            )));
        }
    };
    parsed.map_err(|e| Failure::new(format!("{shown} is not a SPEC §4 proof: {e}")))
}

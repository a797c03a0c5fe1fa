//! One module per subcommand, and what they share: reading keys and checkpoints.

pub(crate) mod checkpoint;
pub(crate) mod keygen;
pub(crate) mod prove;
pub(crate) mod verify;
pub(crate) mod verify_proof;

use crate::Failure;
use audit_core::checkpoint::{Checkpoint, KeyError, NoteSigner, NoteVerifier};
use std::io::BufRead;
use std::path::Path;

/// A verifier key given as the key itself (`<name>+<8 hex>+<base64>`) or as a file holding it.
pub(crate) fn verifier_key(arg: &str) -> Result<NoteVerifier, Failure> {
    let parse_error = match arg.trim().parse::<NoteVerifier>() {
        Ok(key) => return Ok(key),
        Err(KeyError::PrivateKeyGiven) => {
            return Err(Failure::new(format!("--key: {}", KeyError::PrivateKeyGiven)));
        }
        Err(e) => e,
    };
    let path = Path::new(arg);
    if !path.is_file() {
        return Err(Failure::new(format!(
            "--key {arg:?} is neither a verifier key (<name>+<8 hex digits>+<base64>, as `audit-trail keygen` \
             prints it) nor a file holding one ({parse_error})"
        )));
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure::new(format!("cannot read the verifier key file {}: {e}", path.display())))?;
    text.trim().parse().map_err(|e| Failure::new(format!("{} does not hold a verifier key: {e}", path.display())))
}

/// The private key in `path` (Go note form, as `audit-trail keygen` writes it).
pub(crate) fn signer_key(path: &Path) -> Result<NoteSigner, Failure> {
    let shown = path.display();
    let text =
        std::fs::read_to_string(path).map_err(|e| Failure::new(format!("cannot read the key file {shown}: {e}")))?;
    text.trim().parse().map_err(|e| {
        Failure::new(format!(
            "{shown} does not hold a private key: {e} (make one with `audit-trail keygen --name NAME --out {shown}`)"
        ))
    })
}

/// The checkpoint in `path`, after checking that `key` signed it.
pub(crate) fn trusted_checkpoint(path: &Path, key: &NoteVerifier) -> Result<Checkpoint, Failure> {
    let shown = path.display();
    let note = std::fs::read(path).map_err(|e| Failure::new(format!("cannot read the checkpoint {shown}: {e}")))?;
    Checkpoint::verify(&note, key).map_err(|e| {
        Failure::new(format!(
            "checkpoint {shown} refused, nothing was verified: {e} (the verifier key given is {})",
            key
        ))
    })
}

/// Runs `future` to completion on a small runtime (the store APIs are async).
pub(crate) fn block_on<F: std::future::Future>(future: F) -> Result<F::Output, Failure> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::new(format!("cannot start the async runtime: {e}")))?;
    Ok(runtime.block_on(future))
}

/// Refuses a trail that is a part of a chain (its first event is not seq 1): checkpoints and
/// proofs cover whole chains. A first line that is not an event is left for the verifier to
/// report.
pub(crate) fn require_whole_chain(path: &Path, what: &str) -> Result<(), Failure> {
    let shown = path.display();
    let file = std::fs::File::open(path).map_err(|e| Failure::new(format!("cannot open {shown}: {e}")))?;
    let mut first = Vec::new();
    std::io::BufReader::new(file)
        .read_until(b'\n', &mut first)
        .map_err(|e| Failure::new(format!("cannot read {shown}: {e}")))?;
    if first.last() == Some(&b'\n') {
        first.pop();
    }
    match audit_core::line::inspect(&first) {
        Ok(info) if info.seq != 1 => Err(Failure::new(format!(
            "{shown} starts at seq {}: {what} needs the whole chain from seq 1 (export it from the start)",
            info.seq
        ))),
        _ => Ok(()),
    }
}

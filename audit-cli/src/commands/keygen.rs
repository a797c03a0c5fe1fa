//! `audit-trail keygen --name NAME --out KEYFILE`.

use crate::{EXIT_VALID, Failure};
use audit_core::checkpoint::NoteSigner;
use clap::Args;
use std::io::Write;
use std::path::PathBuf;

#[derive(Args)]
pub(crate) struct KeygenArgs {
    /// The key name, usually the checkpoints' origin, e.g. audit.example.com/default (no '+',
    /// no spaces).
    #[arg(long)]
    name: String,
    /// Where to write the private key (never overwritten; readable by its owner only).
    #[arg(long, value_name = "KEYFILE")]
    out: PathBuf,
}

pub(crate) fn run(args: &KeygenArgs) -> Result<u8, Failure> {
    let signer = NoteSigner::generate(args.name.as_str()).map_err(|e| Failure::new(format!("--name: {e}")))?;
    let shown = args.out.display();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&args.out).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            Failure::new(format!(
                "{shown} already exists: refusing to overwrite a key (checkpoints signed with it could no longer be \
                 made); choose another path"
            ))
        } else {
            Failure::new(format!("cannot create {shown}: {e}"))
        }
    })?;
    let private = signer.to_private_key_string();
    if let Err(e) = file.write_all(format!("{private}\n").as_bytes()).and_then(|()| file.sync_all()) {
        // An empty or partial key file would make the next keygen refuse to overwrite "a key".
        let _ = std::fs::remove_file(&args.out);
        return Err(Failure::new(format!("cannot write {shown} (removed again): {e}")));
    }
    if let Err(failure) = super::println_out(signer.verifier()) {
        // Without its verifier key nobody could check what this key signs: take the key back.
        let _ = std::fs::remove_file(&args.out);
        return Err(Failure::new(format!("{}; {shown} was removed, run keygen again", failure.0)));
    }
    eprintln!("private key written to {shown}: keep it secret; publish the verifier key above");
    Ok(EXIT_VALID)
}

//! A crash while `DirectorySink` writes a checkpoint leaves no torn note under the
//! checkpoint's file name: the file of a size appears whole or not at all.
//!
//! A torn file under that name stays for good: after a restart the writer counts the chain's
//! size as published and never publishes that size again (so the sink never gets to complete
//! it), and on WORM storage it could not be replaced anyway. Whoever collects the directory
//! (an auditor taking the newest checkpoint, a second system) would meet a malformed note.
//!
//! The crash is real: a child process of this test binary publishes under `prlimit --fsize`,
//! so that the kernel kills it (`SIGXFSZ`) in the middle of writing the note. In a test binary
//! of its own, so that the child runs one test only.

use audit_core::checkpoint::{Checkpoint, NoteSigner};
use audit_core::publish::{CheckpointSink, DirectorySink};

const CHILD_ENV: &str = "AUDIT_CORE_SINK_CRASH_DIR";
const ORIGIN: &str = "audit.example.com/default";
/// The file size limit the child runs under: less than one note (about 200 bytes).
const LIMIT: u64 = 64;
const SIZE: u64 = 1000;

/// The checkpoint both processes publish, signed by the key kept in `dir`.
fn checkpoint_and_note(dir: &std::path::Path) -> (Checkpoint, String) {
    let key = std::fs::read_to_string(dir.join("key")).expect("the key file");
    let signer: NoteSigner = key.trim().parse().expect("a private key");
    let checkpoint = Checkpoint::new(ORIGIN, SIZE, [3; 32]);
    let note = checkpoint.sign(&signer).expect("signs");
    (checkpoint, note)
}

#[tokio::test]
async fn sink_crash_child() {
    // Runs only as the child process of `a_crash_mid_write_leaves_no_torn_checkpoint_file`.
    let Ok(dir) = std::env::var(CHILD_ENV) else { return };
    let dir = std::path::Path::new(&dir);
    let (checkpoint, note) = checkpoint_and_note(dir);
    assert!(note.len() as u64 > LIMIT, "the note does not fit under the limit");
    let sink = DirectorySink::new(dir.join("checkpoints")).expect("dir");
    println!("child: publishing");
    let result = sink.publish(&checkpoint, &note).await;
    println!("child: not killed: {result:?}");
}

#[test]
fn a_crash_mid_write_leaves_no_torn_checkpoint_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let signer = NoteSigner::generate(ORIGIN).expect("key");
    std::fs::write(dir.path().join("key"), signer.to_private_key_string()).expect("key file");
    std::fs::create_dir(dir.path().join("checkpoints")).expect("dir");

    let test_binary = std::env::current_exe().expect("test binary");
    let output = std::process::Command::new("prlimit")
        .arg(format!("--fsize={LIMIT}"))
        .arg("--")
        .arg(&test_binary)
        .args(["sink_crash_child", "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, dir.path())
        .output()
        .expect("spawn prlimit (from util-linux)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stdout.contains("child: publishing"), "the child ran: {stdout}\n{stderr}");
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        const SIGXFSZ: i32 = 25;
        assert_eq!(output.status.signal(), Some(SIGXFSZ), "killed mid-write: {stdout}\n{stderr}");
    }

    // Every file named as a checkpoint holds a whole, valid note.
    let published = dir.path().join("checkpoints");
    let (checkpoint, note) = checkpoint_and_note(dir.path());
    for entry in std::fs::read_dir(&published).expect("dir") {
        let name = entry.expect("entry").file_name().to_string_lossy().into_owned();
        if name.ends_with(".checkpoint") {
            let text = std::fs::read(published.join(&name)).expect("read");
            assert!(
                Checkpoint::verify(&text, &signer.verifier()).is_ok(),
                "{name} holds a torn note after the crash ({} of {} bytes): {:?}",
                text.len(),
                note.len(),
                String::from_utf8_lossy(&text)
            );
        }
    }

    // The same checkpoint, and a later one, are published after the crash.
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let sink = DirectorySink::new(&published).expect("dir");
        sink.publish(&checkpoint, &note).await.expect("published after the crash");
        let later = Checkpoint::new(ORIGIN, SIZE + 1, [4; 32]);
        sink.publish(&later, &later.sign(&signer).expect("signs")).await.expect("a later one too");
    });
    assert_eq!(std::fs::read_to_string(published.join(DirectorySink::file_name(SIZE))).expect("file"), note);
    let mut names: Vec<String> = std::fs::read_dir(&published)
        .expect("dir")
        .map(|entry| entry.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".checkpoint"))
        .collect();
    names.sort();
    assert_eq!(names, [DirectorySink::file_name(SIZE), DirectorySink::file_name(SIZE + 1)]);
}

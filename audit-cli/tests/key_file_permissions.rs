//! A private key file that others than its owner may read is used, with a warning that says
//! what it allows and how to fix it: anyone who can read the file can sign checkpoints in the
//! log's name. `keygen` writes keys readable by their owner only, so no warning for those.
#![cfg(unix)]

mod common;

use common::{assert_exit, run, s, stderr, stdout, trail};
use std::os::unix::fs::PermissionsExt;

const ORIGIN: &str = "audit.example.com/default";

#[test]
fn a_key_file_others_can_read_signs_with_a_warning() {
    let dir = tempfile::tempdir().expect("tempdir");
    let trail = trail(dir.path(), 3);
    let key = dir.path().join("log.key");
    assert_exit(&run(&["keygen", "--name", ORIGIN, "--out", s(&key)]), 0);
    let checkpoint = ["checkpoint", "--jsonl", s(&trail), "--origin", ORIGIN, "--key", s(&key)];

    let private = run(&checkpoint);
    assert_exit(&private, 0);
    assert!(!stderr(&private).contains("warning"), "{}", stderr(&private));

    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).expect("chmod 644");
    let open = run(&checkpoint);
    assert_exit(&open, 0);
    let warning = stderr(&open);
    assert!(warning.contains("warning") && warning.contains("mode 644"), "{warning}");
    assert!(warning.contains(&format!("chmod 600 {}", key.display())), "{warning}");
    assert!(warning.contains("anyone who can read it can sign checkpoints in this log's name"), "{warning}");
    // The same checkpoint, signed all the same (its signature line differs only if the time
    // does: the body names the same tree).
    let body = |text: String| text.lines().take(3).map(str::to_owned).collect::<Vec<_>>();
    assert_eq!(body(stdout(&open)), body(stdout(&private)));
}

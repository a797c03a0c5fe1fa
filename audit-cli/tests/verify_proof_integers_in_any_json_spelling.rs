//! `verify-proof` reads a SPEC §4 proof as JSON, where `3`, `3.0` and `3e0` are one number: a
//! proof another tool wrote with its seq or sizes as `3.0` or `7e0` is the same proof, valid
//! (exit 0) when its hashes are, as the independent verifier (`tools/verify_trail.py proof`)
//! finds it. It was refused as "not a SPEC §4 proof" (exit 2).

mod common;

use common::{assert_exit, run, s, stdout, trail};

#[test]
fn a_proof_with_its_integers_spelled_as_other_json_numbers_verifies() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = trail(dir.path(), 7);
    for (args, from, to) in [
        (["--seq", "3"], ("\"seq\":3,", "\"size\":7,"), ("\"seq\":3.0,", "\"size\":7e0,")),
        (["--from", "3"], ("\"size1\":3,", "\"size2\":7,"), ("\"size1\":3.0,", "\"size2\":70e-1,")),
    ] {
        let proved = run(&["prove", "--jsonl", s(&path), args[0], args[1]]);
        assert_exit(&proved, 0);
        let proof = stdout(&proved);
        let respelled = proof.replacen(from.0, to.0, 1).replacen(from.1, to.1, 1);
        assert_ne!(respelled, proof, "{args:?}: the test changed nothing");
        let file = dir.path().join("proof.json");
        std::fs::write(&file, &respelled).expect("write the proof");
        let output = run(&["verify-proof", "--proof", s(&file)]);
        assert_exit(&output, 0);
        assert!(stdout(&output).starts_with("valid: "), "{args:?}: {}", stdout(&output));

        // Still a proof of its own numbers: a seq or size that names no position is refused.
        std::fs::write(&file, proof.replacen(from.0, &from.0.replace('3', "3.5"), 1)).expect("write the proof");
        assert_exit(&run(&["verify-proof", "--proof", s(&file)]), 2);
    }
}

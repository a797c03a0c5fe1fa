#!/usr/bin/env python3
"""Tests for tools/verify_trail.py, the independent reference verifier.

Run from the repository root (or anywhere):

    python3 tools/test_verify_trail.py

Environment:
    VECTORS_DIR      the public vectors; default ../../shared/vectors from this
                     file's directory (/work/shared/vectors)
    AUDIT_TRAIL_BIN  the Rust tool to compare with; default
                     target/debug/audit-trail under the repository root.  The
                     comparison tests are skipped when it does not exist.

What is covered:
  * the vector groups of `verify_trail.py selftest` (JCS, RFC 6962, signed notes);
  * an RFC 8785 canonicalizer written here, separately, that must agree with
    the script's and with the vectors;
  * Ed25519: RFC 8032 test vectors and the strictness rules;
  * trails built here (odd numbers, Unicode, escapes, nested details,
    composite keys), tampered in every way SPEC §2 names, and checkpoints
    signed with a test key; the expected verdicts are written out by hand;
  * §4 proofs generated here (RFC 9162 PATH / PROOF) and tampered;
  * the command line's exit codes and error messages (no tracebacks);
  * with the Rust tool: the same verdicts (status, verified, broken_at,
    reason, exit code) on every trail, the same proofs from `prove`, and the
    known, deliberate divergences listed in DIVERGENCES (both sides asserted).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import json
import math
import os
import random
import re
import struct
import subprocess
import sys
import tempfile
import unittest
from typing import Any, Optional

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True  # leave no __pycache__ beside the scripts

import verify_trail as vt  # noqa: E402

VECTORS = os.environ.get("VECTORS_DIR") or os.path.normpath(os.path.join(HERE, "..", "..", "shared", "vectors"))
RUST_BIN = os.environ.get("AUDIT_TRAIL_BIN") or os.path.join(REPO, "target", "debug", "audit-trail")
HAVE_RUST = os.path.isfile(RUST_BIN) and os.access(RUST_BIN, os.X_OK)


# ---------------------------------------------------------------------------
# An RFC 8785 canonicalizer of its own (digits found by trying precisions,
# strings escaped character by character), to check the script against.
# ---------------------------------------------------------------------------

def ref_number(x: float) -> str:
    """ES6 Number::toString, the shortest digits found by trial."""
    if not math.isfinite(x):
        raise ValueError("not finite")
    if x == 0:
        return "0"
    if x < 0:
        return "-" + ref_number(-x)
    for precision in range(1, 18):
        text = f"{x:.{precision - 1}e}"
        if float(text) == x:
            break
    mantissa, exponent = text.split("e")
    digits = mantissa.replace(".", "").rstrip("0")
    n, k = int(exponent) + 1, len(digits)  # x = 0.digits * 10^n
    if k <= n <= 21:
        return digits + "0" * (n - k)
    if 0 < n <= 21:
        return digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return "0." + "0" * -n + digits
    head = digits[0] + ("." + digits[1:] if k > 1 else "")
    return f"{head}e{'+' if n - 1 > 0 else '-'}{abs(n - 1)}"


def ref_string(s: str) -> str:
    out = ['"']
    for ch in s:
        code = ord(ch)
        if 0xD800 <= code <= 0xDFFF:
            raise ValueError("lone surrogate")
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif code < 0x20:
            out.append({8: "\\b", 9: "\\t", 10: "\\n", 12: "\\f", 13: "\\r"}.get(code, "\\u%04x" % code))
        else:
            out.append(ch)
    return "".join(out) + '"'


def ref_text(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v) if abs(v) <= 2 ** 53 else ref_number(float(v))
    if isinstance(v, float):
        return ref_number(v)
    if isinstance(v, str):
        return ref_string(v)
    if isinstance(v, list):
        return "[" + ",".join(ref_text(x) for x in v) + "]"
    if isinstance(v, dict):
        items = sorted(v.items(), key=lambda kv: kv[0].encode("utf-16-be"))
        return "{" + ",".join(ref_string(k) + ":" + ref_text(x) for k, x in items) + "}"
    raise TypeError(type(v))


def ref_canonical(v: Any) -> bytes:
    return ref_text(v).encode("utf-8")


# ---------------------------------------------------------------------------
# Trails built here
# ---------------------------------------------------------------------------

ZERO = "0" * 64
REMOVE = object()  # a field to leave out


def event(seq: int, **fields: Any) -> dict:
    """An event with the required fields (no prev/hash yet) and `fields`."""
    e = {"v": 1, "chain": "default", "seq": seq, "id": f"0190a5b2-7c3d-7e4f-8a1b-{seq:012x}",
         "ts": f"2026-11-23T10:15:{seq % 60:02d}.{seq:06d}Z", "actor": {"id": "alice", "kind": "user"},
         "action": "update", "resource": {"type": "users", "id": str(seq)}, "outcome": "success"}
    e.update(fields)
    return e


def seal(e: dict) -> dict:
    """Set "hash": SHA-256 of canonical(event without hash), computed here."""
    e = dict(e)
    e.pop("hash", None)
    e["hash"] = hashlib.sha256(ref_canonical(e)).hexdigest()
    return e


def link(events: list[dict], prev: str = ZERO) -> list[dict]:
    """Chain the events: each prev is the hash before it; all re-sealed."""
    out = []
    for e in events:
        e = seal(dict(e, prev=prev))
        prev = e["hash"]
        out.append(e)
    return out


def jsonl(events: list) -> bytes:
    """Events (dicts, or already-made lines as bytes) as a §3 file."""
    return b"".join((e if isinstance(e, bytes) else ref_canonical(e)) + b"\n" for e in events)


def odd_events() -> list[dict]:
    """Eight events exercising the corners of §1 and RFC 8785."""
    return [
        event(1, action="create", actor={"id": "root", "kind": "admin", "auth": "password", "session": "s-1"},
              resource={"type": "users", "id": "42"},
              changes=[{"field": "email", "new": "a@example.com"}, {"field": "name", "new": "Zoë 😀"}],
              context={"ip": "203.0.113.9", "user_agent": "curl/8", "request_id": "r-1", "method": "POST",
                       "route": "/users", "path": "/users", "status": 201, "duration_us": 1234},
              justification="ticket CHG-1234", tags=["break_glass", "privileged"]),
        event(2, details={"big": 1e21, "tiny": 1e-7, "tenth": 0.1, "negzero": -0.0, "e20": 1e20,
                          "maxsafe": 2 ** 53, "huge": float(2 ** 64), "neg": -1.5e-7, "min": 5e-324,
                          "third": 1 / 3, "int": -17}),
        event(3, details={"astral": "😀𝄞", "separators": "a\u2028b\u2029c", "controls": "\x00\x01\x1f\x7f",
                          "escapes": "\"\\/\b\f\n\r\t", "keys": {"\ue000": 1, "😀": 2, "é": 3, "a": 4, "": 5}}),
        event(4, details={"a": [{"b": [[], {}, [None, True, False]]}], "z": {"y": {"x": [1, 2.5, "3"]}},
                          "null": None}),
        event(5, action="delete", resource={"type": "order_items", "id": '[42,"sku-1"]'},
              changes=[{"field": "qty", "old": 3}, {"field": "total", "old": 19.99}]),
        event(6, action="PUT /users/{id}", outcome="denied", reason="forbidden",
              actor={"id": "", "kind": "anonymous"}, resource={"type": "users", "id": ""}),
        event(7, changes=[{"field": "a", "old": 1, "new": 2}, {"field": "😀", "new": True},
                          {"field": "\ue000", "old": None}], tags=["😀", "\ue000"]),
        event(8, x_tenant="t1", outcome="failure", reason="timeout", actor={"id": "svc", "kind": "service"},
              ts="2026-12-31T23:59:60.000000Z"),
    ]


BASE = link(odd_events())
LINES = [ref_canonical(e) for e in BASE]


def edited(i: int, **fields: Any) -> dict:
    """BASE[i] with fields changed (hash left as it was)."""
    return dict(BASE[i], **fields)


def spliced_line(i: int, old: bytes, new: bytes) -> bytes:
    assert old in LINES[i]
    return LINES[i].replace(old, new, 1)


def renumbered(events: list[dict], start: int = 1) -> list[dict]:
    """Seq renumbered from `start`, each re-sealed but keeping its old prev."""
    return [seal(dict(e, seq=start + i)) for i, e in enumerate(events)]


# ---------------------------------------------------------------------------
# Checkpoints signed with test keys
# ---------------------------------------------------------------------------

ORIGIN = "audit.example.com/default"
TEST_SEED = hashlib.sha256(b"test_verify_trail: checkpoint key").digest()
OTHER_SEED = hashlib.sha256(b"test_verify_trail: another key").digest()
WITNESS_SEED = hashlib.sha256(b"test_verify_trail: a witness").digest()


def verifier_key(name: str, seed: bytes) -> str:
    pub = vt.ed25519_public_key(seed)
    kid = hashlib.sha256(name.encode() + b"\n\x01" + pub).digest()[:4]
    encoded = base64.b64encode(b"\x01" + pub).decode()
    return f"{name}+{kid.hex()}+{encoded}"


def signature_line(text: bytes, name: str, seed: bytes) -> bytes:
    pub = vt.ed25519_public_key(seed)
    kid = hashlib.sha256(name.encode() + b"\n\x01" + pub).digest()[:4]
    sig = base64.b64encode(kid + vt.ed25519_sign(seed, text))
    return "\u2014 ".encode() + name.encode() + b" " + sig + b"\n"


def checkpoint(size: int, root: bytes, origin: str = ORIGIN, name: str = ORIGIN,
               seed: bytes = TEST_SEED) -> bytes:
    text = f"{origin}\n{size}\n{base64.b64encode(root).decode()}\n".encode()
    return text + b"\n" + signature_line(text, name, seed)


TEST_KEY = verifier_key(ORIGIN, TEST_SEED)
OTHER_KEY = verifier_key(ORIGIN, OTHER_SEED)


# ---------------------------------------------------------------------------
# Merkle trees and proofs, RFC 9162 §2.1, written out here
# ---------------------------------------------------------------------------

def mth(leaves: list[bytes]) -> bytes:
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return hashlib.sha256(b"\x01" + mth(leaves[:k]) + mth(leaves[k:])).digest()


def inclusion_path(m: int, leaves: list[bytes]) -> list[bytes]:
    if len(leaves) <= 1:
        return []
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    if m < k:
        return inclusion_path(m, leaves[:k]) + [mth(leaves[k:])]
    return inclusion_path(m - k, leaves[k:]) + [mth(leaves[:k])]


def subproof(m: int, leaves: list[bytes], complete: bool) -> list[bytes]:
    n = len(leaves)
    if m == n:
        return [] if complete else [mth(leaves)]
    k = 1
    while k * 2 < n:
        k *= 2
    if m <= k:
        return subproof(m, leaves[:k], complete) + [mth(leaves[k:])]
    return subproof(m - k, leaves[k:], False) + [mth(leaves[:k])]


def leaves_of(events: list[dict]) -> list[bytes]:
    return [bytes.fromhex(e["hash"]) for e in events]


def inclusion_proof(events: list[dict], seq: int, size: int) -> dict:
    leaves = leaves_of(events)[:size]
    return {"chain": events[0]["chain"], "seq": seq, "size": size, "leaf": events[seq - 1]["hash"],
            "root": mth(leaves).hex(), "path": [p.hex() for p in inclusion_path(seq - 1, leaves)]}


def consistency_proof(events: list[dict], size1: int, size2: int) -> dict:
    leaves = leaves_of(events)[:size2]
    return {"chain": events[0]["chain"], "size1": size1, "size2": size2,
            "root1": mth(leaves[:size1]).hex(), "root2": mth(leaves).hex(),
            "path": [p.hex() for p in subproof(size1, leaves, True)]}


# ---------------------------------------------------------------------------
# Running the script (in process) and the Rust tool
# ---------------------------------------------------------------------------

TMP: Optional[tempfile.TemporaryDirectory] = None


def tmp_path(name: str) -> str:
    return os.path.join(TMP.name, name)


def write(name: str, data: bytes) -> str:
    path = tmp_path(name)
    with open(path, "wb") as f:
        f.write(data)
    return path


def run_script(*argv: str) -> tuple[int, str, str]:
    """verify_trail.main(argv) in this process: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = vt.main(list(argv))
        except SystemExit as exc:  # argparse
            rc = exc.code if isinstance(exc.code, int) else 2
    return rc, out.getvalue(), err.getvalue()


def verdict_of(rc: int, stdout: str) -> tuple:
    """(status, verified, broken_at, reason, exit code) from `--json` output."""
    if rc not in (0, 1):
        return (None, None, None, None, rc)
    obj = json.loads(stdout)
    return (obj["status"], obj["verified"], obj["broken_at"], obj["reason"], rc)


def script_verdict(path: str, extra: list[str]) -> tuple:
    rc, out, _ = run_script("verify", path, "--json", *extra)
    return verdict_of(rc, out)


def rust_verdict(path: str, extra: list[str]) -> tuple:
    proc = subprocess.run([RUST_BIN, "verify", "--jsonl", path, "--json", *extra],
                          capture_output=True, text=True, timeout=60)
    return verdict_of(proc.returncode, proc.stdout)


def valid(n: int) -> tuple:
    return ("valid", n, None, None, 0)


def broken(at: int, reason: str, verified: int) -> tuple:
    return ("broken", verified, at, reason, 1)


USAGE = (None, None, None, None, 2)


def build_cases() -> list[tuple[str, str, list[str], tuple]]:
    """(name, trail file, extra arguments, expected verdict) for every case
    the script and the Rust tool must agree on."""
    cases: list[tuple[str, bytes, list[str], tuple]] = []

    def case(name: str, data: bytes, expected: tuple, extra: Optional[list[str]] = None) -> None:
        cases.append((name, data, extra or [], expected))

    L = LINES
    # Valid trails.
    case("valid: odd values", jsonl(L), valid(8))
    case("valid: partial export from seq 3 (first prev on trust)", jsonl(L[2:]), valid(6))
    case("valid: empty file", b"", valid(0))
    case("valid: --chain default", jsonl(L), valid(8), ["--chain", "default"])
    case("usage: --chain names another chain", jsonl(L), USAGE, ["--chain", "tenant-b"])
    case("valid: last event removed (needs a checkpoint to see)", jsonl(L[:7]), valid(7))
    case("valid: added fields holding integers, 1.5e+21 among them",
         jsonl(link(BASE[:1] + [dict(BASE[1], x_added={"n": [1.5e21, -3, 0]},
                                     resource=dict(BASE[1]["resource"], x=1e300))] + BASE[2:])), valid(8))

    # hash mismatch: an event altered.
    case("edit: action changed, hash kept", jsonl(L[:2] + [edited(2, action="delete")] + L[3:]),
         broken(3, "hash mismatch", 2))
    case("edit: a float in details changed", jsonl(L[:1] + [edited(1, details=dict(BASE[1]["details"], tenth=0.2))] + L[2:]),
         broken(2, "hash mismatch", 1))
    case("edit: first event of a partial export", jsonl([edited(2, outcome="failure")] + L[3:]),
         broken(3, "hash mismatch", 0))
    # prev mismatch: an event replaced (re-sealed), removed and renumbered, inserted and renumbered.
    case("replace: event 3 re-sealed", jsonl(L[:2] + [seal(edited(2, action="delete"))] + L[3:]),
         broken(4, "prev mismatch", 3))
    case("remove: event 4, later ones renumbered and re-sealed",
         jsonl(L[:3] + renumbered(BASE[4:], 4)), broken(4, "prev mismatch", 3))
    forged = seal(dict(event(5, action="export"), prev=BASE[3]["hash"]))
    case("insert: forged event 5, later ones renumbered and re-sealed",
         jsonl(L[:4] + [forged] + renumbered(BASE[4:], 6)), broken(6, "prev mismatch", 5))
    case("first event's prev is not zeros", jsonl(link([dict(BASE[0], prev="1" * 64)] + BASE[1:], "1" * 64)),
         broken(1, "prev mismatch", 0))
    # seq gap / out of order.
    case("remove: event 4 (seq gap and prev mismatch: seq gap first)", jsonl(L[:3] + L[4:]),
         broken(4, "seq gap", 3))
    case("remove: event 4, later ones relinked (seq gap only)", jsonl(L[:3] + link(BASE[4:], BASE[2]["hash"])),
         broken(4, "seq gap", 3))
    case("reorder: events 5 and 6 swapped", jsonl(L[:4] + [L[5], L[4]] + L[6:]), broken(5, "seq gap", 4))
    case("insert: forged event 5 without renumbering", jsonl(L[:4] + [forged] + L[4:]),
         broken(6, "seq out of order", 5))
    case("duplicate line 6", jsonl(L[:6] + [L[5]] + L[6:]), broken(7, "seq out of order", 6))
    case("seq 0 in a partial export", jsonl(link([dict(BASE[0], seq=0)])), broken(1, "bad format", 0))
    # duplicate id (hashes and links hold).
    case("duplicate id, relinked", jsonl(link(BASE[:4] + [dict(BASE[4], id=BASE[1]["id"])] + BASE[5:])),
         broken(5, "duplicate id", 4))
    case("duplicate id and prev mismatch: prev first",
         jsonl(L[:4] + [seal(dict(BASE[4], id=BASE[1]["id"], prev="2" * 64))] + L[5:]),
         broken(5, "prev mismatch", 4))
    case("duplicate id and stale hash: hash first", jsonl(L[:4] + [edited(4, id=BASE[1]["id"])] + L[5:]),
         broken(5, "hash mismatch", 4))
    case("prev mismatch and stale hash: hash first", jsonl(L[:4] + [edited(4, prev="3" * 64)] + L[5:]),
         broken(5, "hash mismatch", 4))
    case("seq gap and stale hash: hash first", jsonl(L[:4] + [edited(4, seq=9)] + L[5:]),
         broken(5, "hash mismatch", 4))

    # bad format: §3 file form.
    case("no newline after the last line", jsonl(L)[:-1], broken(8, "bad format", 7))
    case("CRLF line endings", jsonl(L).replace(b"\n", b"\r\n"), broken(1, "bad format", 0))
    case("byte order mark", b"\xef\xbb\xbf" + jsonl(L), broken(1, "bad format", 0))
    case("blank line", jsonl(L[:3]) + b"\n" + jsonl(L[3:]), broken(4, "bad format", 3))
    case("white space in a line", jsonl(L[:2] + [spliced_line(2, b'","', b'", "')] + L[3:]),
         broken(3, "bad format", 2))
    case("non-canonical and stale hash: bad format first",
         jsonl(L[:2] + [spliced_line(2, b'"action":"update"', b'"action": "delete"')] + L[3:]),
         broken(3, "bad format", 2))
    case("number not in ES6 form (1E21)", jsonl(L[:1] + [spliced_line(1, b"1e+21", b"1E21")] + L[2:]),
         broken(2, "bad format", 1))
    case("escape not minimal (\\u00e9)", jsonl([spliced_line(0, "Zoë".encode(), b"Zo\\u00eb")] + L[1:]),
         broken(1, "bad format", 0))
    case("keys not in UTF-16 order", jsonl(L[:2] + [spliced_line(2, '"😀":2,"\ue000":1'.encode(),
                                                                  '"\ue000":1,"😀":2'.encode())] + L[3:]),
         broken(3, "bad format", 2))
    case("invalid UTF-8", jsonl(L[:2] + [b'{"\xff":1}'] + L[3:]), broken(3, "bad format", 2))
    case("not a JSON object", jsonl([b"[1,2]"] + L[1:]), broken(1, "bad format", 0))
    # The first line of a partial export, not valid: at the seq it says it has, if readable.
    case("first line not canonical, its seq readable", jsonl([b"{ " + L[2][1:]] + L[3:]),
         broken(3, "bad format", 0))
    case("first line cut short, its seq unreadable", jsonl([L[2][:-1]] + L[3:]), broken(1, "bad format", 0))
    case("first line with seq twice", jsonl([L[2][:-1] + b',"seq":3}'] + L[3:]), broken(1, "bad format", 0))
    case("first line not UTF-8, its seq otherwise readable", jsonl([L[2].replace(b'"prev":"', b'"prev":"\xff', 1)]
                                                                   + L[3:]), broken(1, "bad format", 0))
    case("event of another chain", jsonl(link(BASE[:2] + [dict(BASE[2], chain="tenant-b")] + BASE[3:])),
         broken(3, "bad format", 2))
    # bad format: §1 fields (each relinked, so only the field is wrong).
    for name, i, change in [
        ("optional field null (reason: null)", 1, {"reason": None}),
        ("optional field {} (details: {})", 1, {"details": {}}),
        ("optional field [] (tags: [])", 1, {"tags": []}),
        ("uppercase id", 2, {"id": "0190A5B2-7C3D-7E4F-8A1B-000000000003"}),
        ("id without hyphens", 2, {"id": "0190a5b27c3d7e4f8a1b000000000003"}),
        ("ts with 3 fractional digits", 2, {"ts": "2026-11-23T10:15:03.123Z"}),
        ("ts with an offset", 2, {"ts": "2026-11-23T10:15:03.123456+00:00"}),
        ("ts on February 30", 2, {"ts": "2026-02-30T10:15:03.123456Z"}),
        ("ts with fullwidth digits", 2, {"ts": "\uff12\uff10\uff12\uff16-11-23T10:15:03.123456Z"}),
        ("ts with Arabic-Indic digits", 2, {"ts": "2026-11-23T10:15:0\u0663.123456Z"}),
        ("unknown actor kind", 2, {"actor": {"id": "x", "kind": "robot"}}),
        ("actor without id", 2, {"actor": {"kind": "user"}}),
        ("unknown outcome", 2, {"outcome": "ok"}),
        ("v is 2", 2, {"v": 2}),
        ("resource id a number", 2, {"resource": {"type": "users", "id": 3}}),
        ("context.status a float", 2, {"context": {"status": 200.5}}),
        ("context.status a string", 2, {"context": {"status": "200"}}),
        ("tags unsorted", 2, {"tags": ["privileged", "break_glass"]}),
        ("tags in code point, not UTF-16, order", 2, {"tags": ["\ue000", "😀"]}),
        ("changes unsorted", 2, {"changes": [{"field": "b", "new": 1}, {"field": "a", "new": 2}]}),
        # "Floats may appear only inside details and changes": not in fields another
        # implementation added, nor in members added to actor, resource or context.
        ("a float in an added field", 2, {"x_score": 0.5}),
        ("a float deep in an added field", 2, {"x_added": [1, {"y": [1e-7]}]}),
        ("a float in an added context member", 2, {"context": {"load": 0.75}}),
        ("a float in an added actor member", 2, {"actor": {"id": "x", "kind": "user", "x": -1.5}}),
        ("missing outcome", 2, {"outcome": REMOVE}),
        ("missing hash", 2, {"hash": REMOVE}),
    ]:
        e = {k: v for k, v in dict(BASE[i], **change).items() if v is not REMOVE}
        if "hash" in change:  # the line has no hash at all; the rest as it was
            data = jsonl(L[:i] + [e] + L[i + 1:])
        else:  # relinked, so that only the field is wrong
            data = jsonl(link(BASE[:i] + [e] + BASE[i + 1:]))
        case("field: " + name, data, broken(i + 1, "bad format", i))
    bad_prev = seal(dict(BASE[2], prev=BASE[1]["hash"].upper()))  # link kept, only the case wrong
    case("field: prev in uppercase", jsonl(L[:2] + [bad_prev] + L[3:]), broken(3, "bad format", 2))

    # §5 checkpoints.
    leaves = leaves_of(BASE)
    cp = {n: write(f"cp{n}", checkpoint(n, mth(leaves[:n]))) for n in (0, 5, 8)}
    key = ["--key", TEST_KEY]
    rewritten = link(BASE[:2] + [dict(BASE[2], action="delete")] + BASE[3:])
    case("checkpoint: valid, size 8", jsonl(L), valid(8), ["--checkpoint", cp[8]] + key)
    case("checkpoint: valid, size 5 of 8", jsonl(L), valid(8), ["--checkpoint", cp[5]] + key)
    case("checkpoint: size 0", jsonl(L), valid(8), ["--checkpoint", cp[0]] + key)
    # Signed, but of size 0 with a root that is not the empty tree's: a malformed checkpoint,
    # which says nothing about the events.
    cp0_bad = write("cp0-bad", checkpoint(0, b"\x07" * 32))
    case("checkpoint: size 0 with another root", jsonl(L), USAGE, ["--checkpoint", cp0_bad] + key)
    case("checkpoint: history rewritten and relinked", jsonl(rewritten),
         broken(8, "checkpoint mismatch", 0), ["--checkpoint", cp[8]] + key)
    case("checkpoint: rewritten before size 5", jsonl(rewritten),
         broken(5, "checkpoint mismatch", 0), ["--checkpoint", cp[5]] + key)
    case("checkpoint: newest event removed (truncation)", jsonl(L[:7]),
         broken(8, "truncated", 7), ["--checkpoint", cp[8]] + key)
    case("checkpoint: empty trail", b"", broken(1, "truncated", 0), ["--checkpoint", cp[5]] + key)
    case("checkpoint: chain broken before its size", jsonl(L[:2] + [edited(2, action="x")] + L[3:]),
         broken(3, "hash mismatch", 2), ["--checkpoint", cp[8]] + key)
    case("checkpoint: chain broken after its size", jsonl(L[:6] + [edited(6, action="x")] + L[7:]),
         broken(7, "hash mismatch", 6), ["--checkpoint", cp[5]] + key)
    case("checkpoint: partial export", jsonl(L[2:]), USAGE, ["--checkpoint", cp[8]] + key)
    case("checkpoint: partial export, its first line not canonical", jsonl([b"{ " + L[2][1:]] + L[3:]),
         broken(1, "bad format", 0), ["--checkpoint", cp[8]] + key)
    case("checkpoint: another key", jsonl(L), USAGE, ["--checkpoint", cp[8], "--key", OTHER_KEY])
    with open(cp[8], "rb") as f:
        tampered = f.read().replace(b"\n8\n", b"\n7\n", 1)
    case("checkpoint: size changed after signing", jsonl(L[:7]), USAGE,
         ["--checkpoint", write("cp8-tampered", tampered)] + key)
    cosigned = checkpoint(8, mth(leaves))
    cosigned += signature_line(cosigned[:cosigned.index(b"\n\n") + 1], "witness.example", WITNESS_SEED)
    case("checkpoint: co-signed by an unknown witness", jsonl(L), valid(8),
         ["--checkpoint", write("cp8-cosigned", cosigned)] + key)
    case("checkpoint: key given in a file", jsonl(L), valid(8),
         ["--checkpoint", cp[8], "--key", write("key.pub", TEST_KEY.encode() + b"\n")])
    case("checkpoint: --checkpoint without --key", jsonl(L), USAGE, ["--checkpoint", cp[8]])
    for name, char in (("a tab", "\t"), ("a carriage return", "\r"), ("DEL", "\x7f")):
        # Signed by the right key, but not a note: no character below U+0020 but \n
        # (as Go's golang.org/x/mod/sumdb/note checks; DEL passes there too).
        odd = checkpoint(8, mth(leaves), origin=ORIGIN + char)
        expected = valid(8) if char == "\x7f" else USAGE
        case(f"checkpoint: {name} in a validly signed note", jsonl(L), expected,
             ["--checkpoint", write(f"cp8-{ord(char)}", odd)] + key)

    return [(name, write(f"case{i}.jsonl", data), extra, expected)
            for i, (name, data, extra, expected) in enumerate(cases)]


# Inputs on which the script deliberately differs from the Rust tool.  Both
# verdicts are asserted.
def build_divergences() -> list[tuple[str, str, list[str], tuple, tuple]]:
    """(name, trail file, extra arguments, the script's verdict, the Rust tool's
    verdict) for each input on which they differ on purpose."""
    deep: Any = "bottom"
    for _ in range(70):
        deep = [deep]
    return [
        # SPEC sets no depth limit; the Rust tool reads at most 64 levels (its writer
        # refuses deeper values, so it never writes such a trail).
        ("details nested 72 levels deep",
         write("deep.jsonl", jsonl(link([event(1, details={"deep": deep})]))), [], valid(1),
         broken(1, "bad format", 0)),
    ]


# ---------------------------------------------------------------------------
# Random tamperings, for comparing the two tools on inputs nobody wrote by hand
# ---------------------------------------------------------------------------

_BYTES = b'{}[]",:0123456789.eE+-\\ntfalsuex\xc3\xa9\xff\n\r \t'


def mutated_bytes(rng: random.Random, data: bytes) -> bytes:
    """`data` with one to three random edits: a byte replaced, removed, inserted
    or with one bit flipped, two lines swapped, or a digit changed."""
    b = bytearray(data)
    for _ in range(rng.choice([1, 1, 1, 2, 3])):
        kind, i = rng.randrange(6), rng.randrange(len(b)) if b else 0
        if kind == 0 and b:
            b[i] = rng.choice(_BYTES)
        elif kind == 1 and b:
            del b[i]
        elif kind == 2:
            b[i:i] = bytes([rng.choice(_BYTES)])
        elif kind == 3 and b:
            b[i] ^= 1 << rng.randrange(8)
        elif kind == 4:
            lines = bytes(b).split(b"\n")
            j, k = rng.randrange(len(lines)), rng.randrange(len(lines))
            lines[j], lines[k] = lines[k], lines[j]
            b = bytearray(b"\n".join(lines))
        elif kind == 5:
            digits = [p for p, c in enumerate(b) if 48 <= c <= 57]
            if digits:
                b[rng.choice(digits)] = rng.choice(b"0123456789")
    return bytes(b)


_VALUES = [None, True, False, 0, -1, 1, 2, 0.5, 1e21, 1.5e21, -0.0, 2 ** 53, 2 ** 53 + 2, "", "x", "user",
           "success", "denied", "default", [], {}, [1], {"a": 1}, {"id": "a", "kind": "user"},
           {"type": "t", "id": "1"}, ["b", "a"], ["a", "b"], ["a", "a"], "0" * 64, "A" * 64,
           "2026-11-23T10:15:30.123456Z", "2026-11-23T10:15:30.123Z", "0190a5b2-7c3d-7e4f-8a1b-000000000003",
           {"status": 200}, {"status": 1.5}, {"status": -3}, {"ip": 1}, [{"field": "a", "new": 1}],
           [{"field": "b"}, {"field": "a"}], [{"new": 1}], [{"field": "a", "old": 0.1, "x": 0.2}],
           {"x": [0.5]}, "\u2028", 1e-7, 123456789012345680000.0]
_PLACES = ["v", "chain", "seq", "id", "ts", "actor", "action", "resource", "outcome", "reason", "context",
           "changes", "details", "justification", "tags", "prev", "hash", "x_added", "actor.kind", "actor.id",
           "actor.x", "actor.auth", "resource.id", "resource.type", "context.status", "context.x", "context.ip"]


def mutated_fields(rng: random.Random, events: list[dict]) -> bytes:
    """The trail with one event's fields set to odd values or removed, then
    (in two cases of three) its hash recomputed, and (in one of three) every
    later event relinked and resealed, so that the field checks are reached."""
    events = json.loads(json.dumps(events))
    i = rng.randrange(len(events))
    for _ in range(rng.choice([1, 1, 2])):
        place = rng.choice(_PLACES)
        outer, _, inner = place.partition(".")
        target, key = (events[i].get(outer), inner) if inner else (events[i], outer)
        if isinstance(target, dict):
            if rng.random() < 0.2:
                target.pop(key, None)
            else:
                target[key] = json.loads(json.dumps(rng.choice(_VALUES)))
    mode = rng.randrange(3)
    for j in range(i, len(events) if mode == 2 else i + 1 if mode == 1 else i):
        if j > i:
            events[j]["prev"] = events[j - 1].get("hash")
        try:
            events[j]["hash"] = hashlib.sha256(ref_canonical({k: v for k, v in events[j].items()
                                                              if k != "hash"})).hexdigest()
        except (ValueError, TypeError):
            pass
    return b"".join(ref_canonical(e) + b"\n" for e in events)


# Pieces of JSON text that canonical form allows in one spelling only, or not at all.
_SNIPPETS = [b"\\ud800", b"\\udc00", b"\\ud83d\\ude00", b"\\uD83D\\uDE00", b"\\u00e9", b"\\u00E9", b"\\/",
             b"\\u001f", b"\\u001F", b"\\u007f", b"\x7f", b"\\u2028", b"\xe2\x80\xa8", b"\\b", b"\\u0008",
             b"\\f", b"\\u000c", b'\\"', b"\\\\", b"\\x", b"\\u12", b"\xc3\xa9", b"e\xcc\x81",
             b"\xef\xbf\xbf", b"\xf4\x8f\xbf\xbf", b"\xed\xa0\x80", b"\xc0\xaf", b"1e400", b"-0", b"0.0", b"1.0",
             b"1E+21", b"1e21", b"1e+21", b"0.1", b".1", b"01", b"-", b"1e-7", b"0.0000001", b"1e-6", b"0.000001",
             b"9007199254740993", b"9007199254740992", b"true", b"null", b"[]", b"{}", b" ", b"\t"]


def resealed_line(line: bytes) -> bytes:
    """`line` with its hash recomputed over its own text without the `hash`
    member (what SPEC §2 hashes, if the line is canonical)."""
    found = re.search(rb'"hash":"([0-9a-f]{64})",', line)
    if not found:
        return line
    digest = hashlib.sha256(line[:found.start()] + line[found.end():]).hexdigest().encode()
    return line[:found.start(1)] + digest + line[found.end(1):]


def mutated_text(rng: random.Random, lines: list[bytes]) -> bytes:
    """The trail with one line's text edited where a string or a value starts
    (a snippet inserted, or put in place of the token there), and in four cases
    of five its hash recomputed, so that the canonical-form checks decide."""
    lines = list(lines)
    i = rng.randrange(len(lines))
    line = lines[i]
    for _ in range(rng.choice([1, 1, 2])):
        at = rng.choice([p + 1 for p, c in enumerate(line) if c in b'":,['])
        snippet = rng.choice(_SNIPPETS)
        end = at
        if rng.random() < 0.5:
            while end < len(line) and line[end] not in b',}]"':
                end += 1
        line = line[:at] + snippet + line[end:]
    lines[i] = resealed_line(line) if rng.random() < 0.8 else line
    return b"".join(line + b"\n" for line in lines)


_PROOF_VALUES = [0, 1, 2, 7, 8, 9, -1, 1.5, "1", None, True, [], {}, "default", "", "A" * 64, "0" * 64,
                 "g" * 64, "ab", 2 ** 53, 2 ** 64]


def mutated_proof(rng: random.Random, proof: dict) -> dict:
    """`proof` with one or two random edits: a member set to an odd value or
    removed, a path hash changed by one character, a hash added to or removed
    from the path, two path hashes swapped, hex in capitals, a member added."""
    p = json.loads(json.dumps(proof))
    for _ in range(rng.choice([1, 1, 2])):
        kind, path = rng.randrange(7), p.get("path")
        if kind == 0:
            p[rng.choice(list(p))] = rng.choice(_PROOF_VALUES)
        elif kind == 1:
            p.pop(rng.choice(list(p)), None)
        elif kind == 2 and isinstance(path, list) and path and isinstance(path[0], str) and path[0]:
            j = rng.randrange(len(path[0]))
            path[0] = path[0][:j] + rng.choice("0123456789abcdefABCDEF ") + path[0][j + 1:]
        elif kind == 3 and isinstance(path, list):
            if path and rng.random() < 0.5:
                path.pop(rng.randrange(len(path)))
            else:
                path.insert(rng.randrange(len(path) + 1), "%064x" % rng.getrandbits(256))
        elif kind == 4:
            p["x_added"] = rng.choice(_PROOF_VALUES)
        elif kind == 5:
            for name in ("root", "leaf", "root1", "root2"):
                if isinstance(p.get(name), str):
                    p[name] = p[name].upper()
        elif kind == 6 and isinstance(path, list) and len(path) > 1:
            i, j = rng.randrange(len(path)), rng.randrange(len(path))
            path[i], path[j] = path[j], path[i]
    return p


CASES: list = []
DIVERGENCES: list = []


def setUpModule() -> None:
    global TMP, CASES, DIVERGENCES
    TMP = tempfile.TemporaryDirectory(prefix="verify_trail_test.")
    CASES = build_cases()
    DIVERGENCES = build_divergences()


def tearDownModule() -> None:
    TMP.cleanup()


# ---------------------------------------------------------------------------
# The tests
# ---------------------------------------------------------------------------

class TestVectors(unittest.TestCase):
    """The public vectors, through the script's own functions."""

    def test_selftest_groups(self) -> None:
        groups = vt.run_selftest(VECTORS)
        self.assertGreaterEqual(len(groups), 10)
        for group in groups:
            with self.subTest(group=group.name):
                self.assertFalse(group.failed, group.line())
                self.assertGreater(group.passed, 0)

    def test_selftest_command(self) -> None:
        rc, out, err = run_script("selftest", VECTORS)
        self.assertEqual(rc, 0, out + err)
        self.assertIn("jcs es6 numbers: 10000/10000 passed", out)

    def test_reference_canonicalizer_on_jcs_vectors(self) -> None:
        jcs = os.path.join(VECTORS, "jcs")
        for name in sorted(os.listdir(os.path.join(jcs, "input"))):
            with open(os.path.join(jcs, "input", name), encoding="utf-8") as f:
                value = json.loads(f.read(), parse_int=float)
            with open(os.path.join(jcs, "output", name), "rb") as f:
                expected = f.read()
            with self.subTest(file=name):
                self.assertEqual(ref_canonical(value), expected)

    def test_reference_numbers_on_es6_vectors(self) -> None:
        with open(os.path.join(VECTORS, "jcs", "es6numbers_first10000.txt")) as f:
            for line in f:
                bits, expected = line.strip().split(",")
                x = struct.unpack(">d", bytes.fromhex(bits.rjust(16, "0")))[0]
                self.assertEqual(ref_number(x), expected, bits)
                self.assertEqual(vt.es6_number(x), expected, bits)


class TestCanonical(unittest.TestCase):
    """RFC 8785 corners: the script against the canonicalizer above."""

    def test_odd_values_agree(self) -> None:
        for e in BASE:
            self.assertEqual(vt.canonical(e), ref_canonical(e))
            self.assertEqual(vt.event_hash(e), e["hash"])

    def test_known_forms(self) -> None:
        for value, text in [(1e21, "1e+21"), (1e20, "100000000000000000000"), (1e-7, "1e-7"),
                            (1.5e-7, "1.5e-7"), (1e-6, "0.000001"), (0.1, "0.1"), (-0.0, "0"),
                            (float(2 ** 64), "18446744073709552000"), (2 ** 53, "9007199254740992"),
                            (5e-324, "5e-324"), (-1.7976931348623157e308, "-1.7976931348623157e+308"),
                            (1 / 3, "0.3333333333333333"), (100.0, "100")]:
            self.assertEqual(vt.canonical_text(value), text)
        self.assertEqual(vt.canonical_text("\u2028😀\x7f\x1f\n\"\\/"), '"\u2028😀\x7f\\u001f\\n\\"\\\\/"')
        self.assertEqual(vt.canonical_text({"\ue000": 1, "😀": 2, "a": 3}), '{"a":3,"😀":2,"\ue000":1}')

    def test_refusals(self) -> None:
        for text in ['{"a":1,"a":2}', '"\\ud800"', "NaN", "1e400", "[Infinity]"]:
            with self.subTest(text=text):
                with self.assertRaises(ValueError):
                    vt.canonical(vt.parse_json(text))

    def test_numbers_are_doubles(self) -> None:
        self.assertEqual(vt.canonical(vt.parse_json("12345678901234567890")), b"12345678901234567000")
        self.assertEqual(vt.canonical(vt.parse_json("1.0")), b"1")


class TestEd25519(unittest.TestCase):
    """RFC 8032 §7.1 vectors, and the strict rules."""

    RFC8032 = [  # (secret, public, message, signature): TEST 1 and TEST 2
        ("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
         "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
         "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"),
        ("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
         "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
         "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"),
    ]

    def test_rfc8032_vectors(self) -> None:
        for secret, public, message, signature in self.RFC8032:
            seed, pub, msg, sig = (bytes.fromhex(x) for x in (secret, public, message, signature))
            self.assertEqual(vt.ed25519_public_key(seed), pub)
            self.assertEqual(vt.ed25519_sign(seed, msg), sig)
            self.assertTrue(vt.ed25519_verify(pub, msg, sig))
            self.assertFalse(vt.ed25519_verify(pub, msg + b"x", sig))

    def test_strictness(self) -> None:
        seed = TEST_SEED
        pub, msg = vt.ed25519_public_key(seed), b"strict"
        sig = vt.ed25519_sign(seed, msg)
        s = int.from_bytes(sig[32:], "little")
        self.assertTrue(vt.ed25519_verify(pub, msg, sig))
        # s + L gives the same [s]B: a lax verifier accepts it.
        self.assertFalse(vt.ed25519_verify(pub, msg, sig[:32] + (s + vt._L).to_bytes(32, "little")))
        # A non-canonical key encoding (y + p) and a small-order key.
        p = 2 ** 255 - 19
        self.assertIsNone(vt._point_decode((1 + p).to_bytes(32, "little")))
        self.assertIsNone(vt._point_decode((1 | 1 << 255).to_bytes(32, "little")))  # x = 0 with sign 1
        identity = (1).to_bytes(32, "little")
        self.assertFalse(vt.ed25519_verify(identity, msg, identity + bytes(32)))
        # R of small order with s = h*a satisfies the cofactorless equation; refused.
        a, _ = vt._expand_seed(seed)
        for r_bytes in (identity, (1 + p).to_bytes(32, "little")):
            h = int.from_bytes(hashlib.sha512(r_bytes + pub + msg).digest(), "little") % vt._L
            self.assertFalse(vt.ed25519_verify(pub, msg, r_bytes + (h * a % vt._L).to_bytes(32, "little")))

    def test_verifier_keys(self) -> None:
        key = vt.parse_verifier_key(TEST_KEY)
        self.assertEqual(key.text(), TEST_KEY)
        name, kid, b64 = TEST_KEY.split("+", 2)
        for bad in (f"{name}+{'0' * 8}+{b64}", f"{name}+{kid}", f"bad name+{kid}+{b64}", f"{name}+{kid}+{b64[:-4]}"):
            with self.assertRaises(ValueError):
                vt.parse_verifier_key(bad)
        # An unknown cosigner's signature is ignored whatever its key name, if a note may carry it
        # (DEL and C1 controls included; white space and '+' not).
        note = checkpoint(3, bytes(32))
        for name, opens in (("wit\x7fness", True), ("wit\x85ness", False), ("wit\x9fness", True),
                            ("wit ness", False), ("wit+ness", False)):
            cosigned = note + "\u2014 ".encode() + name.encode() + b" " + base64.b64encode(bytes(68)) + b"\n"
            if opens:
                self.assertEqual(vt.open_note(cosigned, [key]).text, note[:note.index(b"\n\n") + 1], name)
            else:
                with self.assertRaises(vt.MalformedNote, msg=name):
                    vt.open_note(cosigned, [key])
        # A key file with a byte-order mark (as some editors save it) is read, as audit-trail reads it.
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "key.pub")
            with open(path, "w", encoding="utf-8-sig") as f:
                f.write(TEST_KEY + "\n")
            self.assertEqual(vt.load_verifier_key(path).text(), TEST_KEY)


class TestTrails(unittest.TestCase):
    """Every case: the script's verdict is the expected one."""

    def test_cases(self) -> None:
        for name, path, extra, expected in CASES:
            with self.subTest(case=name):
                self.assertEqual(script_verdict(path, extra), expected)

    def test_known_divergences_script_side(self) -> None:
        for name, path, extra, expected, _ in DIVERGENCES:
            with self.subTest(case=name):
                self.assertEqual(script_verdict(path, extra), expected)

    def test_sentences(self) -> None:
        rc, out, err = run_script("verify", CASES[0][1])
        self.assertEqual((rc, out), (0, "valid: 8 events\n"))
        path = next(p for n, p, _, _ in CASES if n.startswith("remove: event 4 (seq gap"))
        rc, out, err = run_script("verify", path)
        self.assertEqual((rc, out), (1, "BROKEN at seq 4: seq gap\n"))
        self.assertIn("found seq 5 where 4 belongs", err)
        rc, out, _ = run_script("verify", path, "--json")
        self.assertEqual(out, '{"broken_at":4,"reason":"seq gap","status":"broken","verified":3}\n')

    def test_the_longest_line(self) -> None:
        # 64 MiB and its newline are read whole; one byte more is cut short (and so
        # `bad format`), as the Rust tool draws the line (audit-core/tests/line_limit.rs).
        limit = 64 * 1024 * 1024
        for length, whole in ((limit, True), (limit + 1, False)):
            with self.subTest(length=length):
                stream = io.BytesIO(b"{}\n" + b"x" * length + b"\n")
                lines = vt.read_lines(stream)
                self.assertEqual(next(lines), (b"{}", True))
                line, has_newline = next(lines)
                self.assertEqual((len(line), has_newline), (length if whole else limit + 1, whole))

    def test_streaming_tree_matches(self) -> None:
        tree = vt.CompactRange()
        leaves = leaves_of(BASE)
        for i, leaf in enumerate(leaves):
            self.assertEqual(tree.root(), mth(leaves[:i]))
            tree.append(leaf)
        self.assertEqual(tree.root(), mth(leaves))


class TestProofs(unittest.TestCase):
    """§4 proofs made above, checked by `proof`."""

    EVENTS = link([event(i) for i in range(1, 12)])

    def setUp(self) -> None:
        self.trail = write("proof-trail.jsonl", jsonl(self.EVENTS))

    def check(self, proof: Any, *extra: str) -> int:
        path = write("proof.json", json.dumps(proof).encode())
        return run_script("proof", path, *extra)[0]

    def test_every_inclusion_proof(self) -> None:
        for size in range(1, 12):
            for seq in range(1, size + 1):
                proof = inclusion_proof(self.EVENTS, seq, size)
                self.assertEqual(self.check(proof), 0, (seq, size))
                self.assertEqual(self.check(proof, "--trail", self.trail), 0, (seq, size))

    def test_every_consistency_proof(self) -> None:
        for size2 in range(1, 12):
            for size1 in range(1, size2 + 1):
                proof = consistency_proof(self.EVENTS, size1, size2)
                self.assertEqual(self.check(proof), 0, (size1, size2))
                self.assertEqual(self.check(proof, "--trail", self.trail), 0, (size1, size2))

    def test_tampered_proofs(self) -> None:
        good = inclusion_proof(self.EVENTS, 6, 11)
        flipped = [("0" if good["path"][0][0] != "0" else "1") + good["path"][0][1:]] + good["path"][1:]
        for label, change in [("path", {"path": flipped}), ("short path", {"path": good["path"][:-1]}),
                              ("leaf", {"leaf": self.EVENTS[4]["hash"]}), ("seq", {"seq": 7}),
                              ("root", {"root": "ab" * 32}), ("seq beyond size", {"seq": 12})]:
            with self.subTest(inclusion=label):
                self.assertEqual(self.check(dict(good, **change)), 1)
        good = consistency_proof(self.EVENTS, 5, 11)
        for label, change in [("root1", {"root1": good["root2"]}), ("short path", {"path": good["path"][:-1]}),
                              ("size1 = 0", {"size1": 0}), ("size1 > size2", {"size1": 12}),
                              ("size1 + 1", {"size1": 6})]:
            with self.subTest(consistency=label):
                self.assertEqual(self.check(dict(good, **change)), 1)
        empty = {"chain": "default", "size1": 0, "size2": 0, "root1": mth([]).hex(), "root2": mth([]).hex(), "path": []}
        self.assertEqual(self.check(empty), 1)

    def test_proof_against_another_trail(self) -> None:
        other = link([event(i, action="other") for i in range(1, 12)])
        other_trail = write("other-trail.jsonl", jsonl(other))
        self.assertEqual(self.check(inclusion_proof(self.EVENTS, 3, 8), "--trail", other_trail), 1)
        self.assertEqual(self.check(consistency_proof(self.EVENTS, 3, 8), "--trail", other_trail), 1)
        short = write("short-trail.jsonl", jsonl(self.EVENTS[:5]))
        self.assertEqual(self.check(inclusion_proof(self.EVENTS, 3, 8), "--trail", short), 1)
        broken_trail = write("broken-trail.jsonl", jsonl(self.EVENTS[:2] + [dict(self.EVENTS[2], action="x")]
                                                          + self.EVENTS[3:]))
        self.assertEqual(self.check(inclusion_proof(self.EVENTS, 1, 2), "--trail", broken_trail), 1)

    def test_malformed_proofs(self) -> None:
        good = inclusion_proof(self.EVENTS, 1, 2)
        for bad in ([1], {"path": []}, dict(good, root="XYZ"), dict(good, path="ab"),
                    dict(good, size1=1), dict(good, seq=1.5)):
            with self.subTest(proof=bad):
                self.assertEqual(self.check(bad), 2)
        path = write("not-json.json", b"{")
        self.assertEqual(run_script("proof", path)[0], 2)


class TestCommandLine(unittest.TestCase):
    """Exit code 2 with a message, never a traceback (run as a real process)."""

    def run_cli(self, *argv: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, os.path.join(HERE, "verify_trail.py"), *argv],
                              capture_output=True, text=True, timeout=60)

    def test_errors(self) -> None:
        trail = CASES[0][1]
        cp = tmp_path("cp8")
        for argv in (["verify", tmp_path("missing.jsonl")], ["verify", TMP.name],
                     ["verify", trail, "--checkpoint", cp, "--key", "not-a-key"],
                     ["verify", trail, "--checkpoint", tmp_path("missing-cp"), "--key", TEST_KEY],
                     ["verify", trail, "--key", TEST_KEY], ["verify"], ["nonsense"],
                     ["proof", tmp_path("missing.json")], ["selftest", tmp_path("no-vectors")]):
            with self.subTest(argv=argv):
                proc = self.run_cli(*argv)
                self.assertEqual(proc.returncode, 2, proc.stdout + proc.stderr)
                self.assertNotIn("Traceback", proc.stderr)
                self.assertTrue(proc.stderr.strip())

    def test_standard_input(self) -> None:
        with open(CASES[0][1], "rb") as f:
            proc = subprocess.run([sys.executable, os.path.join(HERE, "verify_trail.py"), "verify", "-"],
                                  stdin=f, capture_output=True, text=True, timeout=60)
        self.assertEqual((proc.returncode, proc.stdout), (0, "valid: 8 events\n"))


@unittest.skipUnless(HAVE_RUST, f"the Rust tool is not at {RUST_BIN} (set AUDIT_TRAIL_BIN)")
class TestAgainstRust(unittest.TestCase):
    """The Rust tool, as a black box, gives the same verdicts and proofs."""

    def test_same_verdicts(self) -> None:
        for name, path, extra, expected in CASES:
            with self.subTest(case=name):
                self.assertEqual(rust_verdict(path, extra), script_verdict(path, extra))

    def test_known_divergences(self) -> None:
        # Each side gives the verdict written down for it: a divergence that goes away
        # (or changes) fails here, so the list stays true.
        for name, path, extra, script_expected, rust_expected in DIVERGENCES:
            with self.subTest(case=name):
                self.assertEqual(script_verdict(path, extra), script_expected)
                self.assertEqual(rust_verdict(path, extra), rust_expected)

    def test_same_verdicts_on_random_tamperings(self) -> None:
        # Seeded, so a failure is the same on every run; the differing input is
        # kept in the message.
        rng = random.Random(20261203)
        leaves = leaves_of(BASE)
        checkpoints = {n: write(f"random-cp{n}", checkpoint(n, mth(leaves[:n]))) for n in (5, 8)}
        for n in range(400):
            data = mutated_bytes(rng, jsonl(LINES)) if n % 2 else mutated_fields(rng, BASE)
            # One in four against a checkpoint (pure-Python Ed25519 is the slow part).
            extra = [] if n % 4 else ["--checkpoint", checkpoints[8 if n % 8 else 5], "--key", TEST_KEY]
            path = write("random.jsonl", data)
            with self.subTest(case=n):
                self.assertEqual(rust_verdict(path, extra), script_verdict(path, extra), (extra, data))

    def test_same_verdicts_on_random_text_edits(self) -> None:
        # Escapes, characters and numbers in spellings canonical form refuses (or
        # the one it takes), resealed: 300 seeded cases, one in three with --chain.
        rng = random.Random(20261206)
        for n in range(300):
            data = mutated_text(rng, LINES)
            extra = ["--chain", "default"] if n % 3 == 0 else []
            path = write("random-text.jsonl", data)
            with self.subTest(case=n):
                self.assertEqual(rust_verdict(path, extra), script_verdict(path, extra), (extra, data))

    def test_same_answers_on_random_proof_edits(self) -> None:
        # `proof` here and `audit-trail verify-proof`: the same exit code (0 valid,
        # 1 does not verify, 2 not a well-formed proof) on 300 seeded edits.
        rng = random.Random(20261204)
        proofs = [inclusion_proof(BASE, seq, size) for size in range(1, 9) for seq in range(1, size + 1)]
        proofs += [consistency_proof(BASE, m, n) for n in range(1, 9) for m in range(1, n + 1)]
        for n in range(300):
            text = json.dumps(mutated_proof(rng, rng.choice(proofs)))
            path = write("random-proof.json", text.encode())
            rust = subprocess.run([RUST_BIN, "verify-proof", "--proof", path], capture_output=True, timeout=60)
            with self.subTest(case=n):
                self.assertEqual(rust.returncode, run_script("proof", path)[0], text)

    def test_same_verdicts_on_random_checkpoint_edits(self) -> None:
        # A valid trail against 200 seeded edits of its checkpoints (a byte
        # replaced, inserted, removed or bit-flipped, a line repeated or removed):
        # every other one in the note's text, signed again with the log's key, so
        # that what each tool makes of an odd but validly signed checkpoint is
        # compared, not only the refused signature.
        rng = random.Random(20261205)
        leaves = leaves_of(BASE)
        texts = [checkpoint(n, mth(leaves[:n])) for n in (0, 3, 5, 8)]
        texts = [note[:note.index(b"\n\n") + 1] for note in texts]
        trail = write("random-cp-trail.jsonl", jsonl(LINES))
        for n in range(200):
            text = rng.choice(texts)
            signed_again = n % 2 == 0
            data = bytearray(text if signed_again else text + b"\n" + signature_line(text, ORIGIN, TEST_SEED))
            for _ in range(rng.choice([1, 1, 2])):
                kind, i = rng.randrange(6), rng.randrange(len(data))
                lines = bytes(data).split(b"\n")
                if kind == 0:
                    data[i] = rng.choice(b"\n \t\xe2\x80\x94+/=ABCxyz0189-\r\x00\xff.")
                elif kind == 5:  # an odd byte: control characters, DEL, a space, not UTF-8
                    data[i:i] = bytes([rng.choice(b"\t\r\x00\x1f\x7f \xff")])
                elif kind == 1:
                    del data[i]
                elif kind == 2:
                    data[i] ^= 1 << rng.randrange(8)
                elif kind == 3:
                    lines.insert(rng.randrange(len(lines)), rng.choice(lines))
                    data = bytearray(b"\n".join(lines))
                else:
                    del lines[rng.randrange(len(lines))]
                    data = bytearray(b"\n".join(lines))
            note = bytes(data) + b"\n" + signature_line(bytes(data), ORIGIN, TEST_SEED) if signed_again else bytes(data)
            extra = ["--checkpoint", write("random-cp", note), "--key", TEST_KEY]
            with self.subTest(case=n):
                self.assertEqual(rust_verdict(trail, extra), script_verdict(trail, extra), note)

    def test_rust_accepts_the_checkpoints_signed_here(self) -> None:
        # An independent check of this file's signing: the Rust tool verifies it.
        name, path, extra, _ = next(c for c in CASES if c[0] == "checkpoint: valid, size 8")
        self.assertEqual(rust_verdict(path, extra), valid(8))

    def test_same_proofs(self) -> None:
        events = TestProofs.EVENTS
        trail = write("rust-proof-trail.jsonl", jsonl(events))
        for size in range(1, 12):
            for seq in range(1, size + 1):
                out = subprocess.run([RUST_BIN, "prove", "--jsonl", trail, "--seq", str(seq), "--size", str(size)],
                                     capture_output=True, text=True, timeout=60)
                self.assertEqual(out.returncode, 0, out.stderr)
                self.assertEqual(json.loads(out.stdout), inclusion_proof(events, seq, size))
            for size1 in range(1, size + 1):
                out = subprocess.run([RUST_BIN, "prove", "--jsonl", trail, "--from", str(size1), "--to", str(size)],
                                     capture_output=True, text=True, timeout=60)
                self.assertEqual(out.returncode, 0, out.stderr)
                self.assertEqual(json.loads(out.stdout), consistency_proof(events, size1, size))


if __name__ == "__main__":
    unittest.main()

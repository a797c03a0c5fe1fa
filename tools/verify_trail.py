#!/usr/bin/env python3
"""Independent reference verifier for audit-trail exports (format v1, SPEC.md).

Written from the format contract (SPEC.md), the public test vectors and the
`audit-trail` binary used as a black box only, with nothing but the Python 3.11
standard library: RFC 8785 canonical JSON, SHA-256, RFC 6962/9162 Merkle trees
and Ed25519 (RFC 8032, implemented below in pure Python) are all in this file.

Usage
-----
    verify_trail.py verify TRAIL.jsonl [--chain NAME]
                           [--checkpoint FILE --key VERIFIER_KEY_OR_FILE] [--json]
        Checks a JSON Lines export (SPEC §3): file form, every event's fields
        (§1), hashes, seq continuity, prev links and ids (§2) and, with a
        checkpoint, its signature and Merkle root (§4, §5).  Prints
        `valid: N events` or `BROKEN at seq N: <reason>` (with --json one object
        {"broken_at", "reason", "status", "verified"}); details go to stderr.

    verify_trail.py proof PROOF.json [--trail TRAIL.jsonl]
        Checks a §4 inclusion proof (an object with "seq") or consistency proof
        (an object with "size1"); with --trail also that its leaf and roots are
        the trail's.  Prints `valid: ...` or `BROKEN: <why>`.

    verify_trail.py selftest VECTORS_DIR
        Runs the JCS, RFC 6962 and signed-note vectors through this file's own
        functions; one line per group.

Exit codes: 0 valid, 1 tampering found (or a proof that does not verify),
2 usage or I/O error, a malformed input that is not a trail event (proof file,
checkpoint, key), or a checkpoint that is not validly signed by the given key.

The layout follows the SPEC: §1 event fields, §2 canonical JSON / hash / chain,
§3 the JSON Lines file, §4 Merkle trees and proofs, §5 Ed25519, signed notes and
checkpoints, then the command line.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import math
import os
import re
import struct
import sys
import unicodedata
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Callable, Iterable, Iterator, Optional

# Reason words of SPEC §2 (and the checkpoint reasons, worded as the Rust tool does).
HASH_MISMATCH = "hash mismatch"
PREV_MISMATCH = "prev mismatch"
SEQ_GAP = "seq gap"
SEQ_OUT_OF_ORDER = "seq out of order"
DUPLICATE_ID = "duplicate id"
BAD_FORMAT = "bad format"
CHECKPOINT_MISMATCH = "checkpoint mismatch"
TRUNCATED = "truncated"

ZERO_HASH = "0" * 64
MAX_SAFE_INT = 2 ** 53


class UsageError(Exception):
    """A problem with the command line, an input file or a checkpoint: exit 2."""


# ---------------------------------------------------------------------------
# §1. The event: required fields, their types and forms
# ---------------------------------------------------------------------------

class FormatError(ValueError):
    """An event (or line) that breaks SPEC §1 or §3: reason `bad format`."""


ACTOR_KINDS = ("user", "admin", "service", "system", "anonymous")
OUTCOMES = ("success", "failure", "denied")
CONTEXT_STRINGS = ("ip", "user_agent", "request_id", "method", "route", "path")
CONTEXT_INTEGERS = ("status", "duration_us")
REQUIRED = ("v", "chain", "seq", "id", "ts", "actor", "action", "resource",
            "outcome", "prev", "hash")
OPTIONAL = ("reason", "context", "changes", "details", "justification", "tags")

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z")
_HEX64 = re.compile(r"[0-9a-f]{64}\Z")
_TS = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})\.[0-9]{6}Z\Z")
_DAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def is_integer(value: Any, minimum: int = -MAX_SAFE_INT) -> bool:
    """A JSON number that is an integer: integral, within ±2^53 (so that every
    reader sees the same integer) and at least `minimum`.  Its canonical form is
    then plain digits; a line writing it any other way (1.0, 1e0) is caught
    by the canonical-form check."""
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value) and float(value).is_integer()
            and minimum <= value <= MAX_SAFE_INT)


def is_timestamp(ts: str) -> bool:
    """`ts`: UTC, RFC 3339, exactly 6 fractional digits and `Z`, and a real
    calendar date and time.  A leap second (:60) is accepted at 23:59 only."""
    m = _TS.match(ts)
    if not m:
        return False
    year, month, day, hour, minute, second = (int(g) for g in m.groups())
    if not 1 <= month <= 12:
        return False
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    days = 29 if month == 2 and leap else _DAYS[month - 1]
    if not 1 <= day <= days or hour > 23 or minute > 59:
        return False
    return second <= 59 or (second == 60 and hour == 23 and minute == 59)


def _utf16_sorted(items: list[str]) -> bool:
    """Sorted (repeats allowed) by UTF-16 code units, the order RFC 8785 uses."""
    keys = [_utf16_key(s) for s in items]
    return all(a <= b for a, b in zip(keys, keys[1:]))


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise FormatError(message)


def _optional_string(obj: dict, key: str, label: str) -> None:
    if key in obj:
        _require(isinstance(obj[key], str), f'"{label}" must be a string')


def check_event_fields(event: Any) -> None:
    """SPEC §1: every required field is present with its type and form; an
    optional field, when present, has its type and is never null, {} or [].
    Fields the SPEC does not define are allowed (and hashed).  Raises FormatError."""
    _require(isinstance(event, dict), "not a JSON object")
    for name in REQUIRED:
        _require(name in event, f'missing field "{name}"')

    _require(is_integer(event["v"]) and event["v"] == 1, '"v" must be 1')
    _require(isinstance(event["chain"], str), '"chain" must be a string')
    _require(is_integer(event["seq"], 1), '"seq" must be an integer from 1 to 2^53')
    _require(isinstance(event["id"], str) and bool(_UUID.match(event["id"])),
             '"id" must be a lowercase hyphenated UUID')
    _require(isinstance(event["ts"], str) and is_timestamp(event["ts"]),
             '"ts" must be UTC with 6 fractional digits, like 2026-11-23T10:15:30.123456Z')

    actor = event["actor"]
    _require(isinstance(actor, dict), '"actor" must be an object')
    _require("id" in actor and "kind" in actor, '"actor" needs "id" and "kind"')
    _require(isinstance(actor["id"], str), '"actor.id" must be a string')
    _require(actor["kind"] in ACTOR_KINDS,
             '"actor.kind" must be one of ' + ", ".join(ACTOR_KINDS))
    _optional_string(actor, "auth", "actor.auth")
    _optional_string(actor, "session", "actor.session")

    _require(isinstance(event["action"], str), '"action" must be a string')
    resource = event["resource"]
    _require(isinstance(resource, dict), '"resource" must be an object')
    _require("type" in resource and "id" in resource, '"resource" needs "type" and "id"')
    _require(isinstance(resource["type"], str), '"resource.type" must be a string')
    _require(isinstance(resource["id"], str), '"resource.id" must be a string')
    _require(event["outcome"] in OUTCOMES, '"outcome" must be one of ' + ", ".join(OUTCOMES))
    for name in ("prev", "hash"):
        _require(isinstance(event[name], str) and bool(_HEX64.match(event[name])),
                 f'"{name}" must be 64 lowercase hex digits')

    for name in OPTIONAL:
        if name in event:
            _require(event[name] is not None, f'"{name}" is null: leave it out instead')
            if event[name] == {} or event[name] == []:
                raise FormatError(f'"{name}" is {canonical_text(event[name])}: leave it out instead')
    _optional_string(event, "reason", "reason")
    _optional_string(event, "justification", "justification")

    if "context" in event:
        context = event["context"]
        _require(isinstance(context, dict), '"context" must be an object')
        for key in CONTEXT_STRINGS:
            _optional_string(context, key, "context." + key)
        for key in CONTEXT_INTEGERS:
            if key in context:
                _require(is_integer(context[key]), f'"context.{key}" must be an integer')

    if "changes" in event:
        changes = event["changes"]
        _require(isinstance(changes, list), '"changes" must be an array')
        for change in changes:
            _require(isinstance(change, dict), "each change must be an object")
            _require(isinstance(change.get("field"), str), '"changes[].field" must be a string')
        _require(_utf16_sorted([c["field"] for c in changes]), '"changes" must be sorted by field')

    if "details" in event:
        _require(isinstance(event["details"], dict), '"details" must be an object')

    if "tags" in event:
        tags = event["tags"]
        _require(isinstance(tags, list), '"tags" must be an array')
        _require(all(isinstance(t, str) for t in tags), '"tags" must hold strings')
        _require(_utf16_sorted(tags), '"tags" must be sorted')

    # "Floats may appear only inside details and changes": also not in fields
    # an implementation adds, nor in extra members of actor, resource, context.
    for name, value in event.items():
        if name not in ("details", "changes"):
            _require(not _holds_float(value), f'"{name}" holds a number that is not an integer '
                     "(floats may appear only inside details and changes)")


def _holds_float(value: Any) -> bool:
    """Whether a JSON value holds a number with a fractional part (walked
    without recursion, so any depth is fine)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, float) and not item.is_integer():
            return True
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


# ---------------------------------------------------------------------------
# §2 (first part). canonical(x): the JSON Canonicalization Scheme, RFC 8785, and the hash
# ---------------------------------------------------------------------------

class CanonError(ValueError):
    """The input is not JSON that RFC 8785 can canonicalize."""


def _reject_constant(name: str) -> Any:
    """`json` hook: NaN, Infinity and -Infinity are not JSON."""
    raise CanonError(f"{name} is not a JSON number")


def _parse_number(text: str) -> float:
    """`json` hook: every JSON number is an IEEE 754 double (RFC 8785 §3.2.2.3)."""
    value = float(text)
    if not math.isfinite(value):
        raise CanonError(f"number {text[:40]} is out of the range of a double")
    return value


def _object_without_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """`json` hook: an object with a repeated key is refused (RFC 8785 §3.1)."""
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise CanonError(f"duplicate key {key!r}")
            seen.add(key)
    return obj


def parse_json(text: str) -> Any:
    """Parse JSON text the way RFC 8785 sees it: numbers become doubles,
    duplicate keys and NaN/Infinity are refused.  Lone surrogates are caught
    when the value is canonicalized.  Raises CanonError or ValueError."""
    try:
        return json.loads(text, object_pairs_hook=_object_without_duplicates,
                          parse_float=_parse_number, parse_int=_parse_number,
                          parse_constant=_reject_constant)
    except RecursionError:
        raise CanonError("JSON nested too deeply") from None


def es6_number(x: float) -> str:
    """Format a double as ECMAScript 6 Number.prototype.toString does
    (ECMA-262 §7.1.12.1, RFC 8785 §3.2.2.3): the shortest digits that round-trip
    (Python's repr gives those), fixed notation for 1e-7 <= |x| < 1e21 and
    exponent notation (1e+21, 1.5e-7) otherwise; -0 is "0"."""
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        raise CanonError("not a number")
    try:
        x = float(x)
    except OverflowError:
        raise CanonError("integer too large for a double") from None
    if not math.isfinite(x):
        raise CanonError("NaN and Infinity have no JSON form")
    if x == 0:
        return "0"
    if x.is_integer() and abs(x) <= MAX_SAFE_INT:
        return str(int(x))  # the common case: an exact integer's digits
    sign = "-" if x < 0 else ""
    mantissa, _, exponent = repr(abs(x)).partition("e")
    int_part, _, frac_part = mantissa.partition(".")
    digits = int_part + frac_part
    point = len(int_part) + (int(exponent) if exponent else 0)
    stripped = digits.lstrip("0")
    point -= len(digits) - len(stripped)
    digits = stripped.rstrip("0")
    # Now |x| = 0.d1d2...dk * 10^point, i.e. ECMA-262's k = len(digits), n = point.
    k, n = len(digits), point
    if k <= n <= 21:
        return sign + digits + "0" * (n - k)
    if 0 < n <= 21:
        return sign + digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return sign + "0." + "0" * (-n) + digits
    e = n - 1
    exp_text = ("+" if e >= 0 else "-") + str(abs(e))
    if k == 1:
        return sign + digits + "e" + exp_text
    return sign + digits[0] + "." + digits[1:] + "e" + exp_text


_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t",
            "\n": "\\n", "\f": "\\f", "\r": "\\r"}
_NEEDS_ESCAPE = re.compile('["\\\\\x00-\x1f\ud800-\udfff]')


def _escape_char(match: re.Match) -> str:
    ch = match.group()
    if "\ud800" <= ch <= "\udfff":
        raise CanonError("lone surrogate in a string")
    return _ESCAPES.get(ch) or "\\u%04x" % ord(ch)


def json_string(s: str) -> str:
    """A JSON string literal with RFC 8785 §3.2.2.2 minimal escaping: only `"`,
    `\\` and control characters are escaped (\\b \\t \\n \\f \\r, others
    \\u00xx in lowercase); everything else, U+2028 and astral characters
    included, is written as itself.  Lone surrogates are refused."""
    return '"' + _NEEDS_ESCAPE.sub(_escape_char, s) + '"'


def _utf16_key(key: str) -> bytes:
    """Sort key for object members: the UTF-16 code units of the name."""
    return key.encode("utf-16-be", "surrogatepass")


def canonical_text(value: Any) -> str:
    """RFC 8785 canonical form of a parsed JSON value, as a str."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return json_string(value)
    if isinstance(value, (int, float)):
        return es6_number(value)
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(canonical_text(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(k + ":" + v for k, v in canonical_members(value)) + "}"
    raise CanonError(f"{type(value).__name__} is not a JSON value")


def canonical_members(obj: dict) -> list[tuple[str, str]]:
    """The members of an object in canonical order, each as (canonical name
    text, canonical value text)."""
    for key in obj:
        if not isinstance(key, str):
            raise CanonError("object keys must be strings")
    if all(key.isascii() for key in obj):
        names = sorted(obj)  # for ASCII, code point order is UTF-16 order
    else:
        names = sorted(obj, key=_utf16_key)
    return [(json_string(k), canonical_text(obj[k])) for k in names]


def canonical(value: Any) -> bytes:
    """canonical(x) of SPEC §2: the RFC 8785 form of a value, UTF-8 encoded."""
    try:
        return canonical_text(value).encode("utf-8")
    except RecursionError:
        raise CanonError("JSON nested too deeply") from None


def event_hash(event: dict) -> str:
    """SPEC §2: lowercase hex SHA-256 of canonical(event without "hash")."""
    body = {k: v for k, v in event.items() if k != "hash"}
    return hashlib.sha256(canonical(body)).hexdigest()


def canonical_with_and_without_hash(event: dict) -> tuple[bytes, bytes]:
    """canonical(event) and canonical(event without "hash") in one pass: the
    members are canonicalized once and joined twice."""
    try:
        members = canonical_members(event)
    except RecursionError:
        raise CanonError("JSON nested too deeply") from None
    whole = "{" + ",".join(k + ":" + v for k, v in members) + "}"
    body = "{" + ",".join(k + ":" + v for k, v in members if k != '"hash"') + "}"
    return whole.encode("utf-8"), body.encode("utf-8")


# ---------------------------------------------------------------------------
# §3. The JSON Lines file: one canonical event per line
# ---------------------------------------------------------------------------

# The longest line read, newline included: 64 MiB and its newline.  SPEC §3
# sets no limit; this bounds memory, and is the Rust tool's limit too (it
# refuses a line longer than 64 MiB, its newline not counted, as `bad format`).
MAX_LINE_BYTES = 64 * 1024 * 1024 + 1


def read_lines(stream: BinaryIO) -> Iterator[tuple[bytes, bool]]:
    """Yield (line without its newline, whether it ended in \\n), one at a time,
    so that a file of any length is read in bounded memory.  A line longer
    than MAX_LINE_BYTES is yielded cut short, without a newline."""
    while True:
        raw = stream.readline(MAX_LINE_BYTES)
        if not raw:
            return
        if raw.endswith(b"\n"):
            yield raw[:-1], True
        else:
            yield raw, False


def parse_line(line: bytes, has_newline: bool) -> tuple[dict, bytes]:
    """SPEC §3 for one line: UTF-8, ends in a newline, exactly
    canonical(event), and the event obeys §1.  Returns the event and
    canonical(event without "hash"), the bytes its hash is of; raises
    FormatError."""
    if not has_newline:
        if len(line) >= MAX_LINE_BYTES:
            raise FormatError(f"a line longer than {MAX_LINE_BYTES - 1} bytes (not counting its newline)")
        raise FormatError(f"the last line ({len(line)} bytes) does not end in a newline")
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        raise FormatError("not UTF-8") from None
    try:
        event = parse_json(text)
    except ValueError as exc:  # json.JSONDecodeError and CanonError are ValueErrors
        raise FormatError(f"not JSON: {exc}") from None
    if not isinstance(event, dict):
        raise FormatError("not a JSON object")
    try:
        form, hashed = canonical_with_and_without_hash(event)
    except CanonError as exc:
        raise FormatError(f"cannot be canonicalized: {exc}") from None
    if form != line:
        at = next((i for i, (a, b) in enumerate(zip(form, line)) if a != b), min(len(form), len(line)))
        raise FormatError(f"not in canonical form (RFC 8785): differs from it at byte {at}")
    check_event_fields(event)
    return event, hashed


# ---------------------------------------------------------------------------
# §4. Merkle tree (RFC 6962 / RFC 9162 §2.1) and proofs
# ---------------------------------------------------------------------------

EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(leaf: bytes) -> bytes:
    """SHA-256(0x00 || leaf); a leaf is the 32 raw bytes of an event's hash."""
    return hashlib.sha256(b"\x00" + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def merkle_root(leaves: list[bytes]) -> bytes:
    """MTH of RFC 9162 §2.1.1 by its recursive definition (for small inputs and
    tests; CompactRange is the streaming form)."""
    if not leaves:
        return EMPTY_ROOT
    if len(leaves) == 1:
        return leaf_hash(leaves[0])
    k = 1 << ((len(leaves) - 1).bit_length() - 1)  # largest power of two < n
    return node_hash(merkle_root(leaves[:k]), merkle_root(leaves[k:]))


class CompactRange:
    """The Merkle tree of a growing list of leaves in O(log n) memory: the roots
    of its perfect subtrees, largest first (one per 1 bit of the size)."""

    def __init__(self) -> None:
        self.size = 0
        self.peaks: list[bytes] = []

    def append(self, leaf: bytes) -> None:
        """Add the next leaf (raw bytes; hashed here with the 0x00 prefix)."""
        h = leaf_hash(leaf)
        n = self.size
        while n & 1:
            h = node_hash(self.peaks.pop(), h)
            n >>= 1
        self.peaks.append(h)
        self.size += 1

    def root(self) -> bytes:
        """The root of the tree of the leaves so far (RFC 9162 MTH)."""
        if not self.peaks:
            return EMPTY_ROOT
        h = self.peaks[-1]
        for peak in reversed(self.peaks[:-1]):
            h = node_hash(peak, h)
        return h


def verify_inclusion(index: int, size: int, leaf_hash_: bytes, path: list[bytes],
                     root: bytes) -> bool:
    """RFC 9162 §2.1.3.2: is the leaf with this hash at `index` (0-based) in
    the tree of `size` leaves whose root is `root`?"""
    if not 0 <= index < size or len(leaf_hash_) != 32 or len(root) != 32:
        return False
    fn, sn, r = index, size - 1, leaf_hash_
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(size1: int, size2: int, root1: bytes, root2: bytes,
                       path: list[bytes]) -> bool:
    """RFC 9162 §2.1.4.2: is the tree of `size1` leaves (root1) a prefix of the
    tree of `size2` leaves (root2)?  Strict: size1 = 0 proves nothing and is
    refused, as is size1 > size2."""
    if size1 <= 0 or size1 > size2:
        return False
    if size1 == size2:
        return not path and root1 == root2
    if not path:
        return False
    if size1 & (size1 - 1) == 0:  # size1 is a power of two: its root starts the path
        path = [root1] + list(path)
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == root1 and sr == root2


# ---------------------------------------------------------------------------
# §5 (first part). Ed25519, RFC 8032 §5.1, in pure Python
# ---------------------------------------------------------------------------

_P = 2 ** 255 - 19
_L = 2 ** 252 + 27742317777372353535851937790883648493  # order of the base point
_D = -121665 * pow(121666, _P - 2, _P) % _P
_SQRT_M1 = pow(2, (_P - 1) // 4, _P)


def _point_add(a: tuple, b: tuple) -> tuple:
    """Add two points in extended coordinates (X, Y, Z, T), RFC 8032 §5.1.4."""
    x1, y1, z1, t1 = a
    x2, y2, z2, t2 = b
    aa = (y1 - x1) * (y2 - x2) % _P
    bb = (y1 + x1) * (y2 + x2) % _P
    cc = 2 * t1 * t2 * _D % _P
    dd = 2 * z1 * z2 % _P
    e, f, g, h = bb - aa, dd - cc, dd + cc, bb + aa
    return (e * f % _P, g * h % _P, f * g % _P, e * h % _P)


def _point_double(a: tuple) -> tuple:
    """Double a point (RFC 8032 §5.1.4, dedicated doubling formula)."""
    x1, y1, z1, _ = a
    aa = x1 * x1 % _P
    bb = y1 * y1 % _P
    cc = 2 * z1 * z1 % _P
    h = aa + bb
    e = h - (x1 + y1) * (x1 + y1)
    g = aa - bb
    f = cc + g
    return (e * f % _P, g * h % _P, f * g % _P, e * h % _P)


_IDENTITY = (0, 1, 1, 0)


def _scalar_mult(s: int, point: tuple) -> tuple:
    """[s]point by double-and-add (verification handles public data only)."""
    result = _IDENTITY
    for bit in bin(s)[2:] if s else "":
        result = _point_double(result)
        if bit == "1":
            result = _point_add(result, point)
    return result


def _recover_x(y: int, sign: int) -> Optional[int]:
    """The x coordinate for y and the sign bit (RFC 8032 §5.1.3), or None."""
    if y >= _P:
        return None
    x2 = (y * y - 1) * pow(_D * y * y + 1, _P - 2, _P) % _P
    if x2 == 0:
        return None if sign else 0
    x = pow(x2, (_P + 3) // 8, _P)
    if (x * x - x2) % _P:
        x = x * _SQRT_M1 % _P
    if (x * x - x2) % _P:
        return None
    if x & 1 != sign:
        x = _P - x
    return x


def _point_decode(data: bytes) -> Optional[tuple]:
    """Decode a 32-byte point strictly: y < p, and x = 0 only with sign 0."""
    if len(data) != 32:
        return None
    y = int.from_bytes(data, "little")
    sign = y >> 255
    y &= (1 << 255) - 1
    x = _recover_x(y, sign)
    if x is None:
        return None
    return (x, y, 1, x * y % _P)


def _point_encode(point: tuple) -> bytes:
    x, y, z, _ = point
    zinv = pow(z, _P - 2, _P)
    x, y = x * zinv % _P, y * zinv % _P
    return (y | ((x & 1) << 255)).to_bytes(32, "little")


_BY = 4 * pow(5, _P - 2, _P) % _P
_BASE = (_recover_x(_BY, 0), _BY, 1, _recover_x(_BY, 0) * _BY % _P)


def _is_small_order(point: tuple) -> bool:
    """Whether [8]point is the identity (a point of order 1, 2, 4 or 8)."""
    x, y, z, _ = _point_double(_point_double(_point_double(point)))
    return x % _P == 0 and (y - z) % _P == 0


def ed25519_verify(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """RFC 8032 §5.1.7, strict: the key A and R must be canonical point
    encodings and not of small order (as ed25519-dalek's verify_strict, and
    the Rust tool, require), s must be below L, and the encoding of
    [s]B - [h]A must equal R byte for byte."""
    if len(public_key) != 32 or len(signature) != 64:
        return False
    a = _point_decode(public_key)
    if a is None or _is_small_order(a):
        return False
    r_bytes, s = signature[:32], int.from_bytes(signature[32:], "little")
    r_point = _point_decode(r_bytes)
    if r_point is None or _is_small_order(r_point) or s >= _L:
        return False
    h = int.from_bytes(hashlib.sha512(r_bytes + public_key + message).digest(), "little") % _L
    minus_a = ((_P - a[0]) % _P, a[1], a[2], (_P - a[3]) % _P)
    check = _point_add(_scalar_mult(s, _BASE), _scalar_mult(h, minus_a))
    return _point_encode(check) == r_bytes


def _expand_seed(seed: bytes) -> tuple[int, bytes]:
    digest = hashlib.sha512(seed).digest()
    a = int.from_bytes(digest[:32], "little")
    a &= (1 << 254) - 8
    a |= 1 << 254
    return a, digest[32:]


def ed25519_public_key(seed: bytes) -> bytes:
    """The public key of a 32-byte private seed (RFC 8032 §5.1.5)."""
    a, _ = _expand_seed(seed)
    return _point_encode(_scalar_mult(a, _BASE))


def ed25519_sign(seed: bytes, message: bytes) -> bytes:
    """RFC 8032 §5.1.6 signing.  Not constant time: for tests only."""
    a, prefix = _expand_seed(seed)
    public_key = _point_encode(_scalar_mult(a, _BASE))
    r = int.from_bytes(hashlib.sha512(prefix + message).digest(), "little") % _L
    r_bytes = _point_encode(_scalar_mult(r, _BASE))
    h = int.from_bytes(hashlib.sha512(r_bytes + public_key + message).digest(), "little") % _L
    return r_bytes + ((r + h * a) % _L).to_bytes(32, "little")


# ---------------------------------------------------------------------------
# §5 (second part). C2SP signed notes and tlog checkpoints
# ---------------------------------------------------------------------------

class NoteError(Exception):
    """A signed note that cannot be accepted (malformed, bad or no signature)."""


class MalformedNote(NoteError):
    pass


class InvalidSignature(NoteError):
    pass


class UnverifiedNote(NoteError):
    pass


SIG_PREFIX = "\u2014 ".encode("utf-8")  # em dash and a space
MAX_SIGNATURES = 100


@dataclass(frozen=True)
class VerifierKey:
    """`<name>+<key id, 8 hex>+<base64(0x01 || public key)>` (SPEC §5)."""
    name: str
    key_id: bytes
    public_key: bytes

    def text(self) -> str:
        encoded = base64.b64encode(b"\x01" + self.public_key).decode()
        return f"{self.name}+{self.key_id.hex()}+{encoded}"


def b64decode_strict(text: str) -> bytes:
    """Standard base64 with padding, canonical (re-encodes to the same text)."""
    try:
        data = base64.b64decode(text.encode("ascii"), validate=True)
    except (ValueError, UnicodeEncodeError):
        raise ValueError("not standard base64") from None
    if base64.b64encode(data).decode("ascii") != text:
        raise ValueError("not canonical base64")
    return data


def is_note_key_name(name: str) -> bool:
    """A signature line's key name as C2SP signed notes allow it: non-empty, no '+', no white
    space (a cosigner's key named with DEL or a C1 control is an unknown key, ignored)."""
    return bool(name) and "+" not in name and not any(ch.isspace() for ch in name)


def is_valid_key_name(name: str) -> bool:
    """A key name is a note key name with no control character either (no note could carry
    it)."""
    return is_note_key_name(name) and not any(unicodedata.category(ch) == "Cc" for ch in name)


def key_id(name: str, public_key: bytes) -> bytes:
    """First 4 bytes of SHA-256(key name || \\n || 0x01 || 32-byte key)."""
    return hashlib.sha256(name.encode("utf-8") + b"\n\x01" + public_key).digest()[:4]


def parse_verifier_key(text: str) -> VerifierKey:
    """Parse a verifier key, checking that its key id is the one its name and
    key give.  Raises ValueError."""
    parts = text.split("+", 2)  # base64 may itself hold '+'
    if len(parts) != 3:
        raise ValueError("a verifier key is <name>+<8 hex digits>+<base64 key>")
    name, hex_id, b64 = parts
    if not is_valid_key_name(name):
        raise ValueError("bad key name")
    if not re.fullmatch(r"[0-9a-fA-F]{8}", hex_id):
        raise ValueError("the key id must be 8 hex digits")
    raw = b64decode_strict(b64)
    if len(raw) != 33 or raw[0] != 1:
        raise ValueError("the key must be 0x01 followed by a 32-byte Ed25519 public key")
    public_key = raw[1:]
    if key_id(name, public_key) != bytes.fromhex(hex_id):
        raise ValueError("the key id does not match the key name and public key")
    point = _point_decode(public_key)
    if point is None or _is_small_order(point):
        raise ValueError("the public key is not a valid Ed25519 point (or is of small order)")
    return VerifierKey(name, bytes.fromhex(hex_id), public_key)


def parse_signer_key(text: str) -> tuple[VerifierKey, bytes]:
    """`PRIVATE+KEY+<name>+<key id>+<base64(0x01 || seed)>` -> (verifier key,
    seed).  Used by the self-test and the tests only."""
    parts = text.strip().split("+", 4)
    if len(parts) != 5 or parts[0] != "PRIVATE" or parts[1] != "KEY":
        raise ValueError("not a PRIVATE+KEY signer key")
    name, hex_id, b64 = parts[2:]
    raw = b64decode_strict(b64)
    if len(raw) != 33 or raw[0] != 1:
        raise ValueError("bad signer key")
    seed = raw[1:]
    public_key = ed25519_public_key(seed)
    if key_id(name, public_key).hex() != hex_id.lower():
        raise ValueError("signer key id mismatch")
    return VerifierKey(name, key_id(name, public_key), public_key), seed


def sign_note(text: bytes, name: str, seed: bytes) -> bytes:
    """A signed note of `text` (lines ending in \\n) by one key.  Tests only."""
    public_key = ed25519_public_key(seed)
    sig = key_id(name, public_key) + ed25519_sign(seed, text)
    return text + b"\n" + SIG_PREFIX + name.encode() + b" " + base64.b64encode(sig) + b"\n"


@dataclass
class OpenedNote:
    text: bytes
    verified: list[str] = field(default_factory=list)     # names of keys that verified
    unverified: list[str] = field(default_factory=list)   # signature lines by unknown keys


def open_note(message: bytes, keys: Iterable[VerifierKey]) -> OpenedNote:
    """Check a C2SP signed note against known verifier keys.

    The note is UTF-8 without control characters other than \\n; its text ends
    at the last blank line; each following line is `— <name> <base64(key id ||
    signature)>` and ends in \\n; at most 100 signature lines.  Every signature
    by a known key (same name and key id) must verify, a repeated one too
    (golang.org/x/mod/sumdb/note skips repeats; the Rust tool does not, and
    neither does this); signatures by other keys are ignored; at least one
    known key must have signed.  Raises
    MalformedNote, InvalidSignature or UnverifiedNote."""
    known = {(k.name, k.key_id): k for k in keys}
    try:
        decoded = message.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedNote("malformed note: not UTF-8") from None
    if any(ch < " " and ch != "\n" for ch in decoded):
        raise MalformedNote("malformed note: control character")
    split = message.rfind(b"\n\n")
    if split < 0:
        raise MalformedNote("malformed note: no blank line before the signatures")
    text, sigs = message[:split + 1], message[split + 2:]
    if not sigs or not sigs.endswith(b"\n"):
        raise MalformedNote("malformed note: the signature block is empty or does not end in a newline")
    note = OpenedNote(text)
    checked: set[bytes] = set()  # signature lines already verified
    count = 0
    for line in sigs[:-1].split(b"\n"):
        if not line.startswith(SIG_PREFIX):
            raise MalformedNote("malformed note: a signature line must start with an em dash")
        name, _, b64 = line[len(SIG_PREFIX):].decode("utf-8").partition(" ")
        try:
            sig = b64decode_strict(b64) if b64 else b""
        except ValueError:
            sig = b""
        if not is_note_key_name(name) or len(sig) < 5:
            raise MalformedNote("malformed note: bad signature line")
        count += 1
        if count > MAX_SIGNATURES:
            raise MalformedNote(f"malformed note: more than {MAX_SIGNATURES} signatures")
        kid, sig = sig[:4], sig[4:]
        key = known.get((name, kid))
        if key is None:
            note.unverified.append(name)
            continue
        if line in checked:
            continue
        checked.add(line)
        if not ed25519_verify(key.public_key, text, sig):
            raise InvalidSignature(f"invalid signature for key {name}+{kid.hex()}")
        if name not in note.verified:
            note.verified.append(name)
    if not note.verified:
        raise UnverifiedNote("the note is not signed by any of the given keys")
    return note


@dataclass
class Checkpoint:
    origin: str
    size: int
    root: bytes
    rest: bytes = b""


def parse_checkpoint_body(text: bytes) -> Checkpoint:
    """C2SP tlog-checkpoint body: origin line, decimal size, base64 root, then
    optional extension lines.  Raises ValueError."""
    lines = text.split(b"\n", 3)
    if len(lines) < 4:
        raise ValueError("a checkpoint needs an origin, a size and a root, each on its own line")
    origin_b, size_b, root_b, rest = lines
    if not origin_b:
        raise ValueError("the checkpoint's origin is empty")
    if not re.fullmatch(rb"0|[1-9][0-9]*", size_b) or int(size_b) >= 2 ** 64:
        raise ValueError("the checkpoint's size is not a decimal number below 2^64")
    try:
        root = b64decode_strict(root_b.decode("ascii"))
    except (ValueError, UnicodeDecodeError):
        raise ValueError("the checkpoint's root is not standard base64") from None
    if b"" in rest.split(b"\n")[:-1]:
        raise ValueError("the checkpoint's extension lines must not be empty")
    return Checkpoint(origin_b.decode("utf-8"), int(size_b), root, rest)


def read_checkpoint(path: str, key: VerifierKey) -> Checkpoint:
    """Read a checkpoint file and accept it only if `key` signed it: a usage
    error (exit 2) otherwise."""
    try:
        with open(path, "rb") as f:
            message = f.read()
    except OSError as exc:
        raise UsageError(f"cannot read the checkpoint {path}: {exc.strerror}") from None
    try:
        note = open_note(message, [key])
    except UnverifiedNote:
        raise UsageError(f"the checkpoint {path} is not signed by the key {key.name}+{key.key_id.hex()}") from None
    except NoteError as exc:
        raise UsageError(f"the checkpoint {path}: {exc}") from None
    try:
        checkpoint = parse_checkpoint_body(note.text)
    except ValueError as exc:
        raise UsageError(f"the checkpoint {path}: {exc}") from None
    if len(checkpoint.root) != 32:
        raise UsageError(f"the checkpoint {path}: its root is not 32 bytes")
    if checkpoint.size == 0 and checkpoint.root != EMPTY_ROOT:
        raise UsageError(f"the checkpoint {path}: a checkpoint of size 0 must have the root of the empty tree")
    return checkpoint


def load_verifier_key(arg: str) -> VerifierKey:
    """--key: a verifier key, or the name of a file holding one."""
    try:
        return parse_verifier_key(arg.strip())
    except ValueError as exc:
        problem = str(exc)
    if os.path.isfile(arg):
        try:
            with open(arg, encoding="utf-8-sig") as f:  # a byte-order mark, as audit-trail reads it
                text = f.read().strip()
        except (OSError, UnicodeDecodeError) as err:
            raise UsageError(f"cannot read the key file {arg}: {err}") from None
        try:
            return parse_verifier_key(text)
        except ValueError as exc:
            raise UsageError(f"the key file {arg} holds no verifier key: {exc}") from None
    raise UsageError(f"--key: not a verifier key ({problem}) nor a readable file")


# ---------------------------------------------------------------------------
# §2 (second part). Verifying a trail: hashes, seq, prev, ids (and a §5 checkpoint)
# ---------------------------------------------------------------------------

@dataclass
class Verdict:
    """The outcome of `verify`, as SPEC §6 prints it."""
    verified: int
    broken_at: Optional[int] = None
    reason: Optional[str] = None
    detail: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return self.reason is None

    def sentence(self) -> str:
        if self.valid:
            return f"valid: {self.verified} events"
        return f"BROKEN at seq {self.broken_at}: {self.reason}"

    def as_json(self) -> str:
        obj = {"status": "valid" if self.valid else "broken", "verified": self.verified,
               "broken_at": self.broken_at, "reason": self.reason}
        # Sorted and compact like the Rust tool's; json.dumps keeps integers
        # above 2^53 exact (canonical() would print them as doubles).
        return json.dumps(obj, sort_keys=True, separators=(",", ":"))


class _Broken(Exception):
    def __init__(self, seq: int, reason: str, detail: str) -> None:
        super().__init__(reason)
        self.seq, self.reason, self.detail = seq, reason, detail


# How many ids the duplicate-id check remembers (SPEC §2 lets a streaming
# verifier bound it); about 100 bytes each.
MAX_REMEMBERED_IDS = 5_000_000


class TrailVerifier:
    """Checks events one at a time, keeping only what §2 and §4 need: the
    last seq and hash, the set of ids seen and the Merkle compact range.

    Per line, in this order (the order the Rust tool reports in when several
    problems apply to one line):
      1. the line's form and the event's fields          -> bad format
      2. (from seq 1 only, when a checkpoint is given)   -> usage error
      3. the event's hash                                -> hash mismatch
      4. the chain name (the file holds one chain)       -> bad format
      5. seq: the previous + 1                           -> seq gap / seq out of order
      6. prev: the previous event's hash (zeros at seq 1)-> prev mismatch
      7. the id, unseen before                           -> duplicate id
    A break is reported at the seq where the next event belongs (for the
    first line of the file, its own seq, or 1 if it has none or a checkpoint
    asks for a trail from seq 1)."""

    def __init__(self, chain: Optional[str] = None, from_seq_1: Optional[str] = None,
                 on_event: Optional[Callable[["TrailVerifier"], None]] = None) -> None:
        self.wanted_chain = chain      # --chain: the chain the file must hold
        self.from_seq_1 = from_seq_1   # why the trail must start at seq 1, if it must
        self.on_event = on_event       # called after each event that verified
        self.chain: Optional[str] = None
        self.first_seq: Optional[int] = None
        self.first_prev: Optional[str] = None
        self.last_seq: Optional[int] = None
        self.last_hash: Optional[str] = None
        self.count = 0
        self.ids: set[int] = set()     # every id so far, as a 128-bit number
        self.ids_full = False          # MAX_REMEMBERED_IDS reached
        self.tree = CompactRange()

    def add(self, line: bytes, has_newline: bool) -> None:
        """Check one line; raises _Broken at the first problem (or
        UsageError when the file cannot be checked as asked)."""
        first = self.last_seq is None
        expected = 1 if first else self.last_seq + 1
        try:
            event, hashed = parse_line(line, has_newline)
        except FormatError as exc:
            at = claimed_seq(line) if first and not self.from_seq_1 else expected
            raise _Broken(at, BAD_FORMAT, str(exc)) from None
        seq = int(event["seq"])
        at = seq if first else expected
        if first and seq != 1 and self.from_seq_1:
            raise UsageError(f"the trail starts at seq {seq}: {self.from_seq_1}")

        computed = hashlib.sha256(hashed).hexdigest()
        if computed != event["hash"]:
            raise _Broken(at, HASH_MISMATCH, f"content hashes to {computed}")

        if first:
            if self.wanted_chain is not None and event["chain"] != self.wanted_chain:
                raise UsageError(f'the trail holds chain "{event["chain"]}", not "{self.wanted_chain}"'
                                 " (a JSON Lines export holds one chain)")
            self.chain = event["chain"]
        elif event["chain"] != self.chain:
            raise _Broken(at, BAD_FORMAT, f'event of chain "{event["chain"]}" in a trail of chain "{self.chain}"')

        if first:
            self.first_seq, self.first_prev = seq, event["prev"]
            if seq == 1 and event["prev"] != ZERO_HASH:
                raise _Broken(1, PREV_MISMATCH, "the first event's prev must be 64 zeros")
        else:
            if seq > expected:
                raise _Broken(expected, SEQ_GAP, f"found seq {seq} where {expected} belongs")
            if seq < expected:
                raise _Broken(expected, SEQ_OUT_OF_ORDER, f"found seq {seq} where {expected} belongs")
            if event["prev"] != self.last_hash:
                raise _Broken(seq, PREV_MISMATCH, f"prev is not the hash of seq {self.last_seq}")

        uid = int(event["id"].replace("-", ""), 16)
        if uid in self.ids:
            raise _Broken(seq, DUPLICATE_ID, f"id {event['id']} was used by an earlier event")
        if len(self.ids) < MAX_REMEMBERED_IDS:
            self.ids.add(uid)
        elif not self.ids_full:
            self.ids_full = True
            print(f"note: the ids of events after the first {MAX_REMEMBERED_IDS} are checked against "
                  "those only", file=sys.stderr)

        self.last_seq, self.last_hash = seq, event["hash"]
        self.count += 1
        self.tree.append(bytes.fromhex(event["hash"]))
        if self.on_event is not None:
            self.on_event(self)


def claimed_seq(line: bytes) -> int:
    """Where the first line of a file breaks when it is not a valid event (and
    no checkpoint asks for a trail from seq 1, which then breaks at 1): the
    seq it says it has, when it is still a JSON object with one "seq" member
    holding an integer from 1 to 2^53, else 1.  (SPEC is silent; this is what
    the Rust tool reports, so that both name the same seq.)"""
    def members(pairs: list[tuple[str, Any]]) -> dict:
        obj = dict(pairs)
        if sum(1 for key, _ in pairs if key == "seq") > 1:
            obj["seq"] = None  # a repeated "seq" says nothing
        return obj
    try:
        value = json.loads(line.decode("utf-8"), object_pairs_hook=members,
                           parse_float=_parse_number, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        return 1
    seq = value.get("seq") if isinstance(value, dict) else None
    if isinstance(seq, int) and not isinstance(seq, bool) and 1 <= seq <= MAX_SAFE_INT:
        return seq
    return 1


def verify_stream(stream: BinaryIO, chain: Optional[str] = None,
                  checkpoint: Optional[Checkpoint] = None) -> Verdict:
    """Verify a JSON Lines trail (SPEC §2, §3) and, if given, a checkpoint
    already accepted as signed by the verifier key (§4, §5).

    With a checkpoint of size n the trail must start at seq 1 (else a usage
    error), the Merkle root of its first n events must be the checkpoint's
    (else `checkpoint mismatch` at seq n, and none of those n events counts
    as verified), and it must have at least n events (else `truncated` at the
    seq after its last).  Events after the n-th are checked by their links."""
    def at_event(verifier: TrailVerifier) -> None:
        if checkpoint is not None and verifier.count == checkpoint.size:
            root = verifier.tree.root()
            if root != checkpoint.root:
                raise _Broken(checkpoint.size, CHECKPOINT_MISMATCH,
                              f"the Merkle root of events 1..{checkpoint.size} is {root.hex()}, but the "
                              f"checkpoint signed {checkpoint.root.hex()}: an event at or before seq "
                              f"{checkpoint.size} was changed, removed or inserted and later hashes recomputed")

    need_start = "checking it against a checkpoint needs the whole chain from seq 1"
    verifier = TrailVerifier(chain, need_start if checkpoint is not None else None, at_event)
    try:
        for line, has_newline in read_lines(stream):
            verifier.add(line, has_newline)
    except _Broken as broken:
        verified = verifier.count
        if broken.reason == CHECKPOINT_MISMATCH:
            verified -= checkpoint.size  # those events are not to be trusted
        verdict = Verdict(verified, broken.seq, broken.reason, broken.detail)
        note = origin_note(checkpoint, verifier.chain) if checkpoint else None
        verdict.notes += [note] if note else []
        return verdict

    verdict = Verdict(verifier.count)
    if verifier.count == 0:
        if chain is not None:
            raise UsageError(f'the trail is empty: it holds no events of chain "{chain}"')
        verdict.notes.append("note: the trail holds no events")
    if checkpoint is None:
        if verifier.first_seq is not None and verifier.first_seq > 1:
            verdict.notes.append(f"note: this is a part of a chain starting at seq {verifier.first_seq}; "
                                 f"its first prev ({verifier.first_prev}) is taken on trust")
        return verdict

    note = origin_note(checkpoint, verifier.chain)
    verdict.notes += [note] if note else []
    if verifier.count < checkpoint.size:
        return Verdict(verifier.count, verifier.count + 1, TRUNCATED,
                       f"the checkpoint vouches for {checkpoint.size} events; the trail ends after "
                       f"{verifier.count}: events were removed (or this is an older copy)", verdict.notes)
    verdict.notes.append(f"note: events 1..{checkpoint.size} match checkpoint {checkpoint.origin} "
                         f"(size {checkpoint.size}); later events are checked by their links only")
    return verdict


def origin_note(checkpoint: Checkpoint, chain: Optional[str]) -> Optional[str]:
    """SPEC §5 names no rule tying an origin to a chain; when the origin ends
    in "/<name>" and the trail is of another chain, say so (stderr only)."""
    named = checkpoint.origin.rsplit("/", 1)[-1] if "/" in checkpoint.origin else None
    if chain is not None and named is not None and named != chain:
        return (f'note: checkpoint {checkpoint.origin} seems to name chain "{named}" and this trail is '
                f'of chain "{chain}": a checkpoint of another chain cannot match it')
    return None


# ---------------------------------------------------------------------------
# Proof files (§4 JSON)
# ---------------------------------------------------------------------------

def _hex32(value: Any, label: str) -> bytes:
    if not isinstance(value, str) or not _HEX64.match(value):
        raise UsageError(f'"{label}" must be 64 lowercase hex digits')
    return bytes.fromhex(value)


def _count(value: Any, label: str) -> int:
    """A size or seq in a proof: a non-negative integer (0 is well-formed,
    and then fails to verify)."""
    if not is_integer(value, 0):
        raise UsageError(f'"{label}" must be a non-negative integer')
    return int(value)


def trail_roots(path: str, sizes: set[int],
                want_leaf: Optional[int]) -> tuple[str, dict[int, bytes], Optional[str], Verdict]:
    """Verify a trail and collect its Merkle roots at `sizes` and the hash of
    event `want_leaf`.  Returns (chain, roots, leaf hash, verdict)."""
    roots: dict[int, bytes] = {}
    leaf: list[str] = []

    def at_event(verifier: TrailVerifier) -> None:
        if verifier.count in sizes:
            roots[verifier.count] = verifier.tree.root()
        if verifier.last_seq == want_leaf:
            leaf.append(verifier.last_hash)

    verifier = TrailVerifier(None, "a proof is checked against the whole chain from seq 1", at_event)
    with open_input(path) as stream:
        try:
            for line, has_newline in read_lines(stream):
                verifier.add(line, has_newline)
        except _Broken as broken:
            verdict = Verdict(verifier.count, broken.seq, broken.reason, broken.detail)
            return verifier.chain or "", roots, None, verdict
    if 0 in sizes:
        roots[0] = EMPTY_ROOT
    return verifier.chain or "", roots, (leaf[0] if leaf else None), Verdict(verifier.count)


def check_proof(proof: Any, trail: Optional[str]) -> tuple[bool, str]:
    """Verify a §4 proof object; returns (valid, sentence)."""
    if not isinstance(proof, dict):
        raise UsageError("a proof is a JSON object")
    if ("seq" in proof) == ("size1" in proof):
        raise UsageError('a proof has either "seq" (inclusion) or "size1" (consistency)')
    if not isinstance(proof.get("chain"), str):
        raise UsageError('a proof names its chain: "chain" must be a string (SPEC §4)')
    path_value = proof.get("path")
    if not isinstance(path_value, list):
        raise UsageError('"path" must be an array of hashes')
    path = [_hex32(p, "path[]") for p in path_value]

    if "seq" in proof:
        seq = _count(proof.get("seq"), "seq")
        size = _count(proof.get("size"), "size")
        leaf = _hex32(proof.get("leaf"), "leaf")
        root = _hex32(proof.get("root"), "root")
        if seq < 1:
            return False, "seq must be at least 1"
        if not verify_inclusion(seq - 1, size, leaf_hash(leaf), path, root):
            return False, f"the path does not lead from event seq {seq} to the root of the tree of {size} events"
        what = f"event seq {seq} (hash {leaf.hex()}) is in the tree of {size} events"
        sizes, want = {size}, seq
    else:
        size1 = _count(proof.get("size1"), "size1")
        size2 = _count(proof.get("size2"), "size2")
        root1 = _hex32(proof.get("root1"), "root1")
        root2 = _hex32(proof.get("root2"), "root2")
        if size1 == 0:
            return False, "a consistency proof from the empty tree (size1 = 0) proves nothing and is refused"
        if size1 > size2:
            return False, f"size1 ({size1}) is larger than size2 ({size2})"
        if not verify_consistency(size1, size2, root1, root2, path):
            return False, f"the path does not show the tree of {size1} events to be a prefix of the tree of {size2}"
        what = f"the tree of {size1} events is a prefix of the tree of {size2} events"
        sizes, want = {size1, size2}, None

    if trail is None:
        return True, what
    chain, roots, leaf_hex, verdict = trail_roots(trail, sizes, want)
    if not verdict.valid:
        return False, f"the trail is broken at seq {verdict.broken_at}: {verdict.reason}"
    if verdict.verified and proof["chain"] != chain:
        return False, f'the proof is for chain "{proof["chain"]}", the trail holds chain "{chain}"'
    missing = [n for n in sorted(sizes) if n not in roots]
    if missing:
        return False, f"the trail has {verdict.verified} events, fewer than {missing[0]}"
    if "seq" in proof:
        if leaf_hex != leaf.hex():
            return False, f"the leaf is not the hash of the trail's event seq {seq}"
        if roots[size] != root:
            return False, f"the root is not the trail's Merkle root at size {size}"
    else:
        if roots[size1] != root1:
            return False, f"root1 is not the trail's Merkle root at size {size1}"
        if roots[size2] != root2:
            return False, f"root2 is not the trail's Merkle root at size {size2}"
    return True, what + ", and matches the trail"


# ---------------------------------------------------------------------------
# Self-test against the public vectors
# ---------------------------------------------------------------------------

@dataclass
class Group:
    name: str
    passed: int = 0
    failed: list[str] = field(default_factory=list)

    def check(self, ok: bool, label: str) -> None:
        if ok:
            self.passed += 1
        else:
            self.failed.append(label)

    def line(self) -> str:
        total = self.passed + len(self.failed)
        status = "ok" if not self.failed else "FAILED"
        text = f"{self.name}: {self.passed}/{total} passed ({status})"
        for label in self.failed[:20]:
            text += f"\n    failed: {label}"
        return text


def selftest_jcs(vectors: str) -> list[Group]:
    """RFC 8785 files (input -> output, outhex) and ES6 number formatting."""
    files = Group("jcs files")
    jcs = os.path.join(vectors, "jcs")
    for name in sorted(os.listdir(os.path.join(jcs, "input"))):
        try:
            with open(os.path.join(jcs, "input", name), encoding="utf-8") as f:
                value = parse_json(f.read())
            with open(os.path.join(jcs, "output", name), "rb") as f:
                expected = f.read()
            with open(os.path.join(jcs, "outhex", name.rsplit(".", 1)[0] + ".txt")) as f:
                expected_hex = bytes.fromhex("".join(f.read().split()))
            got = canonical(value)
            files.check(got == expected and got == expected_hex, name)
        except (OSError, ValueError) as exc:
            files.check(False, f"{name}: {exc}")
    numbers = Group("jcs es6 numbers")
    with open(os.path.join(jcs, "es6numbers_first10000.txt")) as f:
        for line in f:
            bits_hex, _, expected = line.rstrip("\n").partition(",")
            x = struct.unpack(">d", bytes.fromhex(bits_hex.rjust(16, "0")))[0]
            try:
                got = es6_number(x)
                ok = got == expected and (float(got) == x or x == 0)
            except CanonError:
                ok = not math.isfinite(x)
                got = "error"
            numbers.check(ok, f"{bits_hex}: expected {expected}, got {got}")
    return [files, numbers]


def selftest_merkle(vectors: str) -> list[Group]:
    """RFC 6962/9162 roots, inclusion and consistency proofs, must-fail cases."""
    with open(os.path.join(vectors, "rfc6962.json")) as f:
        v = json.load(f)
    group = Group("rfc6962 roots")
    leaves = [bytes.fromhex(h) for h in v["leaves_hex"]]
    for i, h in enumerate(v["leaf_hashes_hex"]):
        group.check(leaf_hash(leaves[i]).hex() == h, f"leaf hash {i}")
    tree = CompactRange()
    for size_text, root_hex in sorted(v["roots_hex_by_size"].items(), key=lambda kv: int(kv[0])):
        size = int(size_text)
        while tree.size < size:
            tree.append(leaves[tree.size])
        group.check(merkle_root(leaves[:size]).hex() == root_hex, f"recursive root {size}")
        group.check(tree.root().hex() == root_hex, f"compact-range root {size}")
    groups = [group]

    def h(items: list[str]) -> list[bytes]:
        return [bytes.fromhex(x) for x in items]

    def incl(case: dict) -> bool:
        return verify_inclusion(case["index"], case["size"], bytes.fromhex(case["leaf_hash_hex"]),
                                h(case["proof_hex"]), bytes.fromhex(case["root_hex"]))

    def cons(case: dict) -> bool:
        return verify_consistency(case["size1"], case["size2"], bytes.fromhex(case["root1_hex"]),
                                  bytes.fromhex(case["root2_hex"]), h(case["proof_hex"]))

    for key, fn, want in (("inclusion", incl, True), ("inclusion_other_valid", incl, True),
                          ("inclusion_must_fail", incl, False), ("consistency", cons, True),
                          ("consistency_other_valid", cons, True),
                          ("consistency_must_fail", cons, False)):
        g = Group("rfc6962 " + key)
        for case in v[key]:
            label = case.get("desc") or json.dumps({k: case[k] for k in case if "size" in k or k == "index"})
            g.check(fn(case) is want, label)
        groups.append(g)
    return groups


def selftest_notes(vectors: str) -> list[Group]:
    """Signed notes and checkpoints: valid, bad signature, malformed, co-signed."""
    with open(os.path.join(vectors, "signed_note.json"), encoding="utf-8") as f:
        v = json.load(f)
    keys = Group("signed_note keys")
    by_name: dict[str, VerifierKey] = {}
    seeds: dict[str, bytes] = {}
    for entry in v["keys"]:
        try:
            key = parse_verifier_key(entry["vkey"])
            by_name[key.name] = key
            if "pub_hex" in entry:
                keys.check(key.public_key.hex() == entry["pub_hex"], f"{key.name} public key")
            if "skey" in entry:
                derived, seed = parse_signer_key(entry["skey"])
                seeds[key.name] = seed
                keys.check(derived == key, f"{key.name} signer key gives its verifier key")
            if "skey_seed_hex" in entry:
                seed = bytes.fromhex(entry["skey_seed_hex"])
                seeds[key.name] = seed
                keys.check(ed25519_public_key(seed) == key.public_key, f"{key.name} seed")
            keys.check(True, f"{key.name} parses")
        except ValueError as exc:
            keys.check(False, f"{entry['vkey']}: {exc}")
    for bad in ("PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
                "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10T",
                "Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
                "PeterNeumann+c74f20a3+AhpcrQcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"):
        try:
            parse_verifier_key(bad)
            keys.check(False, f"accepted bad verifier key {bad}")
        except ValueError:
            keys.check(True, bad)

    def known(names: list[str]) -> list[VerifierKey]:
        return [parse_verifier_key(n) for n in names]

    notes = Group("signed_note notes")
    for case in v["notes"]:
        message = case["note"].encode("utf-8")
        keys_for = known(case["verify_with"])
        if case["expect"].startswith("valid"):
            try:
                opened = open_note(message, keys_for)
                notes.check(sorted(opened.verified) == sorted(k.name for k in keys_for), case["id"])
                notes.check(opened.text == case["text"].encode("utf-8"), case["id"] + " text")
                for k in keys_for[1:]:  # with only the first key, the others are ignored
                    only_first = open_note(message, keys_for[:1])
                    notes.check(k.name in only_first.unverified and only_first.verified == [keys_for[0].name],
                                f"{case['id']}: {k.name} ignored as unknown")
            except NoteError as exc:
                notes.check(False, f"{case['id']}: {exc}")
        else:
            try:
                open_note(message, keys_for)
                notes.check(False, f"{case['id']}: accepted")
            except InvalidSignature:
                notes.check(True, case["id"])
            except NoteError as exc:
                notes.check(False, f"{case['id']}: wrong error {exc}")
        # Deterministic signatures: re-signing reproduces the note.
        if "text" in case and case["expect"].startswith("valid"):
            for key in keys_for:
                if key.name in seeds:
                    sig = key.key_id + ed25519_sign(seeds[key.name], case["text"].encode("utf-8"))
                    line = SIG_PREFIX + key.name.encode() + b" " + base64.b64encode(sig) + b"\n"
                    notes.check(line in message, f"{case['id']}: re-signed by {key.name}")

    malformed = Group("signed_note malformed")
    peter = by_name["PeterNeumann"]
    peter_note = v["notes"][0]["note"].encode("utf-8")
    sig_line = peter_note[peter_note.index(SIG_PREFIX):]
    for text in v["malformed_notes_from_note_test_go"]["cases"]:
        if text.startswith("(0xff"):
            message = b"\xff" + v["notes"][0]["text"].encode() + b"\n" + sig_line
        elif text.startswith("(101 copies"):
            message = v["notes"][0]["text"].encode() + b"\n" + sig_line * 101
        else:
            message = text.encode("utf-8")
        try:
            open_note(message, [peter])
            malformed.check(False, f"accepted {text[:60]!r}")
        except MalformedNote:
            malformed.check(True, text)
        except NoteError as exc:
            malformed.check(False, f"{text[:60]!r}: not reported as malformed ({exc})")

    cps = Group("signed_note checkpoints")
    for case in v["checkpoints"] + v["checkpoints_multi"]:
        message = case["note"].encode("utf-8")
        keys_for = known(case["verify_with"])
        try:
            if keys_for:
                opened = open_note(message, keys_for)
                cps.check(sorted(opened.verified) == sorted(k.name for k in keys_for), case["id"])
                if len(keys_for) > 1:
                    cps.check(opened.unverified == ["random1", "random2"], case["id"] + ": unknown ignored")
                    cps.check(open_note(message, keys_for[:1]).verified == [keys_for[0].name],
                              case["id"] + ": one key")
                text = opened.text
                tampered = message.replace(b"\n6476701\n", b"\n6476702\n")
                try:
                    open_note(tampered, keys_for)
                    cps.check(False, case["id"] + ": tampered size accepted")
                except InvalidSignature:
                    cps.check(True, case["id"] + ": tampered size refused")
            else:
                text = message[:message.rindex(b"\n\n") + 1]
                try:
                    open_note(message, [by_name["sum.golang.org"]])
                    cps.check(False, case["id"] + ": accepted by another key with the same id")
                except UnverifiedNote:
                    cps.check(True, case["id"] + ": another key's name is not this signer")
            if "parsed" in case:
                body = parse_checkpoint_body(text)
                p = case["parsed"]
                cps.check((body.origin, body.size, body.root.hex()) == (p["origin"], p["size"], p["root_hash_hex"]),
                          case["id"] + ": body")
        except (NoteError, ValueError) as exc:
            cps.check(False, f"{case['id']}: {exc}")

    bodies = Group("signed_note checkpoint bodies")
    for case in v["checkpoint_body_vectors"]["valid"]:
        try:
            body = parse_checkpoint_body(case["body"].encode())
            ok = (body.origin == case.get("origin", body.origin) and body.size == case.get("size", body.size)
                  and body.root == case.get("hash_utf8", body.root.decode("latin-1")).encode("latin-1")
                  and body.rest == case.get("rest", "").encode())
            bodies.check(ok, case["body"])
        except ValueError as exc:
            bodies.check(False, f"{case['body']!r}: {exc}")
    for text in v["checkpoint_body_vectors"]["invalid"]:
        try:
            parse_checkpoint_body(text.encode())
            bodies.check(False, f"accepted {text!r}")
        except ValueError:
            bodies.check(True, text)
    return [keys, notes, malformed, cps, bodies]


def run_selftest(vectors: str) -> list[Group]:
    """All groups; raises OSError/KeyError if the vectors are missing."""
    return selftest_jcs(vectors) + selftest_merkle(vectors) + selftest_notes(vectors)


# ---------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------

def open_input(path: str) -> BinaryIO:
    """Open a file for reading in binary, `-` being standard input."""
    if path == "-":
        return os.fdopen(os.dup(sys.stdin.fileno()), "rb")
    try:
        return open(path, "rb")
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None


def cmd_verify(args: argparse.Namespace) -> int:
    if (args.checkpoint is None) != (args.key is None):
        raise UsageError("--checkpoint and --key go together")
    checkpoint = None
    if args.checkpoint is not None:
        checkpoint = read_checkpoint(args.checkpoint, load_verifier_key(args.key))
    with open_input(args.trail) as stream:
        try:
            verdict = verify_stream(stream, args.chain, checkpoint)
        except OSError as exc:
            raise UsageError(f"cannot read {args.trail}: {exc.strerror}") from None
    print(verdict.as_json() if args.json else verdict.sentence(), flush=True)
    if not verdict.valid:
        print(f"  {verdict.detail} (after {verdict.verified} valid events)", file=sys.stderr)
    for note in verdict.notes:
        print(note, file=sys.stderr)
    return 0 if verdict.valid else 1


def cmd_proof(args: argparse.Namespace) -> int:
    try:
        with open_input(args.proof) as f:
            data = f.read()
        proof = parse_json(data.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise UsageError(f"{args.proof} is not JSON: {exc}") from None
    valid, sentence = check_proof(proof, args.trail)
    print(("valid: " if valid else "BROKEN: ") + sentence)
    return 0 if valid else 1


def cmd_selftest(args: argparse.Namespace) -> int:
    try:
        groups = run_selftest(args.vectors)
    except (OSError, KeyError, ValueError) as exc:
        raise UsageError(f"cannot read the vectors in {args.vectors}: {exc}") from None
    for group in groups:
        print(group.line())
    return 0 if all(not g.failed for g in groups) else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="verify_trail.py",
        description="Independent verifier of audit-trail exports (SPEC v1).")
    sub = parser.add_subparsers(dest="command", required=True)
    v = sub.add_parser("verify", help="check a JSON Lines trail (SPEC §1-§3, §5 with a checkpoint)")
    v.add_argument("trail", metavar="TRAIL.jsonl", help="the export; - for standard input")
    v.add_argument("--chain", metavar="NAME", help="the chain the file must hold")
    v.add_argument("--checkpoint", metavar="FILE", help="a signed checkpoint (SPEC §5)")
    v.add_argument("--key", metavar="VERIFIER_KEY", help="the checkpoint's verifier key, or a file holding it")
    v.add_argument("--json", action="store_true", help="print one JSON object")
    v.set_defaults(run=cmd_verify)
    p = sub.add_parser("proof", help="check a §4 inclusion or consistency proof")
    p.add_argument("proof", metavar="PROOF.json", help="the proof; - for standard input")
    p.add_argument("--trail", metavar="TRAIL.jsonl", help="also check leaf and roots against this trail")
    p.set_defaults(run=cmd_proof)
    s = sub.add_parser("selftest", help="run the public test vectors")
    s.add_argument("vectors", metavar="VECTORS_DIR")
    s.set_defaults(run=cmd_selftest)
    return parser


def main(argv: Optional[list[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 2
    except BrokenPipeError:
        return 2


if __name__ == "__main__":
    sys.exit(main())

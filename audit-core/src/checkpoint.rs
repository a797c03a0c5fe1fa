//! Signed checkpoints of SPEC §5: a C2SP tlog-checkpoint body inside a C2SP
//! signed note, signed with Ed25519 (signature type 0x01), compatible with
//! Go's `golang.org/x/mod/sumdb/note`.
//!
//! ```
//! use audit_core::checkpoint::{Checkpoint, NoteSigner, NoteVerifier};
//!
//! // Once: make a key; keep the private key string secret, publish the verifier key.
//! let signer = NoteSigner::generate("audit.example.com/default")?;
//! let verifier_key = signer.verifier().to_string(); // "<name>+<8 hex>+<base64>"
//!
//! // The log signs its current size and Merkle root.
//! let checkpoint = Checkpoint::new("audit.example.com/default", 3, [7; 32]);
//! let note = checkpoint.sign(&signer)?;
//! assert!(note.starts_with("audit.example.com/default\n3\nBwcH"));
//!
//! // An auditor checks it with the published verifier key.
//! let verifier: NoteVerifier = verifier_key.parse()?;
//! assert_eq!(Checkpoint::verify(&note, &verifier)?, checkpoint);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Format
//!
//! A signed note is a text ending in a newline, a blank line, then one or
//! more lines `— <key name> <base64(4-byte key id ‖ signature)>`. The
//! signature covers the text, final newline included. [`open_note`] follows
//! Go's `note.Open`: signatures by unknown keys (no verifier with the same
//! name *and* key id) are ignored, a known key whose signature fails is an
//! error, and at least one known key must have signed. It is stricter than
//! Go in a few places: base64 must be canonical, a repeated signature by a
//! known key is verified too instead of skipped, Ed25519 signatures are
//! checked with `verify_strict` (no small-order keys, canonical encodings),
//! and [`sign_note`] refuses texts that [`open_note`] would refuse.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use rand_core::{OsRng, RngCore as _};
use sha2::{Digest as _, Sha256};

use crate::merkle::{Digest, to_hex};

/// Signature type byte of Ed25519 note keys.
pub const ALG_ED25519: u8 = 0x01;

/// Most signature lines [`open_note`] accepts (as Go's `note.Open`).
pub const MAX_SIGNATURES: usize = 100;

/// Start of every signature line: em dash (U+2014) and a space.
const SIG_PREFIX: &str = "\u{2014} ";

/// Start of a private key string.
const PRIVATE_PREFIX: &str = "PRIVATE+KEY+";

// ---------------------------------------------------------------------------
// Keys
// ---------------------------------------------------------------------------

/// Checks a key name as Go's note package does: non-empty, no `+`, no
/// Unicode white space; and no control character (no note could carry it).
pub fn validate_key_name(name: &str) -> Result<(), KeyError> {
    // A control character is refused too: the name is written in the signature lines of
    // every note the key signs, and a note with one cannot be opened (SPEC §5).
    if !is_note_key_name(name) || name.chars().any(char::is_control) {
        return Err(KeyError::InvalidName { name: name.to_owned() });
    }
    Ok(())
}

/// Whether a signature line's key name is one C2SP signed notes allow: non-empty, no `+`, no
/// Unicode white space. Laxer than [`validate_key_name`] (keys this crate makes or takes): a
/// cosigner's key named with DEL or a C1 control character is still an unknown key, whose
/// signature is ignored, not a reason to refuse the note.
fn is_note_key_name(name: &str) -> bool {
    !name.is_empty() && !name.contains('+') && !name.chars().any(char::is_whitespace)
}

/// Key id of an Ed25519 note key: the first 4 bytes of
/// SHA-256(name ‖ `\n` ‖ 0x01 ‖ 32-byte public key).
pub fn key_id(name: &str, public: &VerifyingKey) -> [u8; 4] {
    let hash = Sha256::new()
        .chain_update(name.as_bytes())
        .chain_update(b"\n")
        .chain_update([ALG_ED25519])
        .chain_update(public.as_bytes())
        .finalize();
    [hash[0], hash[1], hash[2], hash[3]]
}

/// A public key that checks note signatures: a name, its key id and an
/// Ed25519 public key. Written as `<name>+<key id hex>+<base64(0x01 ‖ key)>`
/// by [`Display`](fmt::Display), read by [`FromStr`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteVerifier {
    name: String,
    key_id: [u8; 4],
    public: VerifyingKey,
}

impl NoteVerifier {
    /// A verifier for `public` under `name`; computes the key id.
    pub fn new(name: impl Into<String>, public: VerifyingKey) -> Result<Self, KeyError> {
        let name = name.into();
        validate_key_name(&name)?;
        let key_id = key_id(&name, &public);
        Ok(Self { name, key_id, public })
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The 4-byte key id.
    pub fn key_id(&self) -> [u8; 4] {
        self.key_id
    }

    /// The Ed25519 public key.
    pub fn public_key(&self) -> &VerifyingKey {
        &self.public
    }

    /// Whether `signature` (without key id) is this key's signature of `message`.
    fn verifies(&self, message: &[u8], signature: &[u8]) -> bool {
        let Ok(bytes) = <[u8; 64]>::try_from(signature) else {
            return false;
        };
        self.public.verify_strict(message, &Signature::from_bytes(&bytes)).is_ok()
    }
}

impl fmt::Display for NoteVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let key = BASE64.encode(tagged(self.public.as_bytes()));
        write!(f, "{}+{}+{}", self.name, to_hex(&self.key_id), key)
    }
}

impl FromStr for NoteVerifier {
    type Err = KeyError;

    /// Parses `<name>+<8 hex digits>+<base64(0x01 ‖ 32-byte public key)>`.
    fn from_str(text: &str) -> Result<Self, KeyError> {
        if text.starts_with(PRIVATE_PREFIX) {
            return Err(KeyError::PrivateKeyGiven);
        }
        let KeyParts { name, claimed_id, key } = KeyParts::parse(text, KeyKind::Verifier)?;
        let public = VerifyingKey::from_bytes(&key).map_err(|_| KeyError::InvalidPublicKey)?;
        let verifier = Self::new(name, public)?;
        check_key_id(claimed_id, verifier.key_id)?;
        Ok(verifier)
    }
}

/// A private key that signs notes: a name and an Ed25519 key. Read and
/// written in Go's form `PRIVATE+KEY+<name>+<key id hex>+<base64(0x01 ‖ seed)>`.
/// Its `Debug` output leaves the key out.
#[derive(Clone)]
pub struct NoteSigner {
    name: String,
    key_id: [u8; 4],
    key: SigningKey,
}

impl NoteSigner {
    /// A signer for `key` under `name`.
    pub fn new(name: impl Into<String>, key: SigningKey) -> Result<Self, KeyError> {
        let name = name.into();
        validate_key_name(&name)?;
        let key_id = key_id(&name, &key.verifying_key());
        Ok(Self { name, key_id, key })
    }

    /// A new random key for `name`, from the operating system's generator.
    pub fn generate(name: impl Into<String>) -> Result<Self, KeyError> {
        let mut seed = [0u8; 32];
        OsRng.try_fill_bytes(&mut seed).map_err(|e| KeyError::Random(e.to_string()))?;
        Self::new(name, SigningKey::from_bytes(&seed))
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The 4-byte key id.
    pub fn key_id(&self) -> [u8; 4] {
        self.key_id
    }

    /// The matching verifier (public key), to publish.
    pub fn verifier(&self) -> NoteVerifier {
        NoteVerifier { name: self.name.clone(), key_id: self.key_id, public: self.key.verifying_key() }
    }

    /// The private key string, `PRIVATE+KEY+<name>+<key id hex>+<base64>`.
    /// Anyone who has it can sign: store it like a password.
    pub fn to_private_key_string(&self) -> String {
        let seed = BASE64.encode(tagged(self.key.as_bytes()));
        format!("{PRIVATE_PREFIX}{}+{}+{seed}", self.name, to_hex(&self.key_id))
    }

    /// `— <name> <base64(key id ‖ signature)>\n` for `text`.
    fn signature_line(&self, text: &str) -> String {
        let mut sig = self.key_id.to_vec();
        sig.extend_from_slice(&self.key.sign(text.as_bytes()).to_bytes());
        format!("{SIG_PREFIX}{} {}\n", self.name, BASE64.encode(sig))
    }
}

impl fmt::Debug for NoteSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NoteSigner")
            .field("name", &self.name)
            .field("key_id", &to_hex(&self.key_id))
            .field("key", &"<redacted>")
            .finish()
    }
}

impl FromStr for NoteSigner {
    type Err = KeyError;

    /// Parses `PRIVATE+KEY+<name>+<8 hex digits>+<base64(0x01 ‖ 32-byte seed)>`.
    fn from_str(text: &str) -> Result<Self, KeyError> {
        let rest = text.strip_prefix(PRIVATE_PREFIX).ok_or(KeyError::NotPrivateKey)?;
        let KeyParts { name, claimed_id, key } = KeyParts::parse(rest, KeyKind::Signer)?;
        let signer = Self::new(name, SigningKey::from_bytes(&key))?;
        check_key_id(claimed_id, signer.key_id)?;
        Ok(signer)
    }
}

/// `0x01 ‖ key`.
fn tagged(key: &[u8; 32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(33);
    out.push(ALG_ED25519);
    out.extend_from_slice(key);
    out
}

#[derive(Clone, Copy)]
enum KeyKind {
    Verifier,
    Signer,
}

impl KeyKind {
    fn form(self) -> &'static str {
        match self {
            Self::Verifier => "<name>+<8 hex digits>+<base64 key>",
            Self::Signer => "PRIVATE+KEY+<name>+<8 hex digits>+<base64 key>",
        }
    }
}

/// The pieces of `<name>+<hex id>+<base64(0x01 ‖ 32 bytes)>`.
struct KeyParts {
    name: String,
    claimed_id: [u8; 4],
    key: [u8; 32],
}

impl KeyParts {
    fn parse(text: &str, kind: KeyKind) -> Result<Self, KeyError> {
        let format = || KeyError::Format { form: kind.form() };
        let (name, rest) = text.split_once('+').ok_or_else(format)?;
        let (id_hex, key_b64) = rest.split_once('+').ok_or_else(format)?;
        validate_key_name(name)?;
        let claimed_id = parse_key_id(id_hex)?;
        let data = BASE64.decode(key_b64).map_err(|_| KeyError::Base64)?;
        let (&alg, key) = data.split_first().ok_or(KeyError::KeyLength { len: 0 })?;
        if alg != ALG_ED25519 {
            return Err(KeyError::UnknownAlgorithm { alg });
        }
        let key = <[u8; 32]>::try_from(key).map_err(|_| KeyError::KeyLength { len: key.len() })?;
        Ok(Self { name: name.to_owned(), claimed_id, key })
    }
}

fn check_key_id(claimed: [u8; 4], computed: [u8; 4]) -> Result<(), KeyError> {
    if claimed != computed {
        return Err(KeyError::KeyIdMismatch { claimed: to_hex(&claimed), computed: to_hex(&computed) });
    }
    Ok(())
}

/// 8 hex digits (either case, as Go's `strconv.ParseUint(s, 16, 32)`).
fn parse_key_id(text: &str) -> Result<[u8; 4], KeyError> {
    let bad = || KeyError::KeyIdFormat { text: text.to_owned() };
    if text.len() != 8 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad());
    }
    u32::from_str_radix(text, 16).map(u32::to_be_bytes).map_err(|_| bad())
}

/// Why a key or key string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The key name breaks the note rules.
    #[error(
        "key name {name:?} is not valid: a key name must be non-empty and contain \
         no '+', no white space and no control character (e.g. audit.example.com/default)"
    )]
    InvalidName {
        /// The refused name.
        name: String,
    },
    /// The key string does not have the expected parts.
    #[error("malformed key: expected {form}")]
    Format {
        /// The expected form.
        form: &'static str,
    },
    /// The key id is not 8 hex digits.
    #[error("malformed key: the key id {text:?} is not 8 hex digits")]
    KeyIdFormat {
        /// The refused text.
        text: String,
    },
    /// The key data is not standard base64.
    #[error("malformed key: the key data is not standard base64 with padding")]
    Base64,
    /// The key data names another algorithm than Ed25519.
    #[error("unknown key algorithm 0x{alg:02x}: only Ed25519 (0x01) keys are supported")]
    UnknownAlgorithm {
        /// The algorithm byte found.
        alg: u8,
    },
    /// The key is not 32 bytes after the algorithm byte.
    #[error("malformed key: an Ed25519 key is 32 bytes after the algorithm byte, this one has {len}")]
    KeyLength {
        /// Bytes found after the algorithm byte.
        len: usize,
    },
    /// The key id in the string is not the one of the name and key.
    #[error(
        "the key id {claimed} does not match the name and key (they give {computed}): \
         the key string was altered or mis-copied"
    )]
    KeyIdMismatch {
        /// Key id written in the string.
        claimed: String,
        /// Key id computed from the name and key.
        computed: String,
    },
    /// The 32 bytes are not an Ed25519 public key.
    #[error("the verifier key does not hold a valid Ed25519 public key")]
    InvalidPublicKey,
    /// A private key was given where a verifier key was expected.
    #[error(
        "this is a private key (PRIVATE+KEY+…); give the verifier key instead, \
         and keep the private key secret"
    )]
    PrivateKeyGiven,
    /// A private key string does not start with `PRIVATE+KEY+`.
    #[error(
        "not a private key: a private key starts with PRIVATE+KEY+ \
         (a verifier key cannot sign)"
    )]
    NotPrivateKey,
    /// The operating system gave no randomness.
    #[error("could not get random bytes from the operating system: {0}")]
    Random(String),
}

// ---------------------------------------------------------------------------
// Signed notes
// ---------------------------------------------------------------------------

/// One signature line of a note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteSignature {
    /// Key name.
    pub name: String,
    /// Key id.
    pub key_id: [u8; 4],
    /// The base64 text of the line (key id ‖ signature).
    pub base64: String,
}

/// A note whose signatures [`open_note`] checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedNote {
    text: String,
    signatures: Vec<NoteSignature>,
    unverified: Vec<NoteSignature>,
}

impl VerifiedNote {
    /// The signed text, final newline included.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Signatures by known keys; all verified, at least one.
    pub fn signatures(&self) -> &[NoteSignature] {
        &self.signatures
    }

    /// Signatures by keys that were not given, ignored (e.g. witness cosignatures).
    pub fn unverified_signatures(&self) -> &[NoteSignature] {
        &self.unverified
    }
}

/// Signs `text` with each signer and returns the note: the text, a blank
/// line, and one signature line per signer.
///
/// `text` must end with a newline and hold no control characters other than
/// newlines; at least one and at most [`MAX_SIGNATURES`] signers.
pub fn sign_note(text: &str, signers: &[NoteSigner]) -> Result<String, NoteError> {
    if !text.ends_with('\n') {
        return Err(NoteError::TextNotNewlineTerminated);
    }
    if let Some(offset) = control_character(text) {
        return Err(NoteError::TextControlCharacter { offset });
    }
    if signers.is_empty() {
        return Err(NoteError::NoSigners);
    }
    if signers.len() > MAX_SIGNATURES {
        return Err(NoteError::TooManySigners { count: signers.len() });
    }
    let mut note = String::with_capacity(text.len() + 1 + signers.len() * 120);
    note.push_str(text);
    note.push('\n');
    for signer in signers {
        note.push_str(&signer.signature_line(text));
    }
    Ok(note)
}

/// Parses a signed note and checks its signatures against `verifiers`, as
/// Go's `note.Open`.
///
/// Refuses malformed notes ([`NoteError::Malformed`]); ignores signatures
/// whose key name and key id match no verifier; fails if a matching key's
/// signature does not verify, or if no known key signed.
pub fn open_note(note: impl AsRef<[u8]>, verifiers: &[NoteVerifier]) -> Result<VerifiedNote, NoteError> {
    let (text, lines) = split_note(note.as_ref())?;
    let mut signatures: Vec<NoteSignature> = Vec::new();
    let mut unverified: Vec<NoteSignature> = Vec::new();
    for line in lines {
        let record = line.record();
        match find_verifier(verifiers, line.name, line.key_id)? {
            None => {
                if !unverified.contains(&record) {
                    unverified.push(record);
                }
            }
            Some(verifier) => {
                if !verifier.verifies(text.as_bytes(), &line.signature) {
                    return Err(NoteError::InvalidSignature {
                        name: line.name.to_owned(),
                        key_id: to_hex(&line.key_id),
                    });
                }
                let seen = signatures.iter().any(|s| s.name == record.name && s.key_id == record.key_id);
                if !seen {
                    signatures.push(record);
                }
            }
        }
    }
    if signatures.is_empty() {
        return Err(NoteError::NoKnownSignature {
            signed_by: unverified
                .iter()
                .map(|s| format!("{}+{}", s.name, to_hex(&s.key_id)))
                .collect::<Vec<_>>()
                .join(", "),
        });
    }
    Ok(VerifiedNote { text: text.to_owned(), signatures, unverified })
}

/// One parsed signature line.
struct SignatureLine<'a> {
    name: &'a str,
    key_id: [u8; 4],
    /// Signature bytes after the key id.
    signature: Vec<u8>,
    base64: &'a str,
}

impl SignatureLine<'_> {
    fn record(&self) -> NoteSignature {
        NoteSignature { name: self.name.to_owned(), key_id: self.key_id, base64: self.base64.to_owned() }
    }
}

/// Checks the whole note and splits it into its text and signature lines.
fn split_note(note: &[u8]) -> Result<(&str, Vec<SignatureLine<'_>>), MalformedNote> {
    let note = std::str::from_utf8(note).map_err(|e| MalformedNote::NotUtf8 { offset: e.valid_up_to() })?;
    if let Some(offset) = control_character(note) {
        return Err(MalformedNote::ControlCharacter { offset });
    }
    let split = note.rfind("\n\n").ok_or(MalformedNote::NoBlankLine)?;
    let (text, block) = (&note[..=split], &note[split + 2..]);
    let lines = block.strip_suffix('\n').ok_or(MalformedNote::NoSignatures)?;
    // At most one line past the limit is kept: a hostile note costs no memory for the rest.
    let kept: Vec<&str> = lines.split('\n').take(MAX_SIGNATURES + 1).collect();
    if kept.len() > MAX_SIGNATURES {
        return Err(MalformedNote::TooManySignatures { count: lines.split('\n').count(), limit: MAX_SIGNATURES });
    }
    let lines = kept;
    let parsed = lines
        .iter()
        .zip(1..)
        .map(|(line, number)| parse_signature_line(number, line))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((text, parsed))
}

fn parse_signature_line(number: usize, line: &str) -> Result<SignatureLine<'_>, MalformedNote> {
    let bad = |reason| MalformedNote::BadSignatureLine { number, reason };
    let rest = line.strip_prefix(SIG_PREFIX).ok_or(bad("it does not start with an em dash (U+2014) and a space"))?;
    let (name, base64) = rest.split_once(' ').unwrap_or((rest, ""));
    if !is_note_key_name(name) {
        return Err(bad("the key name is empty or has a '+' or white space"));
    }
    if base64.is_empty() {
        return Err(bad("the signature is missing"));
    }
    let bytes = BASE64.decode(base64).map_err(|_| bad("the signature is not standard base64 with padding"))?;
    if bytes.len() < 5 {
        return Err(bad("the signature is shorter than a key id and one byte"));
    }
    let (id, signature) = bytes.split_at(4);
    Ok(SignatureLine { name, key_id: [id[0], id[1], id[2], id[3]], signature: signature.to_vec(), base64 })
}

/// Byte offset of the first ASCII control character other than newline.
fn control_character(text: &str) -> Option<usize> {
    text.bytes().position(|b| b < 0x20 && b != b'\n')
}

/// The verifier with this name and key id, if any. Several with different
/// keys are an error; exact duplicates are fine.
fn find_verifier<'v>(
    verifiers: &'v [NoteVerifier],
    name: &str,
    key_id: [u8; 4],
) -> Result<Option<&'v NoteVerifier>, NoteError> {
    let mut matching = verifiers.iter().filter(|v| v.name == name && v.key_id == key_id);
    let Some(first) = matching.next() else {
        return Ok(None);
    };
    if matching.any(|other| other.public != first.public) {
        return Err(NoteError::AmbiguousVerifier { name: name.to_owned(), key_id: to_hex(&key_id) });
    }
    Ok(Some(first))
}

/// How a note breaks the signed-note format.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MalformedNote {
    /// Not UTF-8.
    #[error("it is not UTF-8 (bad byte at offset {offset})")]
    NotUtf8 {
        /// Offset of the first bad byte.
        offset: usize,
    },
    /// An ASCII control character other than newline.
    #[error("it has a control character at byte {offset} (only newlines are allowed)")]
    ControlCharacter {
        /// Its byte offset.
        offset: usize,
    },
    /// No blank line before the signatures.
    #[error("no blank line separates the text from the signatures")]
    NoBlankLine,
    /// Nothing, or no final newline, after the blank line.
    #[error("the signature block is empty or does not end with a newline")]
    NoSignatures,
    /// More signature lines than [`MAX_SIGNATURES`].
    #[error("it has {count} signature lines, more than the limit of {limit}")]
    TooManySignatures {
        /// Lines found.
        count: usize,
        /// The limit.
        limit: usize,
    },
    /// A signature line is not `— <name> <base64>`.
    #[error("signature line {number} is not \"— <key name> <base64>\": {reason}")]
    BadSignatureLine {
        /// 1-based line number within the signature block.
        number: usize,
        /// What is wrong with it.
        reason: &'static str,
    },
}

/// Why a note could not be signed or opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    /// The note breaks the format.
    #[error("malformed note: {0}")]
    Malformed(#[from] MalformedNote),
    /// A known key's signature does not verify.
    #[error(
        "signature by key {name}+{key_id} does not verify: was the note signed with a \
         different key, or changed after it was signed?"
    )]
    InvalidSignature {
        /// Key name.
        name: String,
        /// Key id, hex.
        key_id: String,
    },
    /// None of the given keys signed the note.
    #[error(
        "the note has no signature by a key you gave (it is signed by: {signed_by}); \
         check that you passed the verifier key of the log that signed it"
    )]
    NoKnownSignature {
        /// `name+keyid` of the signatures found, comma separated.
        signed_by: String,
    },
    /// Two different verifier keys share a name and key id.
    #[error(
        "two different verifier keys have the name {name} and key id {key_id}: \
         remove the wrong one"
    )]
    AmbiguousVerifier {
        /// Key name.
        name: String,
        /// Key id, hex.
        key_id: String,
    },
    /// The text to sign does not end with a newline.
    #[error("the note text must end with a newline")]
    TextNotNewlineTerminated,
    /// The text to sign has a control character.
    #[error("the note text has a control character at byte {offset} (only newlines are allowed)")]
    TextControlCharacter {
        /// Its byte offset.
        offset: usize,
    },
    /// No signer given.
    #[error("a note needs at least one signer")]
    NoSigners,
    /// Too many signers.
    #[error("{count} signers is more than the {MAX_SIGNATURES} signatures a note may carry")]
    TooManySigners {
        /// Signers given.
        count: usize,
    },
    /// The checkpoint body is invalid.
    #[error("invalid checkpoint: {0}")]
    Checkpoint(#[from] CheckpointError),
    /// The checkpoint is for another log.
    #[error("the checkpoint is for origin {found:?}, not {expected:?}: it belongs to another log or chain")]
    OriginMismatch {
        /// The origin asked for.
        expected: String,
        /// The origin in the checkpoint.
        found: String,
    },
}

// ---------------------------------------------------------------------------
// Checkpoints
// ---------------------------------------------------------------------------

/// A C2SP tlog-checkpoint body with a root hash of any length (for logs that
/// do not use SHA-256). [`Checkpoint`] is the SHA-256 form this crate signs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointBody {
    /// The log's origin line.
    pub origin: String,
    /// Tree size.
    pub size: u64,
    /// Root hash bytes.
    pub root: Vec<u8>,
    /// Extension lines (without newlines).
    pub extension_lines: Vec<String>,
}

impl CheckpointBody {
    /// Parses `<origin>\n<size>\n<base64 root>\n[<extension line>\n…]`
    /// strictly: at least three non-empty lines, the last ending in a
    /// newline; size in decimal without leading zeros; root in canonical
    /// standard base64 with padding; no control characters.
    pub fn parse(text: &str) -> Result<Self, CheckpointError> {
        let body = text.strip_suffix('\n').ok_or(CheckpointError::NotNewlineTerminated)?;
        let lines: Vec<&str> = body.split('\n').collect();
        if lines.len() < 3 {
            return Err(CheckpointError::TooFewLines { found: lines.len() });
        }
        for (line, number) in lines.iter().zip(1..) {
            check_line(line, number)?;
        }
        let root = BASE64.decode(lines[2]).map_err(|_| CheckpointError::RootBase64)?;
        Ok(Self {
            origin: lines[0].to_owned(),
            size: parse_size(lines[1])?,
            root,
            extension_lines: lines[3..].iter().map(|l| (*l).to_owned()).collect(),
        })
    }

    /// The body text, after the same checks as [`CheckpointBody::parse`].
    pub fn to_text(&self) -> Result<String, CheckpointError> {
        format_body(&self.origin, self.size, &self.root, &self.extension_lines)
    }
}

/// `<origin>\n<size>\n<base64 root>\n[<extension line>\n…]`, each line checked.
fn format_body(origin: &str, size: u64, root: &[u8], extension_lines: &[String]) -> Result<String, CheckpointError> {
    let root = BASE64.encode(root);
    let size = size.to_string();
    let fixed = [origin, &size, &root];
    let mut text = String::new();
    for (line, number) in fixed.into_iter().chain(extension_lines.iter().map(String::as_str)).zip(1..) {
        check_line(line, number)?;
        text.push_str(line);
        text.push('\n');
    }
    Ok(text)
}

fn check_line(line: &str, number: usize) -> Result<(), CheckpointError> {
    if line.is_empty() {
        return Err(CheckpointError::EmptyLine { number });
    }
    if line.bytes().any(|b| b < 0x20) {
        return Err(CheckpointError::ControlCharacter { number });
    }
    Ok(())
}

/// ASCII decimal, no sign, no leading zeros (except `0`), fits in `u64`.
fn parse_size(text: &str) -> Result<u64, CheckpointError> {
    let bad = || CheckpointError::Size { text: text.to_owned() };
    let digits_only = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
    if !digits_only || (text.len() > 1 && text.starts_with('0')) {
        return Err(bad());
    }
    text.parse().map_err(|_| bad())
}

/// A checkpoint (SPEC §5): the log `origin` had `size` events and this
/// SHA-256 Merkle `root`.
///
/// The origin should be unique to the deployment and chain, e.g.
/// `audit.example.com/default`. Extension lines are allowed but not
/// recommended (C2SP): monitors cannot audit them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's origin line.
    pub origin: String,
    /// Tree size (number of events).
    pub size: u64,
    /// Merkle root of the first `size` events (SPEC §4).
    pub root: Digest,
    /// Extension lines (without newlines).
    pub extension_lines: Vec<String>,
}

impl Checkpoint {
    /// A checkpoint without extension lines.
    pub fn new(origin: impl Into<String>, size: u64, root: Digest) -> Self {
        Self { origin: origin.into(), size, root, extension_lines: Vec::new() }
    }

    /// Parses a body as [`CheckpointBody::parse`] and requires a 32-byte root.
    pub fn parse_body(text: &str) -> Result<Self, CheckpointError> {
        Self::try_from(CheckpointBody::parse(text)?)
    }

    /// The body text `<origin>\n<size>\n<base64 root>\n[extension lines]`.
    pub fn to_body(&self) -> Result<String, CheckpointError> {
        format_body(&self.origin, self.size, &self.root, &self.extension_lines)
    }

    /// The signed note of this checkpoint.
    pub fn sign(&self, signer: &NoteSigner) -> Result<String, NoteError> {
        sign_note(&self.to_body()?, std::slice::from_ref(signer))
    }

    /// Opens a checkpoint note signed by `verifier` (other signatures, such
    /// as witness cosignatures, are ignored) and parses its body.
    ///
    /// This does not check which log it is for: compare `origin` with the one
    /// you expect, or use [`Checkpoint::verify_origin`].
    pub fn verify(note: impl AsRef<[u8]>, verifier: &NoteVerifier) -> Result<Self, NoteError> {
        let opened = open_note(note, std::slice::from_ref(verifier))?;
        Ok(Self::parse_body(opened.text())?)
    }

    /// [`Checkpoint::verify`], and the origin must be `origin`.
    pub fn verify_origin(note: impl AsRef<[u8]>, verifier: &NoteVerifier, origin: &str) -> Result<Self, NoteError> {
        let checkpoint = Self::verify(note, verifier)?;
        if checkpoint.origin != origin {
            return Err(NoteError::OriginMismatch { expected: origin.to_owned(), found: checkpoint.origin });
        }
        Ok(checkpoint)
    }
}

impl TryFrom<CheckpointBody> for Checkpoint {
    type Error = CheckpointError;
    fn try_from(body: CheckpointBody) -> Result<Self, CheckpointError> {
        let root =
            Digest::try_from(body.root.as_slice()).map_err(|_| CheckpointError::RootLength { len: body.root.len() })?;
        Ok(Self { origin: body.origin, size: body.size, root, extension_lines: body.extension_lines })
    }
}

impl From<Checkpoint> for CheckpointBody {
    fn from(checkpoint: Checkpoint) -> Self {
        Self {
            origin: checkpoint.origin,
            size: checkpoint.size,
            root: checkpoint.root.to_vec(),
            extension_lines: checkpoint.extension_lines,
        }
    }
}

/// Why a checkpoint body was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    /// The body does not end with a newline.
    #[error("the checkpoint body must end with a newline")]
    NotNewlineTerminated,
    /// Fewer than three lines.
    #[error("a checkpoint has at least 3 lines (origin, tree size, root hash), this one has {found}")]
    TooFewLines {
        /// Lines found.
        found: usize,
    },
    /// An empty line (origin, size, root or extension line).
    #[error("line {number} of the checkpoint is empty (the origin and every other line must be non-empty)")]
    EmptyLine {
        /// 1-based line number.
        number: usize,
    },
    /// A control character in a line.
    #[error("line {number} of the checkpoint has a control character")]
    ControlCharacter {
        /// 1-based line number.
        number: usize,
    },
    /// The size line is not a canonical decimal `u64`.
    #[error(
        "tree size {text:?} is not a decimal number without sign or leading zeros \
         that fits in 64 bits"
    )]
    Size {
        /// The size line.
        text: String,
    },
    /// The root line is not base64.
    #[error("the root hash line is not standard base64 with padding")]
    RootBase64,
    /// The root is not a SHA-256 hash.
    #[error("the root hash is {len} bytes, but a SHA-256 root is 32 bytes")]
    RootLength {
        /// Bytes decoded.
        len: usize,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    const PETER_SKEY: &str = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
    const PETER_VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
    const PETER_TEXT: &str = "If you think cryptography is the answer to your problem,\n\
                              then you don't know what your problem is.\n";
    const PETER_NOTE_SIG: &str = "\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";

    fn signer(name: &str) -> NoteSigner {
        NoteSigner::generate(name).expect("os randomness")
    }

    #[test]
    fn keys_round_trip_in_go_form() {
        let peter: NoteSigner = PETER_SKEY.parse().expect("valid skey");
        assert_eq!(peter.to_private_key_string(), PETER_SKEY);
        assert_eq!(peter.verifier().to_string(), PETER_VKEY);
        let v: NoteVerifier = PETER_VKEY.parse().expect("valid vkey");
        assert_eq!(v, peter.verifier());
        assert_eq!(to_hex(&v.key_id()), "c74f20a3");
        assert!(!format!("{peter:?}").contains("AYEKFALV"));

        let fresh = signer("audit.example.com/default");
        let again: NoteSigner = fresh.to_private_key_string().parse().expect("round trip");
        assert_eq!(again.verifier(), fresh.verifier());
    }

    #[test]
    fn bad_keys_are_refused_with_reasons() {
        assert_eq!(PETER_SKEY.parse::<NoteVerifier>(), Err(KeyError::PrivateKeyGiven));
        assert!(matches!(PETER_VKEY.parse::<NoteSigner>(), Err(KeyError::NotPrivateKey)));
        let wrong_id = PETER_VKEY.replace("c74f20a3", "c74f20a4");
        assert!(matches!(wrong_id.parse::<NoteVerifier>(), Err(KeyError::KeyIdMismatch { .. })));
        let short_id = PETER_VKEY.replace("c74f20a3", "c74f20a");
        assert!(matches!(short_id.parse::<NoteVerifier>(), Err(KeyError::KeyIdFormat { .. })));
        assert!(matches!("NoPlusHere".parse::<NoteVerifier>(), Err(KeyError::Format { .. })));
        let alg2 = format!("x+00000000+{}", BASE64.encode([2u8; 33]));
        assert_eq!(alg2.parse::<NoteVerifier>(), Err(KeyError::UnknownAlgorithm { alg: 2 }));
        let short = format!("x+00000000+{}", BASE64.encode([1u8; 20]));
        assert_eq!(short.parse::<NoteVerifier>(), Err(KeyError::KeyLength { len: 19 }));
        for name in ["", "a+b", "a b", "a\tb", "a\u{00a0}b", "log\u{1}", "a\u{7f}b", "a\u{85}b"] {
            assert!(matches!(NoteSigner::generate(name), Err(KeyError::InvalidName { .. })), "{name:?}");
        }
    }

    #[test]
    fn sign_then_open() {
        let s = signer("log.example/a");
        let note = sign_note("hello\n\nworld\n", std::slice::from_ref(&s)).expect("signs");
        let opened = open_note(&note, &[s.verifier()]).expect("verifies");
        assert_eq!(opened.text(), "hello\n\nworld\n");
        assert_eq!(opened.signatures().len(), 1);
        assert_eq!(opened.signatures()[0].name, "log.example/a");
        assert!(opened.unverified_signatures().is_empty());
    }

    #[test]
    fn peter_signature_is_reproduced() {
        let peter: NoteSigner = PETER_SKEY.parse().expect("valid skey");
        let note = sign_note(PETER_TEXT, &[peter]).expect("signs");
        assert_eq!(note, format!("{PETER_TEXT}\n{PETER_NOTE_SIG}"));
    }

    #[test]
    fn wrong_key_is_refused() {
        let s = signer("log.example/a");
        let impostor = signer("log.example/a"); // same name, other key: other key id
        let note = sign_note("x\n", &[impostor]).expect("signs");
        let err = open_note(&note, &[s.verifier()]).expect_err("unknown key only");
        assert!(matches!(err, NoteError::NoKnownSignature { .. }), "{err}");
        assert!(err.to_string().contains("log.example/a+"));

        // A verifier whose id collides but whose key differs: signature fails.
        let forged = NoteVerifier { key_id: s.key_id(), ..signer("log.example/a").verifier() };
        let note = sign_note("x\n", std::slice::from_ref(&s)).expect("signs");
        let err = open_note(&note, &[forged]).expect_err("bad signature");
        assert!(matches!(err, NoteError::InvalidSignature { .. }));
        assert!(err.to_string().contains("different key"));
    }

    #[test]
    fn tampered_body_is_refused() {
        let s = signer("audit.example.com/default");
        let note = Checkpoint::new("audit.example.com/default", 10, [1; 32]).sign(&s).expect("signs");
        let tampered = note.replacen("\n10\n", "\n11\n", 1);
        let err = Checkpoint::verify(&tampered, &s.verifier()).expect_err("tampered");
        assert!(matches!(err, NoteError::InvalidSignature { .. }));
    }

    #[test]
    fn checkpoint_round_trip_with_extensions_and_origin_check() {
        let s = signer("audit.example.com/default");
        let mut checkpoint = Checkpoint::new("audit.example.com/default", 0, [0; 32]);
        checkpoint.extension_lines = vec!["ext one".into()];
        let note = checkpoint.sign(&s).expect("signs");
        let back = Checkpoint::verify(&note, &s.verifier()).expect("verifies");
        assert_eq!(back, checkpoint);
        Checkpoint::verify_origin(&note, &s.verifier(), "audit.example.com/default").expect("same origin");
        assert!(matches!(
            Checkpoint::verify_origin(&note, &s.verifier(), "audit.example.com/other"),
            Err(NoteError::OriginMismatch { .. })
        ));
    }

    #[test]
    fn unsignable_input_is_refused() {
        let s = signer("a");
        let one = std::slice::from_ref(&s);
        assert_eq!(sign_note("no newline", one), Err(NoteError::TextNotNewlineTerminated));
        assert_eq!(sign_note("tab\there\n", one), Err(NoteError::TextControlCharacter { offset: 3 }));
        assert_eq!(sign_note("x\n", &[]), Err(NoteError::NoSigners));
        let bad = Checkpoint::new("two\nlines", 1, [0; 32]);
        assert_eq!(bad.sign(&s), Err(NoteError::Checkpoint(CheckpointError::ControlCharacter { number: 1 })));
        let empty = Checkpoint::new("", 1, [0; 32]);
        assert_eq!(empty.to_body(), Err(CheckpointError::EmptyLine { number: 1 }));
    }

    #[test]
    fn size_parsing_is_strict() {
        for good in ["0", "1", "18446744073709551615"] {
            assert!(parse_size(good).is_ok(), "{good}");
        }
        for bad in ["", "00", "01", "+1", "-1", " 1", "1 ", "18446744073709551616", "1e3"] {
            assert!(parse_size(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn repeated_and_duplicate_signatures() {
        let s = signer("a");
        let note = sign_note("x\n", &[s.clone(), s.clone()]).expect("signs");
        let opened = open_note(&note, &[s.verifier(), s.verifier()]).expect("duplicates ok");
        assert_eq!(opened.signatures().len(), 1);

        // A second, bad signature by the same known key is not skipped.
        let good_line = note.lines().nth(2).expect("signature line").to_owned();
        let mut bytes = BASE64.decode(good_line.rsplit(' ').next().expect("base64")).expect("base64");
        bytes[10] ^= 1;
        let bad_line = format!("{SIG_PREFIX}a {}", BASE64.encode(bytes));
        let note = format!("x\n\n{good_line}\n{bad_line}\n");
        assert!(matches!(open_note(&note, &[s.verifier()]), Err(NoteError::InvalidSignature { .. })));
    }
}

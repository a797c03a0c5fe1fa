//! [`EventHash`]: the SHA-256 of an event's canonical form, written as 64 lowercase hex digits.

use std::fmt;
use std::str::FromStr;

/// A SHA-256 digest as used for `hash` and `prev` (SPEC §1, §2).
///
/// ```
/// use audit_core::EventHash;
/// let genesis = EventHash::ZERO;
/// assert_eq!(genesis.to_string(), "0".repeat(64));
/// let parsed: EventHash = "ab".repeat(32).parse().unwrap();
/// assert_eq!(parsed.as_bytes()[0], 0xab);
/// assert!("AB".repeat(32).parse::<EventHash>().is_err(), "upper case is not the SPEC form");
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct EventHash(pub [u8; 32]);

impl EventHash {
    /// The `prev` of the first event of a chain: 64 zeros.
    pub const ZERO: EventHash = EventHash([0; 32]);

    /// The raw 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Writes the 64 lowercase hex digits into `out`.
    pub fn write_hex(&self, out: &mut Vec<u8>) {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        for byte in self.0 {
            out.push(HEX[usize::from(byte >> 4)]);
            out.push(HEX[usize::from(byte & 0xf)]);
        }
    }

    /// Parses exactly 64 lowercase hex digits.
    pub fn from_hex(hex: &[u8]) -> Option<EventHash> {
        if hex.len() != 64 {
            return None;
        }
        let mut bytes = [0u8; 32];
        let mut invalid = 0u8;
        for (byte, pair) in bytes.iter_mut().zip(hex.chunks_exact(2)) {
            let (high, low) = (HEX_VALUE[usize::from(pair[0])], HEX_VALUE[usize::from(pair[1])]);
            invalid |= (high | low) & 0x80;
            *byte = (high << 4) | (low & 0x0f);
        }
        (invalid == 0).then_some(EventHash(bytes))
    }
}

/// The value of each lowercase hex digit; 0x80 marks every other byte.
const HEX_VALUE: [u8; 256] = {
    let mut table = [0x80u8; 256];
    let mut i = 0;
    while i < 10 {
        table[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        table[b'a' as usize + i] = 10 + i as u8;
        i += 1;
    }
    table
};

/// The value of one lowercase hex digit.
#[inline]
pub(crate) fn lower_hex_digit(c: u8) -> Option<u8> {
    let value = HEX_VALUE[usize::from(c)];
    (value < 0x80).then_some(value)
}

impl fmt::Display for EventHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = Vec::with_capacity(64);
        self.write_hex(&mut out);
        f.write_str(std::str::from_utf8(&out).map_err(|_| fmt::Error)?)
    }
}

impl fmt::Debug for EventHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EventHash({self})")
    }
}

/// The error of parsing an [`EventHash`].
#[derive(Debug, thiserror::Error)]
#[error("not a SHA-256 hash: expected 64 lowercase hex digits, got {0:?}")]
pub struct ParseHashError(String);

impl FromStr for EventHash {
    type Err = ParseHashError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        EventHash::from_hex(s.as_bytes()).ok_or_else(|| ParseHashError(s.chars().take(80).collect()))
    }
}

impl serde::Serialize for EventHash {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for EventHash {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

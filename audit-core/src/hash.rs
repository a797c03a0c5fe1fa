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
        out.extend_from_slice(&self.hex_digits());
    }

    /// The 64 lowercase hex digits.
    pub(crate) fn hex_digits(&self) -> [u8; 64] {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut digits = [0u8; 64];
        for (pair, byte) in digits.chunks_exact_mut(2).zip(self.0) {
            pair[0] = HEX[usize::from(byte >> 4)];
            pair[1] = HEX[usize::from(byte & 0xf)];
        }
        digits
    }

    /// Parses exactly 64 lowercase hex digits.
    pub fn from_hex(hex: &[u8]) -> Option<EventHash> {
        let hex: &[u8; 64] = hex.try_into().ok()?;
        let mut bytes = [0u8; 32];
        let mut invalid = 0;
        for (k, out) in bytes.chunks_exact_mut(4).enumerate() {
            let (value, bad) = hex_word(word(hex, 8 * k));
            invalid |= bad;
            out.copy_from_slice(&value.to_le_bytes());
        }
        (invalid == 0).then_some(EventHash(bytes))
    }
}

/// The 8 bytes of `bytes` at `at` as a little-endian word (the first byte lowest).
#[inline]
pub(crate) fn word(bytes: &[u8], at: usize) -> u64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(word)
}

/// Decodes 8 lowercase hex digits (a little-endian word: the first digit in the lowest byte)
/// into 4 bytes (the first byte lowest), and a mask that is not zero if any byte is not a
/// lowercase hex digit (then the value means nothing).
///
/// SWAR: every byte is checked and converted at once. When no byte has its high bit set,
/// adding a constant of at most 0x80 to a byte never carries into the next one, so the high
/// bit of `w + (0x80 - lo)` says "byte ≥ lo" and that of `w + (0x7f - hi)` says "byte > hi".
#[inline]
pub(crate) fn hex_word(w: u64) -> (u32, u64) {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = ONES * 0x80;
    let in_range = |lo: u64, hi: u64| w.wrapping_add(ONES * (0x80 - lo)) & !w.wrapping_add(ONES * (0x7f - hi)) & HIGHS;
    let letters = in_range(u64::from(b'a'), u64::from(b'f'));
    let invalid = (w & HIGHS) | (!(in_range(u64::from(b'0'), u64::from(b'9')) | letters) & HIGHS);
    // '0'..='9' end in 0..=9, 'a'..='f' in 1..=6: add 9 to letters.
    let nibbles = (w & (ONES * 0x0f)).wrapping_add((letters >> 7) * 9);
    // Even bytes: (digit k << 4) | digit k+1; then gather the even bytes into the low half.
    let pairs = ((nibbles << 4) | (nibbles >> 8)) & 0x00ff_00ff_00ff_00ff;
    let quads = (pairs | (pairs >> 8)) & 0x0000_ffff_0000_ffff;
    ((quads | (quads >> 16)) as u32, invalid)
}

/// Parses a lowercase hyphenated UUID (`8-4-4-4-12` hex digits) into its 128-bit value.
#[inline]
pub(crate) fn parse_uuid(text: &[u8]) -> Option<u128> {
    let text: &[u8; 36] = text.try_into().ok()?;
    if [text[8], text[13], text[18], text[23]] != [b'-'; 4] {
        return None;
    }
    // The 32 digits as four words of eight.
    let half = |at: usize| u64::from(u32::from_le_bytes([text[at], text[at + 1], text[at + 2], text[at + 3]]));
    let words = [word(text, 0), half(9) | (half(14) << 32), half(19) | (half(24) << 32), word(text, 28)];
    let mut id = 0u128;
    let mut invalid = 0;
    for w in words {
        let (value, bad) = hex_word(w);
        id = (id << 32) | u128::from(value.swap_bytes());
        invalid |= bad;
    }
    (invalid == 0).then_some(id)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// One digit at a time, as a reference for the SWAR decoding.
    fn plain_hex(hex: &[u8]) -> Option<Vec<u8>> {
        let digit = |c: u8| match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        };
        hex.chunks(2).map(|pair| Some((digit(pair[0])? << 4) | digit(*pair.get(1)?)?)).collect()
    }

    #[test]
    fn hex_decoding_agrees_with_a_digit_by_digit_reference_for_every_byte_anywhere() {
        let good: Vec<u8> = (0..64usize).map(|i| b"0123456789abcdef"[i * 7 % 16]).collect();
        assert_eq!(EventHash::from_hex(&good).map(|h| h.0.to_vec()), plain_hex(&good));
        for at in 0..64 {
            for byte in 0..=255u8 {
                let mut hex = good.clone();
                hex[at] = byte;
                assert_eq!(EventHash::from_hex(&hex).map(|h| h.0.to_vec()), plain_hex(&hex), "{byte:#x} at {at}");
            }
        }
        assert!(EventHash::from_hex(&good[..63]).is_none());
    }

    #[test]
    fn uuids_agree_with_a_digit_by_digit_reference_for_every_byte_anywhere() {
        let good = *b"0192f0c1-7b6e-7cc0-8a5e-3f1d2b4c6e8f";
        let reference = |text: &[u8]| -> Option<u128> {
            let hyphens = [8, 13, 18, 23].iter().all(|&i| text[i] == b'-');
            let digits: Vec<u8> =
                text.iter().enumerate().filter(|(i, _)| ![8, 13, 18, 23].contains(i)).map(|(_, &c)| c).collect();
            let bytes = plain_hex(&digits)?;
            hyphens.then(|| bytes.iter().fold(0u128, |id, &b| (id << 8) | u128::from(b)))
        };
        assert_eq!(parse_uuid(&good), Some(0x0192f0c1_7b6e_7cc0_8a5e_3f1d2b4c6e8f));
        for at in 0..36 {
            for byte in 0..=255u8 {
                let mut text = good;
                text[at] = byte;
                assert_eq!(parse_uuid(&text), reference(&text), "{byte:#x} at {at}");
            }
        }
        assert!(parse_uuid(&good[..35]).is_none());
    }
}

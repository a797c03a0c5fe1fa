//! [`Timestamp`]: UTC time with microsecond precision, written exactly as SPEC §1 says.

use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Timelike, Utc};
use std::fmt;
use std::str::FromStr;

/// An event time: UTC, microseconds, formatted `2026-11-23T10:15:30.123456Z`.
///
/// ```
/// use audit_core::Timestamp;
/// let ts: Timestamp = "2026-11-23T10:15:30.123456Z".parse().unwrap();
/// assert_eq!(ts.to_string(), "2026-11-23T10:15:30.123456Z");
/// assert!("2026-11-23T10:15:30Z".parse::<Timestamp>().is_err(), "6 fractional digits are required");
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(DateTime<Utc>);

impl Timestamp {
    /// The current time, truncated to microseconds.
    pub fn now() -> Timestamp {
        Timestamp::from_datetime(Utc::now())
    }

    /// `time` truncated to microseconds.
    pub fn from_datetime(time: DateTime<Utc>) -> Timestamp {
        let micros = time.timestamp_micros();
        Timestamp(DateTime::from_timestamp_micros(micros).unwrap_or(time))
    }

    /// Microseconds since the Unix epoch.
    pub fn unix_micros(&self) -> i64 {
        self.0.timestamp_micros()
    }

    /// The time from microseconds since the Unix epoch, if in chrono's range.
    pub fn from_unix_micros(micros: i64) -> Option<Timestamp> {
        DateTime::from_timestamp_micros(micros).map(Timestamp)
    }

    /// True when the year is one SPEC §1 can write (0000 to 9999, four digits).
    pub fn has_spec_year(&self) -> bool {
        (0..=9999).contains(&self.0.year())
    }

    /// True for a time within a leap second (`23:59:60`, which [`Timestamp::parse_bytes`]
    /// reads from lines other writers wrote).
    pub fn is_leap_second(&self) -> bool {
        self.0.nanosecond() >= 1_000_000_000
    }

    /// The time as a chrono value.
    pub fn as_datetime(&self) -> DateTime<Utc> {
        self.0
    }

    /// Appends the SPEC form (27 ASCII bytes) to `out`.
    pub fn write(&self, out: &mut Vec<u8>) {
        let t = self.0;
        let year = t.year();
        if !(0..=9999).contains(&year) {
            // Outside the four-digit years SPEC allows; chrono's own form keeps it readable.
            out.extend_from_slice(t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string().as_bytes());
            return;
        }
        let put = |out: &mut Vec<u8>, value: u32, width: usize| {
            let mut digits = [b'0'; 6];
            let mut v = value;
            for slot in digits[..width].iter_mut().rev() {
                *slot = b'0' + (v % 10) as u8;
                v /= 10;
            }
            out.extend_from_slice(&digits[..width]);
        };
        put(out, year as u32, 4);
        out.push(b'-');
        put(out, t.month(), 2);
        out.push(b'-');
        put(out, t.day(), 2);
        out.push(b'T');
        put(out, t.hour(), 2);
        out.push(b':');
        put(out, t.minute(), 2);
        out.push(b':');
        // chrono keeps a leap second as second 59 with a nanosecond of a second or more.
        put(out, t.second() + u32::from(t.nanosecond() >= 1_000_000_000), 2);
        out.push(b'.');
        put(out, t.nanosecond() / 1000 % 1_000_000, 6);
        out.push(b'Z');
    }

    /// True when `s` is exactly `YYYY-MM-DDTHH:MM:SS.ffffffZ` with a valid calendar date and
    /// time: what [`Timestamp::parse_bytes`] accepts, checked without building the time (the
    /// verifier checks every line's `ts`).
    pub(crate) fn is_spec_form(s: &[u8]) -> bool {
        let Ok(s) = <&[u8; 27]>::try_from(s) else { return false };
        const PATTERN: &[u8; 27] = b"0000-00-00T00:00:00.000000Z";
        let mut form = true;
        for (&c, &p) in s.iter().zip(PATTERN) {
            form &= if p == b'0' { c.is_ascii_digit() } else { c == p };
        }
        if !form {
            return false;
        }
        let num = |at: usize, len: usize| s[at..at + len].iter().fold(0u32, |n, &c| n * 10 + u32::from(c - b'0'));
        let (year, month, day) = (num(0, 4), num(5, 2), num(8, 2));
        let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
        let days = match month {
            2 if leap => 29,
            2 => 28,
            4 | 6 | 9 | 11 => 30,
            _ => 31,
        };
        let (hour, minute, second) = (num(11, 2), num(14, 2), num(17, 2));
        (1..=12).contains(&month)
            && (1..=days).contains(&day)
            && hour < 24
            && minute < 60
            && (second < 60 || is_leap_second(hour, minute, second))
    }

    /// Parses exactly `YYYY-MM-DDTHH:MM:SS.ffffffZ` with a valid calendar date. Second 60 is
    /// read at `23:59` (a leap second, as RFC 3339 allows in UTC), on any day: which days had one
    /// is a table this reader does not keep.
    pub fn parse_bytes(s: &[u8]) -> Option<Timestamp> {
        if s.len() != 27 {
            return None;
        }
        let punct = [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':'), (19, b'.'), (26, b'Z')];
        if punct.iter().any(|&(i, c)| s[i] != c) {
            return None;
        }
        let num = |range: std::ops::Range<usize>| -> Option<u32> {
            s[range].iter().try_fold(0u32, |acc, &c| c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0')))
        };
        let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
        let (hour, minute, second, micros) = (num(11..13)?, num(14..16)?, num(17..19)?, num(20..26)?);
        let date = NaiveDate::from_ymd_opt(i32::try_from(year).ok()?, month, day)?;
        let time = if is_leap_second(hour, minute, second) {
            date.and_hms_micro_opt(hour, minute, 59, 1_000_000 + micros)?
        } else {
            date.and_hms_micro_opt(hour, minute, second, micros)?
        };
        Some(Timestamp(Utc.from_utc_datetime(&time)))
    }
}

/// `23:59:60`: a positive leap second in UTC (RFC 3339 §5.7).
fn is_leap_second(hour: u32, minute: u32, second: u32) -> bool {
    (hour, minute, second) == (23, 59, 60)
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = Vec::with_capacity(27);
        self.write(&mut out);
        f.write_str(std::str::from_utf8(&out).map_err(|_| fmt::Error)?)
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Timestamp({self})")
    }
}

/// The error of parsing a [`Timestamp`].
#[derive(Debug, thiserror::Error)]
#[error("not a SPEC timestamp: expected UTC like 2026-11-23T10:15:30.123456Z (6 fractional digits, Z), got {0:?}")]
pub struct ParseTimestampError(String);

impl FromStr for Timestamp {
    type Err = ParseTimestampError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Timestamp::parse_bytes(s.as_bytes()).ok_or_else(|| ParseTimestampError(s.chars().take(40).collect()))
    }
}

impl From<DateTime<Utc>> for Timestamp {
    fn from(time: DateTime<Utc>) -> Self {
        Timestamp::from_datetime(time)
    }
}

impl serde::Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Timestamp {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_bad_dates() {
        for good in ["2026-02-28T23:59:59.999999Z", "2024-02-29T00:00:00.000000Z", "0001-01-01T00:00:00.000001Z"] {
            assert_eq!(good.parse::<Timestamp>().map(|t| t.to_string()).ok().as_deref(), Some(good));
        }
        for bad in [
            "2026-02-29T00:00:00.000000Z",
            "2026-13-01T00:00:00.000000Z",
            "2026-01-01T24:00:00.000000Z",
            "2026-01-01 00:00:00.000000Z",
            "2026-01-01T00:00:00.000000+00:00",
            "2026-01-01T00:00:00.0000000Z",
        ] {
            assert!(bad.parse::<Timestamp>().is_err(), "{bad}");
        }
    }

    #[test]
    fn a_leap_second_is_read_and_written_back_in_order() {
        let leap: Timestamp = "2016-12-31T23:59:60.500000Z".parse().expect("RFC 3339 allows second 60");
        assert_eq!(leap.to_string(), "2016-12-31T23:59:60.500000Z");
        let before: Timestamp = "2016-12-31T23:59:59.999999Z".parse().expect("valid");
        let after: Timestamp = "2017-01-01T00:00:00.000000Z".parse().expect("valid");
        assert!(before < leap && leap < after);
        for bad in ["2016-12-31T23:58:60.000000Z", "2016-12-31T12:59:60.000000Z", "2016-12-31T23:59:61.000000Z"] {
            assert!(bad.parse::<Timestamp>().is_err(), "{bad}");
        }
    }

    #[test]
    fn the_quick_form_check_agrees_with_parsing() {
        let mut cases: Vec<String> = Vec::new();
        for year in [0, 1, 1900, 2000, 2023, 2024, 2100, 2400, 9999] {
            for month in 0..=13 {
                for day in [0, 1, 28, 29, 30, 31, 32] {
                    cases.push(format!("{year:04}-{month:02}-{day:02}T12:30:45.123456Z"));
                }
            }
        }
        for (hour, minute, second) in [
            (0, 0, 0),
            (23, 59, 59),
            (24, 0, 0),
            (0, 60, 0),
            (0, 0, 60),
            (99, 99, 99),
            (23, 59, 60),
            (23, 58, 60),
            (23, 59, 61),
        ] {
            cases.push(format!("2026-01-01T{hour:02}:{minute:02}:{second:02}.000000Z"));
        }
        let good = "2026-11-23T10:15:30.123456Z";
        for at in 0..good.len() {
            for c in [b'0', b'9', b'a', b'-', b':', b'T', b'Z', b'.', b' ', b'/', 0xff] {
                let mut bytes = good.as_bytes().to_vec();
                bytes[at] = c;
                cases.push(String::from_utf8_lossy(&bytes).into_owned());
            }
        }
        cases.extend(["".into(), good[..26].to_string(), format!("{good}Z")]);
        for case in cases {
            let bytes = case.as_bytes();
            assert_eq!(Timestamp::is_spec_form(bytes), Timestamp::parse_bytes(bytes).is_some(), "{case}");
        }
    }

    #[test]
    fn now_has_microsecond_precision() {
        let now = Timestamp::now();
        assert_eq!(now.as_datetime().timestamp_subsec_nanos() % 1000, 0);
    }
}

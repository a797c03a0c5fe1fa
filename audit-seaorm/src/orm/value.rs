//! Lossless conversion of SeaORM values to JSON for audit diffs.
//!
//! SeaORM's own conversion (`sea_query::sea_value_to_json_value`) is not fit for an audit
//! trail: decimals become floats (precision lost), chrono values come out with SQL quotes,
//! and non-UTF-8 bytes panic. [`value_to_json`] never panics and keeps every value exactly:
//!
//! | SeaORM value | JSON |
//! |---|---|
//! | SQL `NULL` (any `None`) | `null` |
//! | `Bool` | `true` / `false` |
//! | integers up to ±2^53 (`TinyInt` … `BigUnsigned`) | number |
//! | `BigInt` / `BigUnsigned` beyond ±2^53 | string of digits (a JSON number would be rounded by many readers) |
//! | `Float` / `Double` | number (an `f32` by its shortest decimal form, so `0.1f32` is `0.1`); NaN, ±infinity as `"NaN"`, `"Infinity"`, `"-Infinity"` |
//! | `Decimal` | string with its scale kept (`"12.50"`) |
//! | `BigDecimal` (feature `with-bigdecimal`) | plain decimal string with its scale kept, never an exponent: `"12.50"`, `1E+3` → `"1000"`, `1.0E-7` → `"0.00000010"` (see below for beyond PostgreSQL's range) |
//! | `String`, `Char` | string |
//! | enum (`Enum`) | its database value as a string |
//! | `Bytes` | standard base64 with padding |
//! | `Json` | the JSON itself |
//! | `ChronoDate` / `ChronoTime` / `ChronoDateTime` | ISO 8601 (`2026-11-23`, `10:15:30.123456`, `2026-11-23T10:15:30.123456`), no zone |
//! | `ChronoDateTimeUtc` / `Local` / `WithTimeZone` | RFC 3339 with its offset (`Z` for UTC) |
//! | `TimeDate` / `TimeTime` / `TimeDateTime` (feature `with-time`) | the same text as the chrono value of the same date and time |
//! | `TimeDateTimeWithTimeZone` (feature `with-time`) | the same text as `ChronoDateTimeWithTimeZone`: RFC 3339 with its offset, `Z` for UTC |
//! | `Uuid` | lowercase hyphenated string |
//! | `Array` (PostgreSQL arrays) | array of its elements, each converted by this table (nested arrays nested); a `NULL` array is `null`, a `NULL` element `null` |
//! | `IpNetwork` (feature `with-ipnetwork`) | address and prefix length (`"10.0.0.0/8"`, `"192.168.1.5/32"`, `"2001:db8::/32"`) |
//! | `MacAddress` (feature `with-mac_address`) | lowercase, colon-separated, as PostgreSQL writes a `macaddr` (`"08:00:2b:01:02:ff"`) |
//! | `Vector` (feature `postgres-vector`) | array of numbers, each an `f32` as `Float` |
//!
//! Dates and times, chrono's or the `time` crate's, are written alike, so a column's audit values
//! do not change when an application moves from one crate to the other: a year outside
//! 0000–9999 has a sign and at least four digits (`-0001`, `+10000`); seconds have no fraction
//! when they are whole, else 3, 6 or 9 digits, the fewest that keep it (chrono's `%.f` and
//! `SecondsFormat::AutoSi`: `.500`, `.123456`, `.000000001`); an offset is `±HH:MM`, rounded to
//! the nearest minute if it has seconds, and `Z` when it is zero.
//!
//! A `BigDecimal` whose plain form would need more than 131,072 added zeros (beyond anything a
//! PostgreSQL `numeric` holds: 131,072 digits before the point, 16,383 after) is written in
//! scientific notation instead, still with every digit: `1.0e+200000` (a digit, the others after
//! the point, and a signed exponent), so a forged or corrupt value cannot make the conversion
//! allocate without bound.
//!
//! `Array` is always present: this crate is built with `sqlx-postgres`, which enables sea-orm's
//! `postgres-array`. The variants marked with a feature exist only when the application enables
//! the sea-orm feature of that name (`with-time` is one of sea-orm's default features); enable
//! this crate's feature of the same name too, or their values are converted by the rule below.
//!
//! Any other variant (that of a sea-orm feature whose audit-seaorm feature is off, or of a
//! sea-query feature sea-orm does not expose, such as `with-jiff` or `postgres-range`) is kept
//! as its Rust debug text (`"Variant(Some(…))"`) rather than dropped; its `NULL`, debug text
//! `Variant(None)`, is `null`.

use base64::Engine as _;
use chrono::SecondsFormat;
use sea_orm::Value;
use sea_orm::sea_query::OptionEnum;
use serde_json::Value as Json;

/// The largest integer a JSON reader using doubles keeps exactly (2^53).
const MAX_SAFE_INTEGER: u64 = 1 << 53;

/// Converts a SeaORM value to JSON without loss and without panicking (see the module table).
pub fn value_to_json(value: &Value) -> Json {
    match value {
        Value::Bool(v) => v.map_or(Json::Null, Json::Bool),
        Value::TinyInt(v) => v.map_or(Json::Null, Json::from),
        Value::SmallInt(v) => v.map_or(Json::Null, Json::from),
        Value::Int(v) => v.map_or(Json::Null, Json::from),
        Value::BigInt(v) => v.map_or(Json::Null, |v| {
            if v.unsigned_abs() <= MAX_SAFE_INTEGER { Json::from(v) } else { Json::String(v.to_string()) }
        }),
        Value::TinyUnsigned(v) => v.map_or(Json::Null, Json::from),
        Value::SmallUnsigned(v) => v.map_or(Json::Null, Json::from),
        Value::Unsigned(v) => v.map_or(Json::Null, Json::from),
        Value::BigUnsigned(v) => {
            v.map_or(Json::Null, |v| if v <= MAX_SAFE_INTEGER { Json::from(v) } else { Json::String(v.to_string()) })
        }
        Value::Float(v) => v.map_or(Json::Null, float32),
        Value::Double(v) => v.map_or(Json::Null, float),
        Value::String(v) => v.as_ref().map_or(Json::Null, |s| Json::String(s.clone())),
        Value::Char(v) => v.map_or(Json::Null, |c| Json::String(c.to_string())),
        Value::Enum(OptionEnum::Some(e)) => Json::String(e.value.to_string()),
        Value::Enum(OptionEnum::None(_)) => Json::Null,
        Value::Bytes(v) => {
            v.as_ref().map_or(Json::Null, |b| Json::String(base64::engine::general_purpose::STANDARD.encode(b)))
        }
        Value::Json(v) => v.as_ref().map_or(Json::Null, |j| (**j).clone()),
        Value::ChronoDate(v) => v.map_or(Json::Null, |d| Json::String(d.format("%Y-%m-%d").to_string())),
        Value::ChronoTime(v) => v.map_or(Json::Null, |t| Json::String(t.format("%H:%M:%S%.f").to_string())),
        Value::ChronoDateTime(v) => {
            v.map_or(Json::Null, |t| Json::String(t.format("%Y-%m-%dT%H:%M:%S%.f").to_string()))
        }
        Value::ChronoDateTimeUtc(v) => {
            v.map_or(Json::Null, |t| Json::String(t.to_rfc3339_opts(SecondsFormat::AutoSi, true)))
        }
        Value::ChronoDateTimeLocal(v) => {
            v.map_or(Json::Null, |t| Json::String(t.to_rfc3339_opts(SecondsFormat::AutoSi, true)))
        }
        Value::ChronoDateTimeWithTimeZone(v) => {
            v.map_or(Json::Null, |t| Json::String(t.to_rfc3339_opts(SecondsFormat::AutoSi, true)))
        }
        Value::Uuid(v) => v.map_or(Json::Null, |u| Json::String(u.hyphenated().to_string())),
        Value::Decimal(v) => v.map_or(Json::Null, |d| Json::String(d.to_string())),
        #[cfg(feature = "with-time")]
        Value::TimeDate(v) => v.as_ref().map_or(Json::Null, |d| Json::String(time_date(d))),
        #[cfg(feature = "with-time")]
        Value::TimeTime(v) => v.as_ref().map_or(Json::Null, |t| Json::String(time_time(t))),
        #[cfg(feature = "with-time")]
        Value::TimeDateTime(v) => v
            .as_ref()
            .map_or(Json::Null, |t| Json::String(format!("{}T{}", time_date(&t.date()), time_time(&t.time())))),
        #[cfg(feature = "with-time")]
        Value::TimeDateTimeWithTimeZone(v) => v.as_ref().map_or(Json::Null, |t| {
            let offset = rfc3339_offset(t.offset().whole_seconds());
            Json::String(format!("{}T{}{offset}", time_date(&t.date()), time_time(&t.time())))
        }),
        #[cfg(feature = "with-bigdecimal")]
        Value::BigDecimal(v) => v.as_ref().map_or(Json::Null, |d| Json::String(big_decimal(d))),
        Value::Array(_, v) => {
            v.as_ref().map_or(Json::Null, |items| Json::Array(items.iter().map(value_to_json).collect()))
        }
        #[cfg(feature = "postgres-vector")]
        Value::Vector(v) => {
            v.as_ref().map_or(Json::Null, |v| Json::Array(v.as_slice().iter().copied().map(float32).collect()))
        }
        #[cfg(feature = "with-ipnetwork")]
        Value::IpNetwork(v) => v.as_ref().map_or(Json::Null, |n| Json::String(n.to_string())),
        #[cfg(feature = "with-mac_address")]
        Value::MacAddress(v) => v.map_or(Json::Null, |m| {
            let [a, b, c, d, e, f] = m.bytes();
            Json::String(format!("{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{f:02x}"))
        }),
        // A variant of a sea-query feature this crate does not convert (see the module doc).
        #[allow(unreachable_patterns)]
        other => debug_text(format!("{other:?}")),
    }
}

/// The debug text of a value this crate does not convert, and `null` for its NULL (debug text
/// `Variant(None)`; a `None` nested deeper is part of a value).
fn debug_text(text: String) -> Json {
    let is_null = text
        .strip_suffix("(None)")
        .is_some_and(|name| !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
    if is_null { Json::Null } else { Json::String(text) }
}

/// `YYYY-MM-DD` as chrono's `%Y-%m-%d` writes it: a year outside 0000–9999 gets a sign.
#[cfg(feature = "with-time")]
fn time_date(d: &time::Date) -> String {
    let (year, month, day) = (d.year(), u8::from(d.month()), d.day());
    if (0..=9999).contains(&year) {
        format!("{year:04}-{month:02}-{day:02}")
    } else {
        format!("{year:+05}-{month:02}-{day:02}")
    }
}

/// `HH:MM:SS[.fff[fff[fff]]]` as chrono's `%H:%M:%S%.f` (and RFC 3339 with `AutoSi`) writes it.
#[cfg(feature = "with-time")]
fn time_time(t: &time::Time) -> String {
    let (hour, minute, second, nanos) = (t.hour(), t.minute(), t.second(), t.nanosecond());
    let fraction = if nanos == 0 {
        String::new()
    } else if nanos % 1_000_000 == 0 {
        format!(".{:03}", nanos / 1_000_000)
    } else if nanos % 1_000 == 0 {
        format!(".{:06}", nanos / 1_000)
    } else {
        format!(".{nanos:09}")
    };
    format!("{hour:02}:{minute:02}:{second:02}{fraction}")
}

/// An RFC 3339 offset as chrono's `to_rfc3339_opts(_, true)` writes it: `Z` for zero, else
/// `±HH:MM` with seconds rounded to the nearest minute.
#[cfg(feature = "with-time")]
fn rfc3339_offset(seconds: i32) -> String {
    if seconds == 0 {
        return "Z".into();
    }
    let sign = if seconds < 0 { '-' } else { '+' };
    let minutes = (seconds.unsigned_abs() + 30) / 60;
    format!("{sign}{:02}:{:02}", minutes / 60, minutes % 60)
}

/// The most zeros the plain form of a `BigDecimal` may add to its digits: PostgreSQL's
/// `numeric` holds up to 131,072 digits before the point and 16,383 after.
#[cfg(feature = "with-bigdecimal")]
const MAX_PLAIN_DECIMAL_ZEROS: u64 = 131_072;

/// A `BigDecimal` with every digit and its scale (`12.50`, `0.00000010`, `1000` for `1E+3`),
/// in scientific notation (`1.0e+200000`) only past [`MAX_PLAIN_DECIMAL_ZEROS`]. Not its
/// `Display`, which writes `1.0E-7` past 5 zeros after the point (thresholds that environment
/// variables can change when bigdecimal is built), nor `to_plain_string`, which would try to
/// allocate whatever size the exponent asks for.
#[cfg(feature = "with-bigdecimal")]
fn big_decimal(d: &bigdecimal::BigDecimal) -> String {
    let (int, scale) = d.as_bigint_and_exponent();
    let text = int.to_string();
    let (sign, digits) = match text.strip_prefix('-') {
        Some(digits) => ("-", digits),
        None => ("", text.as_str()),
    };
    if digits == "0" && scale <= 0 {
        return "0".into();
    }
    let len = digits.len() as u64;
    // Zeros the plain form adds: after the digits, or between the point and the digits.
    let zeros = match u64::try_from(scale) {
        Err(_) | Ok(0) => scale.unsigned_abs(),
        Ok(scale) if scale < len => 0,
        Ok(scale) => scale - len + 1,
    };
    if zeros > MAX_PLAIN_DECIMAL_ZEROS {
        let exponent = i128::from(len) - 1 - i128::from(scale);
        let (first, rest) = digits.split_at(1);
        let point = if rest.is_empty() { "" } else { "." };
        return format!("{sign}{first}{point}{rest}e{exponent:+}");
    }
    match usize::try_from(scale) {
        // scale <= 0: an integer, with -scale zeros after the digits.
        Err(_) | Ok(0) => format!("{sign}{digits}{}", "0".repeat(zeros as usize)),
        Ok(scale) if scale < digits.len() => {
            let (integer, fraction) = digits.split_at(digits.len() - scale);
            format!("{sign}{integer}.{fraction}")
        }
        Ok(_) => format!("{sign}0.{}{digits}", "0".repeat(zeros as usize - 1)),
    }
}

/// An `f32` as the shortest decimal that reads back as it, read as an `f64`: `0.1f32` is `0.1`.
fn float32(v: f32) -> Json {
    float(v.to_string().parse::<f64>().unwrap_or(f64::from(v)))
}

fn float(v: f64) -> Json {
    if v.is_nan() {
        Json::String("NaN".into())
    } else if v.is_infinite() {
        Json::String(if v > 0.0 { "Infinity" } else { "-Infinity" }.into())
    } else {
        serde_json::Number::from_f64(v).map_or_else(|| Json::String(v.to_string()), Json::Number)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{FixedOffset, NaiveDate, TimeZone, Utc};
    use rust_decimal::Decimal;
    use sea_orm::sea_query::{Enum, EnumTypeName};
    use serde_json::json;
    use std::str::FromStr;

    #[test]
    fn every_variant() {
        let date = NaiveDate::from_ymd_opt(2026, 11, 23).unwrap_or_default();
        let time = chrono::NaiveTime::from_hms_micro_opt(10, 15, 30, 123_456).unwrap_or_default();
        let cases: Vec<(Value, Json)> = vec![
            (Value::Bool(Some(true)), json!(true)),
            (Value::Bool(None), Json::Null),
            (Value::TinyInt(Some(-8)), json!(-8)),
            (Value::SmallInt(Some(-300)), json!(-300)),
            (Value::Int(Some(i32::MIN)), json!(i32::MIN)),
            (Value::BigInt(Some(1 << 53)), json!(1u64 << 53)),
            (Value::BigInt(Some(-(1 << 53))), json!(-(1i64 << 53))),
            (Value::BigInt(Some((1 << 53) + 1)), json!("9007199254740993")),
            (Value::BigInt(Some(i64::MIN)), json!("-9223372036854775808")),
            (Value::TinyUnsigned(Some(255)), json!(255)),
            (Value::SmallUnsigned(Some(65535)), json!(65535)),
            (Value::Unsigned(Some(u32::MAX)), json!(u32::MAX)),
            (Value::BigUnsigned(Some(u64::MAX)), json!("18446744073709551615")),
            (Value::Float(Some(0.1)), json!(0.1)),
            (Value::Float(Some(f32::NAN)), json!("NaN")),
            (Value::Double(Some(f64::INFINITY)), json!("Infinity")),
            (Value::Double(Some(f64::NEG_INFINITY)), json!("-Infinity")),
            (Value::Double(Some(1.5e300)), json!(1.5e300)),
            (Value::String(Some("ü \"q\"".into())), json!("ü \"q\"")),
            (Value::Char(Some('x')), json!("x")),
            (Value::Bytes(Some(vec![0xff, 0x00, 0xfe])), json!("/wD+")),
            (Value::Json(Some(Box::new(json!({"a": [1, null]})))), json!({"a": [1, null]})),
            (Value::ChronoDate(Some(date)), json!("2026-11-23")),
            (Value::ChronoTime(Some(time)), json!("10:15:30.123456")),
            (Value::ChronoDateTime(Some(date.and_time(time))), json!("2026-11-23T10:15:30.123456")),
            (
                Value::ChronoDateTimeUtc(Some(Utc.from_utc_datetime(&date.and_time(time)))),
                json!("2026-11-23T10:15:30.123456Z"),
            ),
            (
                Value::ChronoDateTimeWithTimeZone(
                    FixedOffset::east_opt(3600).and_then(|o| o.from_local_datetime(&date.and_time(time)).single()),
                ),
                json!("2026-11-23T10:15:30.123456+01:00"),
            ),
            (Value::Uuid(Some(uuid::Uuid::nil())), json!("00000000-0000-0000-0000-000000000000")),
            (Value::Decimal(Decimal::from_str("12.50").ok()), json!("12.50")),
            (
                Value::Decimal(Decimal::from_str("79228162514264337593543950335").ok()),
                json!("79228162514264337593543950335"),
            ),
            (
                Value::Enum(OptionEnum::Some(Box::new(Enum {
                    type_name: EnumTypeName::from("mood"),
                    value: "happy".into(),
                }))),
                json!("happy"),
            ),
            (Value::Enum(OptionEnum::None(EnumTypeName::from("mood"))), Json::Null),
            (Value::Uuid(None), Json::Null),
            (Value::Decimal(None), Json::Null),
        ];
        for (value, expected) in cases {
            assert_eq!(value_to_json(&value), expected, "{value:?}");
        }
    }

    #[test]
    fn postgres_arrays() {
        use sea_orm::sea_query::ArrayType;
        let array = |ty: ArrayType, items: Vec<Value>| Value::Array(ty, Some(Box::new(items)));
        let cases: Vec<(Value, Json)> = vec![
            (Value::Array(ArrayType::Int, None), Json::Null),
            (array(ArrayType::Int, vec![]), json!([])),
            (
                array(ArrayType::Int, vec![Value::Int(Some(1)), Value::Int(None), Value::Int(Some(-3))]),
                json!([1, null, -3]),
            ),
            (array(ArrayType::String, vec![Value::String(None), Value::String(None)]), json!([null, null])),
            (
                array(ArrayType::BigInt, vec![Value::BigInt(Some(i64::MAX)), Value::BigInt(Some(7))]),
                json!(["9223372036854775807", 7]),
            ),
            (array(ArrayType::Decimal, vec![Value::Decimal(Decimal::from_str("0.10").ok())]), json!(["0.10"])),
            (array(ArrayType::Bytes, vec![Value::Bytes(Some(vec![0xff]))]), json!(["/w=="])),
            (array(ArrayType::Float, vec![Value::Float(Some(0.1)), Value::Float(Some(f32::NAN))]), json!([0.1, "NaN"])),
            (
                array(
                    ArrayType::Int,
                    vec![
                        array(ArrayType::Int, vec![Value::Int(Some(1)), Value::Int(Some(2))]),
                        array(ArrayType::Int, vec![]),
                        Value::Array(ArrayType::Int, None),
                        array(ArrayType::Int, vec![array(ArrayType::Int, vec![Value::Int(None)])]),
                    ],
                ),
                json!([[1, 2], [], null, [[null]]]),
            ),
        ];
        for (value, expected) in cases {
            assert_eq!(value_to_json(&value), expected, "{value:?}");
        }
    }

    #[cfg(feature = "with-time")]
    mod with_time {
        use super::*;
        use time::{Month, UtcOffset};

        fn date(year: i32, month: u8, day: u8) -> time::Date {
            let month = Month::try_from(month).expect("month");
            time::Date::from_calendar_date(year, month, day).expect("date")
        }

        fn time_of(hour: u8, minute: u8, second: u8, nanos: u32) -> time::Time {
            time::Time::from_hms_nano(hour, minute, second, nanos).expect("time")
        }

        fn offset(seconds: i32) -> UtcOffset {
            UtcOffset::from_whole_seconds(seconds).expect("offset")
        }

        #[test]
        fn each_variant() {
            let d = date(2026, 11, 23);
            let t = time_of(10, 15, 30, 123_456_000);
            let dt = time::PrimitiveDateTime::new(d, t);
            let cases: Vec<(Value, Json)> = vec![
                (Value::TimeDate(Some(d)), json!("2026-11-23")),
                (Value::TimeTime(Some(t)), json!("10:15:30.123456")),
                (Value::TimeDateTime(Some(dt)), json!("2026-11-23T10:15:30.123456")),
                (Value::TimeDateTimeWithTimeZone(Some(dt.assume_utc())), json!("2026-11-23T10:15:30.123456Z")),
                (
                    Value::TimeDateTimeWithTimeZone(Some(dt.assume_offset(offset(3600)))),
                    json!("2026-11-23T10:15:30.123456+01:00"),
                ),
                (
                    Value::TimeDateTimeWithTimeZone(Some(dt.assume_offset(offset(-(3 * 3600 + 30 * 60))))),
                    json!("2026-11-23T10:15:30.123456-03:30"),
                ),
                (Value::TimeDate(None), Json::Null),
                (Value::TimeTime(None), Json::Null),
                (Value::TimeDateTime(None), Json::Null),
                (Value::TimeDateTimeWithTimeZone(None), Json::Null),
            ];
            for (value, expected) in cases {
                assert_eq!(value_to_json(&value), expected, "{value:?}");
            }
        }

        #[test]
        fn fractions_and_boundaries() {
            let cases = [
                (time_of(0, 0, 0, 0), "00:00:00"),
                (time_of(23, 59, 59, 0), "23:59:59"),
                (time_of(1, 2, 3, 500_000_000), "01:02:03.500"),
                (time_of(1, 2, 3, 1_000_000), "01:02:03.001"),
                (time_of(1, 2, 3, 1_000), "01:02:03.000001"),
                (time_of(1, 2, 3, 120_000), "01:02:03.000120"),
                (time_of(1, 2, 3, 1), "01:02:03.000000001"),
                (time_of(23, 59, 59, 999_999_999), "23:59:59.999999999"),
            ];
            for (t, expected) in cases {
                assert_eq!(value_to_json(&Value::TimeTime(Some(t))), json!(expected), "{t:?}");
            }
            let dates = [
                (date(1, 1, 1), "0001-01-01"),
                (date(0, 2, 29), "0000-02-29"),
                (date(-1, 12, 31), "-0001-12-31"),
                (date(-9999, 1, 1), "-9999-01-01"),
                (date(9999, 12, 31), "9999-12-31"),
            ];
            for (d, expected) in dates {
                assert_eq!(value_to_json(&Value::TimeDate(Some(d))), json!(expected), "{d:?}");
            }
            let dt = time::PrimitiveDateTime::new(date(1999, 12, 31), time_of(23, 59, 59, 0));
            let offsets = [
                (0, "1999-12-31T23:59:59Z"),
                (-1, "1999-12-31T23:59:59-00:00"),
                (20, "1999-12-31T23:59:59+00:00"),
                (30, "1999-12-31T23:59:59+00:01"),
                (-(5 * 3600 + 29 * 60 + 45), "1999-12-31T23:59:59-05:30"),
                (-(12 * 3600), "1999-12-31T23:59:59-12:00"),
                (14 * 3600, "1999-12-31T23:59:59+14:00"),
                (-(25 * 3600 + 59 * 60 + 59), "1999-12-31T23:59:59-26:00"),
            ];
            for (seconds, expected) in offsets {
                let value = Value::TimeDateTimeWithTimeZone(Some(dt.assume_offset(offset(seconds))));
                assert_eq!(value_to_json(&value), json!(expected), "{value:?}");
            }
        }

        /// The time crate's value converts to the very text of the chrono value of the same
        /// date, time and offset.
        #[test]
        fn same_text_as_chrono() {
            let dates = [date(2026, 11, 23), date(1, 1, 1), date(-44, 3, 15), date(9999, 12, 31), date(2024, 2, 29)];
            let times = [
                time_of(0, 0, 0, 0),
                time_of(10, 15, 30, 123_456_000),
                time_of(23, 59, 59, 999_999_999),
                time_of(12, 0, 0, 7_000_000),
                time_of(6, 7, 8, 90),
            ];
            let offsets = [0, 3600, -3600, 19_800, -34_200, 59, -29, 31, -86_399, 86_399];
            for d in dates {
                let chrono_date = NaiveDate::from_ymd_opt(d.year(), u32::from(u8::from(d.month())), u32::from(d.day()))
                    .expect("chrono date");
                assert_eq!(
                    value_to_json(&Value::TimeDate(Some(d))),
                    value_to_json(&Value::ChronoDate(Some(chrono_date)))
                );
                for t in times {
                    let chrono_time = chrono::NaiveTime::from_hms_nano_opt(
                        u32::from(t.hour()),
                        u32::from(t.minute()),
                        u32::from(t.second()),
                        t.nanosecond(),
                    )
                    .expect("chrono time");
                    assert_eq!(
                        value_to_json(&Value::TimeTime(Some(t))),
                        value_to_json(&Value::ChronoTime(Some(chrono_time)))
                    );
                    let dt = time::PrimitiveDateTime::new(d, t);
                    let chrono_dt = chrono_date.and_time(chrono_time);
                    assert_eq!(
                        value_to_json(&Value::TimeDateTime(Some(dt))),
                        value_to_json(&Value::ChronoDateTime(Some(chrono_dt)))
                    );
                    assert_eq!(
                        value_to_json(&Value::TimeDateTimeWithTimeZone(Some(dt.assume_utc()))),
                        value_to_json(&Value::ChronoDateTimeUtc(Some(Utc.from_utc_datetime(&chrono_dt))))
                    );
                    for seconds in offsets {
                        let chrono_value = FixedOffset::east_opt(seconds)
                            .and_then(|o| o.from_local_datetime(&chrono_dt).single())
                            .expect("chrono datetime");
                        let value = Value::TimeDateTimeWithTimeZone(Some(dt.assume_offset(offset(seconds))));
                        assert_eq!(
                            value_to_json(&value),
                            value_to_json(&Value::ChronoDateTimeWithTimeZone(Some(chrono_value))),
                            "{value:?}"
                        );
                    }
                }
            }
        }
    }

    #[cfg(feature = "with-bigdecimal")]
    mod with_bigdecimal {
        use super::*;
        use bigdecimal::BigDecimal;
        use bigdecimal::num_bigint::BigInt;

        fn big(text: &str) -> Value {
            Value::BigDecimal(Some(Box::new(BigDecimal::from_str(text).expect("decimal"))))
        }

        fn raw(digits: i64, scale: i64) -> Value {
            Value::BigDecimal(Some(Box::new(BigDecimal::new(BigInt::from(digits), scale))))
        }

        #[test]
        fn plain_with_scale_kept() {
            let cases = [
                ("12.50", "12.50"),
                ("-12.50", "-12.50"),
                ("0", "0"),
                ("0.00", "0.00"),
                ("-0.001", "-0.001"),
                ("1E+3", "1000"),
                ("1.5E+3", "1500"),
                ("-2E+1", "-20"),
                ("0E+3", "0"),
                ("1.0E-7", "0.00000010"),
                ("1E-7", "0.0000001"),
                ("123.456e-10", "0.0000000123456"),
                ("1e20", "100000000000000000000"),
                ("79228162514264337593543950335", "79228162514264337593543950335"),
                (
                    "-123456789012345678901234567890.123456789012345678901234567890",
                    "-123456789012345678901234567890.123456789012345678901234567890",
                ),
            ];
            for (text, expected) in cases {
                assert_eq!(value_to_json(&big(text)), json!(expected), "{text}");
            }
            assert_eq!(value_to_json(&Value::BigDecimal(None)), Json::Null);
        }

        /// A column moved from `rust_decimal` to `BigDecimal` keeps its audit text.
        #[test]
        fn same_text_as_rust_decimal() {
            for text in
                ["12.50", "-0.0001", "0.000", "1", "79228162514264337593543950335", "-7.9228162514264337593543950335"]
            {
                let decimal = Value::Decimal(Decimal::from_str(text).ok());
                assert_eq!(value_to_json(&big(text)), value_to_json(&decimal), "{text}");
            }
        }

        #[test]
        fn huge_scales() {
            // Up to PostgreSQL's numeric range: plain, every zero written.
            let Json::String(plain) = value_to_json(&raw(1, -131_072)) else { panic!("a string") };
            assert_eq!(plain.len(), 131_073);
            assert!(plain.starts_with("10") && plain.bytes().skip(1).all(|b| b == b'0'));
            let Json::String(plain) = value_to_json(&raw(-5, 131_072)) else { panic!("a string") };
            assert_eq!(plain.len(), 131_075);
            assert!(plain.starts_with("-0.000") && plain.ends_with("05"));
            // Beyond it: scientific notation with every digit, the scale still readable.
            let cases = [
                (raw(1, -131_073), "1e+131073"),
                (raw(-120, -200_000), "-1.20e+200002"),
                (raw(1, 131_073), "1e-131073"),
                (raw(10, 200_000), "1.0e-199999"),
                (raw(123, i64::MIN), "1.23e+9223372036854775810"),
                (raw(-7, i64::MAX), "-7e-9223372036854775807"),
                (raw(0, i64::MAX), "0e-9223372036854775807"),
                (raw(0, i64::MIN), "0"),
            ];
            for (value, expected) in cases {
                assert_eq!(value_to_json(&value), json!(expected), "{value:?}");
            }
        }

        #[test]
        fn in_arrays() {
            use sea_orm::sea_query::ArrayType;
            let value =
                Value::Array(ArrayType::BigDecimal, Some(Box::new(vec![big("1.0E-7"), Value::BigDecimal(None)])));
            assert_eq!(value_to_json(&value), json!(["0.00000010", null]));
        }
    }

    #[cfg(feature = "with-ipnetwork")]
    #[test]
    fn ip_networks() {
        use sea_orm::sea_query::value::prelude::IpNetwork;
        for text in ["10.0.0.0/8", "192.168.1.5/32", "2001:db8::/32", "::1/128"] {
            let value = Value::IpNetwork(IpNetwork::from_str(text).ok());
            assert_eq!(value_to_json(&value), json!(text), "{value:?}");
        }
        assert_eq!(value_to_json(&Value::IpNetwork(None)), Json::Null);
    }

    #[cfg(feature = "with-mac_address")]
    #[test]
    fn mac_addresses() {
        use sea_orm::sea_query::value::prelude::MacAddress;
        let value = Value::MacAddress(Some(MacAddress::new([0x08, 0x00, 0x2b, 0x01, 0x02, 0xff])));
        assert_eq!(value_to_json(&value), json!("08:00:2b:01:02:ff"));
        assert_eq!(value_to_json(&Value::MacAddress(None)), Json::Null);
    }

    #[cfg(feature = "postgres-vector")]
    #[test]
    fn vectors() {
        use sea_orm::prelude::PgVector;
        let value = Value::Vector(Some(PgVector::from(vec![0.1, -2.5, 3.0e-7, f32::MAX])));
        assert_eq!(value_to_json(&value), json!([0.1, -2.5, 3.0e-7, 3.4028235e38]));
        assert_eq!(value_to_json(&Value::Vector(Some(PgVector::from(Vec::new())))), json!([]));
        assert_eq!(value_to_json(&Value::Vector(None)), Json::Null);
    }

    /// Variants of sea-query features this crate does not convert are kept as debug text; only
    /// a bare `Variant(None)` is taken for NULL.
    #[test]
    fn unknown_variants_as_debug_text() {
        assert_eq!(debug_text("Vector(None)".into()), Json::Null);
        assert_eq!(debug_text("JiffDate(None)".into()), Json::Null);
        for text in ["Range(Some(RangeType(Unbounded(None))))", "Foo(Bar, None)", "(None)", "x.y(None)"] {
            assert_eq!(debug_text(text.into()), json!(text));
        }
        assert_eq!(debug_text("IpNetwork(Some(V4(10.0.0.0/8)))".into()), json!("IpNetwork(Some(V4(10.0.0.0/8)))"));
    }
}

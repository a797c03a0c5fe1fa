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
//! | `String`, `Char` | string |
//! | enum (`Enum`) | its database value as a string |
//! | `Bytes` | standard base64 with padding |
//! | `Json` | the JSON itself |
//! | `ChronoDate` / `ChronoTime` / `ChronoDateTime` | ISO 8601 (`2026-11-23`, `10:15:30.123456`, `2026-11-23T10:15:30.123456`), no zone |
//! | `ChronoDateTimeUtc` / `Local` / `WithTimeZone` | RFC 3339 with its offset (`Z` for UTC) |
//! | `Uuid` | lowercase hyphenated string |
//!
//! Any other variant (only present when other sea-query features are enabled) is kept as its
//! debug text rather than dropped.

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
        Value::Float(v) => v.map_or(Json::Null, |v| {
            // The shortest decimal that reads back as this f32, read as an f64: 0.1f32 -> 0.1.
            let wide = v.to_string().parse::<f64>().unwrap_or(f64::from(v));
            float(wide)
        }),
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
        #[allow(unreachable_patterns)]
        other => {
            let text = format!("{other:?}");
            if text.ends_with("(None)") { Json::Null } else { Json::String(text) }
        }
    }
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
}

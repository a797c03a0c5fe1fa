//! Every column type round-trips through a real database into the diff without loss: int,
//! bigint beyond 2^53, float, double, decimal, bool, string, bytes (not UTF-8), date, time,
//! datetime, timestamptz, uuid, json, nullable and enum.

mod orm_common;

use chrono::{NaiveDate, NaiveTime, TimeZone, Utc};
use orm_common::entities::{Mood, kitchen};
use orm_common::{Backend, Harness, TestDb, change, fields};
use rust_decimal::Decimal;
use sea_orm::{ActiveModelTrait, IntoActiveModel, ModelTrait, Set};
use serde_json::{Value as Json, json};
use std::str::FromStr;

fn row(n: i64, backend: Backend) -> kitchen::ActiveModel {
    // SQLite has no decimal type (NUMERIC affinity keeps about 15 digits); the others keep 26.
    let dec = if backend == Backend::Sqlite { format!("12.2{n}") } else { format!("1234567890123456.123456789{n}") };
    let date = NaiveDate::from_ymd_opt(2026, 11, 23 - n as u32).expect("date");
    let time = NaiveTime::from_hms_opt(10, 15, 30 + n as u32).expect("time");
    kitchen::ActiveModel {
        int: Set(-42 - n as i32),
        big: Set((1 << 53) + 1 + n),
        float: Set(0.1 + n as f32),
        double: Set(1.0e-300 * (n + 1) as f64),
        dec: Set(Decimal::from_str(&dec).expect("decimal")),
        flag: Set(n == 0),
        text: Set(format!("héllo \"{n}\"")),
        bytes: Set(vec![0xff, 0x00, 0xfe, 0x80 + n as u8]),
        date: Set(date),
        time: Set(time),
        datetime: Set(date.and_time(time)),
        tstz: Set(Utc.from_utc_datetime(&date.and_time(time))),
        uuid: Set(uuid::Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cde0 + n as u128)),
        json: Set(json!({"n": n, "list": [1, null, "x"]})),
        nullable: Set(if n == 0 { None } else { Some("set".into()) }),
        mood: Set(if n == 0 { Mood::Happy } else { Mood::Sad }),
        ..Default::default()
    }
}

async fn every_column_type_is_converted(testdb: TestDb) {
    let backend = testdb.backend;
    let h = Harness::new(testdb).await;
    let created = row(0, backend).insert(&h.db).await.expect("insert");
    let mut am = created.clone().into_active_model();
    let next = row(1, backend);
    am.int = next.int;
    am.big = next.big;
    am.float = next.float;
    am.double = next.double;
    am.dec = next.dec;
    am.flag = next.flag;
    am.text = next.text;
    am.bytes = next.bytes;
    am.date = next.date;
    am.time = next.time;
    am.datetime = next.datetime;
    am.tstz = next.tstz;
    am.uuid = next.uuid;
    am.json = next.json;
    am.nullable = next.nullable;
    am.mood = next.mood;
    let updated = am.update(&h.db).await.expect("update");
    updated.clone().delete(&h.db).await.expect("delete");

    let events = h.events();
    assert_eq!(events.len(), 3);
    let (create, update, delete) = (&events[0], &events[1], &events[2]);
    let columns = [
        "bytes", "big", "date", "datetime", "dec", "double", "flag", "float", "int", "json", "mood", "nullable",
        "text", "time", "tstz", "uuid",
    ];
    let mut sorted = columns.to_vec();
    sorted.sort_unstable();
    assert_eq!(fields(update), sorted, "every column but the key changed");

    let expect_old = |field: &str| change(update, field).and_then(|c| c.0);
    let expect_new = |field: &str| change(update, field).and_then(|c| c.1);
    let pairs: [(&str, Json, Json); 16] = [
        ("int", json!(-42), json!(-43)),
        ("big", json!("9007199254740993"), json!("9007199254740994")),
        ("float", json!(0.1), json!(1.1)),
        ("double", json!(1.0e-300), json!(2.0e-300)),
        ("dec", json!("1234567890123456.1234567890"), json!("1234567890123456.1234567891")),
        ("flag", json!(true), json!(false)),
        ("text", json!("héllo \"0\""), json!("héllo \"1\"")),
        ("bytes", json!("/wD+gA=="), json!("/wD+gQ==")),
        ("date", json!("2026-11-23"), json!("2026-11-22")),
        ("time", json!("10:15:30"), json!("10:15:31")),
        ("datetime", json!("2026-11-23T10:15:30"), json!("2026-11-22T10:15:31")),
        ("tstz", json!("2026-11-23T10:15:30Z"), json!("2026-11-22T10:15:31Z")),
        ("uuid", json!("01234567-89ab-cdef-0123-456789abcde0"), json!("01234567-89ab-cdef-0123-456789abcde1")),
        ("json", json!({"n": 0, "list": [1, null, "x"]}), json!({"n": 1, "list": [1, null, "x"]})),
        ("nullable", Json::Null, json!("set")),
        ("mood", json!("happy"), json!("sad")),
    ];
    for (field, old, new) in pairs {
        let (old, new) = if field == "dec" && backend == Backend::Sqlite {
            // Whatever SQLite gives back (12.2 for 12.20) is what is recorded.
            (Json::String(created.dec.to_string()), Json::String(updated.dec.to_string()))
        } else {
            (old, new)
        };
        assert_eq!(expect_old(field), Some(old.clone()), "old {field}");
        assert_eq!(expect_new(field), Some(new.clone()), "new {field}");
        assert_eq!(change(create, field), Some((None, Some(old))), "create {field}");
        assert_eq!(change(delete, field), Some((Some(new), None)), "delete {field}");
    }
    assert_eq!(change(create, "id"), Some((None, Some(json!(created.id)))));
    h.finish().await;
}
on_all_backends!(every_column_type_is_converted);

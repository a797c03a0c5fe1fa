//! Examples and end-to-end tests of the audit-trail workspace. This crate has no API of its
//! own; the README below is compiled here so its example cannot go stale.
#![doc = include_str!("../README.md")]

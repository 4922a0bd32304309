//! Formatting of times for people and JSON.

use std::time::SystemTime;

use aws_sdk_ecr::primitives::{DateTime, DateTimeFormat};

/// `2026-11-27T19:42:52Z`: RFC 3339 in UTC, whole seconds.
pub(crate) fn rfc3339(t: SystemTime) -> String {
    let secs = match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => d.as_secs() as i64,
        Err(e) => -(e.duration().as_secs() as i64),
    };
    DateTime::from_secs(secs)
        .fmt(DateTimeFormat::DateTime)
        .unwrap_or_else(|_| format!("{secs} seconds after the epoch"))
}

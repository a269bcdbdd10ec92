//! Helpers the unit tests of the periodic modules share.

use chrono::DateTime;
use serde_json::{Map, Value};

use super::cron::utc;

pub(super) fn epoch(text: &str) -> f64 {
    DateTime::parse_from_rfc3339(text).unwrap().timestamp() as f64
}

pub(super) fn iso(epoch: f64) -> String {
    utc(epoch).unwrap().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

pub(super) fn entry(json: &str) -> Map<String, Value> {
    serde_json::from_str(json).unwrap()
}

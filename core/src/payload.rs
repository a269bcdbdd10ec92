//! The job payload as Sidekiq stores it in Redis (docs/wire-format.md §2), and the small values every
//! payload carries: the jid and the timestamps.

use serde_json::{Map, Value};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::json::{self, EncodeError};

/// A fresh job id: 12 random bytes as 24 lowercase hex characters, like `SecureRandom.hex(12)`.
///
/// Drawn from the OS for every call, so a forked child never repeats its parent's ids.
pub fn new_jid() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 12];
    getrandom::fill(&mut bytes)?;
    Ok(hex(&bytes))
}

/// `count` fresh job ids from a single read of the OS's randomness (for bulk pushes).
pub fn new_jids(count: usize) -> Result<Vec<String>, getrandom::Error> {
    let mut bytes = vec![0u8; count * 12];
    getrandom::fill(&mut bytes)?;
    Ok(bytes.chunks_exact(12).map(hex).collect())
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[(b >> 4) as usize] as char);
        out.push(DIGITS[(b & 0xf) as usize] as char);
    }
    out
}

/// Epoch seconds as a float, like Ruby's `Time.now.to_f`.
pub fn now_epoch_seconds() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// A timestamp field as Sidekiq 6/7 (float seconds) or 8 (integer milliseconds) wrote it.
///
/// Sidekiq 8 decides by JSON type: a float is seconds, an integer is milliseconds.
pub fn timestamp_seconds(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) if n.is_f64() => n.as_f64(),
        Value::Number(n) => n.as_i64().map(|ms| ms as f64 / 1000.0),
        _ => None,
    }
}

/// Why a payload could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PayloadError {
    /// Not JSON at all (the server sends such jobs to the dead set).
    InvalidJson(String),
    /// JSON, but not an object with a String `class` and an Array `args`.
    NotAJob(&'static str),
}

impl std::fmt::Display for PayloadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PayloadError::InvalidJson(e) => write!(f, "invalid job JSON: {e}"),
            PayloadError::NotAJob(why) => write!(f, "not a Sidekiq job: {why}"),
        }
    }
}

impl std::error::Error for PayloadError {}

/// A parsed job. Keeps every field, in order, so it re-serializes to the bytes Ruby would write
/// (`to_json`), including keys this version does not know about.
#[derive(Debug, Clone, PartialEq)]
pub struct Payload {
    fields: Map<String, Value>,
}

impl Payload {
    /// Parses a payload as pushed by any Sidekiq version or by Ferrokiq.
    pub fn parse(text: &str) -> Result<Self, PayloadError> {
        let value: Value =
            serde_json::from_str(text).map_err(|e| PayloadError::InvalidJson(e.to_string()))?;
        let Value::Object(fields) = value else {
            return Err(PayloadError::NotAJob("not a JSON object"));
        };
        if !fields.get("class").is_some_and(Value::is_string) {
            return Err(PayloadError::NotAJob("no String \"class\""));
        }
        if !fields.get("args").is_some_and(Value::is_array) {
            return Err(PayloadError::NotAJob("no Array \"args\""));
        }
        Ok(Payload { fields })
    }

    pub fn class(&self) -> &str {
        self.str_field("class").unwrap_or_default()
    }

    pub fn args(&self) -> &[Value] {
        self.fields
            .get("args")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default()
    }

    pub fn jid(&self) -> Option<&str> {
        self.str_field("jid")
    }

    /// The queue name, without the `queue:` prefix; Sidekiq's default when absent.
    pub fn queue(&self) -> &str {
        self.str_field("queue").unwrap_or("default")
    }

    pub fn created_at(&self) -> Option<f64> {
        self.fields.get("created_at").and_then(timestamp_seconds)
    }

    pub fn enqueued_at(&self) -> Option<f64> {
        self.fields.get("enqueued_at").and_then(timestamp_seconds)
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.fields.get(key)
    }

    pub fn fields(&self) -> &Map<String, Value> {
        &self.fields
    }

    fn str_field(&self, key: &str) -> Option<&str> {
        self.fields.get(key).and_then(Value::as_str)
    }

    /// The payload as Ruby's `JSON.generate(JSON.parse(text))` would write it.
    pub fn to_json(&self) -> Result<String, EncodeError> {
        let mut out = Vec::with_capacity(256);
        json::write_object(&mut out, &self.fields)?;
        Ok(json::into_string(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jid_is_24_lowercase_hex_and_unique() {
        let a = new_jid().unwrap();
        let b = new_jid().unwrap();
        assert_eq!(a.len(), 24);
        assert!(a
            .chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        assert_ne!(a, b);
        let many = new_jids(1000).unwrap();
        assert_eq!(many.len(), 1000);
        assert!(many.iter().all(|jid| jid.len() == 24));
        let unique: std::collections::HashSet<_> = many.iter().collect();
        assert_eq!(unique.len(), 1000);
    }

    #[test]
    fn now_is_float_seconds_with_a_decimal_point() {
        let now = now_epoch_seconds();
        assert!(now > 1.7e9 && now < 1e10);
        assert!(json::ruby_float(now.trunc()).unwrap().ends_with(".0"));
    }

    #[test]
    fn reads_seconds_and_milliseconds_timestamps() {
        let p6 = Payload::parse(r#"{"class":"A","args":[],"created_at":1700000000.5}"#).unwrap();
        assert_eq!(p6.created_at(), Some(1700000000.5));
        let p8 = Payload::parse(r#"{"class":"A","args":[],"created_at":1700000000500}"#).unwrap();
        assert_eq!(p8.created_at(), Some(1700000000.5));
    }

    #[test]
    fn accessors_and_unknown_keys_survive() {
        let text = r#"{"retry":3,"queue":"low","args":[1,"é"],"class":"HardJob","jid":"0123456789abcdef01234567","created_at":1700000000.1,"enqueued_at":1700000000.2,"custom":{"x":[true]}}"#;
        let p = Payload::parse(text).unwrap();
        assert_eq!(p.class(), "HardJob");
        assert_eq!(p.queue(), "low");
        assert_eq!(p.jid(), Some("0123456789abcdef01234567"));
        assert_eq!(p.args().len(), 2);
        assert_eq!(p.enqueued_at(), Some(1700000000.2));
        assert_eq!(p.to_json().unwrap(), text);
    }

    #[test]
    fn rejects_what_is_not_a_job() {
        assert!(matches!(
            Payload::parse("{nope"),
            Err(PayloadError::InvalidJson(_))
        ));
        assert_eq!(
            Payload::parse(r#"[1]"#),
            Err(PayloadError::NotAJob("not a JSON object"))
        );
        assert_eq!(
            Payload::parse(r#"{"class":"A","args":{}}"#),
            Err(PayloadError::NotAJob("no Array \"args\""))
        );
    }
}

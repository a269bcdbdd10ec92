//! Log lines in the layouts of Sidekiq's three formatters (`Sidekiq::Logger::Formatters::Pretty`,
//! `WithoutTimestamp` and `JSON`), byte for byte as the Ruby formatters write them
//! (docs/design.md, §12):
//!
//! - Pretty: `2026-11-28T10:00:12.261Z pid=12 tid=abc class=HardJob jid=… INFO: done`
//! - WithoutTimestamp: the same without the time and its space.
//! - JSON: `{"ts":"…","pid":12,"tid":"abc","lvl":"INFO","msg":"done","ctx":{"class":"HardJob"}}`
//!
//! The Ruby side hands over only values these layouts can render exactly as Ruby would (see
//! [`Value`]); anything else is formatted by Ruby and reaches the writer as text.

use std::borrow::Cow;
use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use compact_str::CompactString;

use crate::json::{ruby_float, write_str};
use crate::server::heartbeat::utc_date;

/// Which of Sidekiq's formatters the lines imitate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    Pretty,
    WithoutTimestamp,
    Json,
}

impl Layout {
    /// The layout for a formatter's short name (`pretty`, `without_timestamp`, `json`).
    pub fn named(name: &str) -> Option<Layout> {
        match name {
            "pretty" => Some(Layout::Pretty),
            "without_timestamp" => Some(Layout::WithoutTimestamp),
            "json" => Some(Layout::Json),
            _ => None,
        }
    }
}

/// A line's text. Up to 24 bytes (keys, tids, jids, most class names) it is held inline: a
/// line from Ruby crosses to the writer's thread with one heap block for its context and one
/// per longer text, where a `String` each made ten, all freed on the other thread
/// (docs/performance.md, §3.5).
pub type Text = CompactString;

/// A Ruby value as a log line shows it. Symbols arrive as `Str` (both layouts show their name).
/// `Hash` only ever comes with the JSON layout (Pretty would show `Hash#inspect`, left to Ruby),
/// and non-finite floats only with Pretty (`JSON.generate` refuses them).
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Text),
    Array(Vec<Value>),
    Hash(Vec<(Text, Value)>),
}

/// One line: what `Logger#add` hands its formatter, plus the thread's Sidekiq context.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    pub at: SystemTime,
    /// `DEBUG`, `INFO`, … or `ANY`, as `Logger#format_severity` gives it.
    pub severity: Cow<'static, str>,
    /// `Sidekiq.tid` of the logging thread.
    pub tid: Text,
    /// `Sidekiq::Context.current`'s pairs in order, nil values included.
    pub context: Vec<(Text, Value)>,
    /// With Pretty and WithoutTimestamp, the message already converted by `"#{message}"`.
    pub message: Value,
}

/// The severity label for Ruby's numeric level, as `Logger::SEV_LABEL[severity] || "ANY"`.
pub fn severity_label(label: &str) -> Cow<'static, str> {
    match label {
        "DEBUG" => Cow::Borrowed("DEBUG"),
        "INFO" => Cow::Borrowed("INFO"),
        "WARN" => Cow::Borrowed("WARN"),
        "ERROR" => Cow::Borrowed("ERROR"),
        "FATAL" => Cow::Borrowed("FATAL"),
        "ANY" => Cow::Borrowed("ANY"),
        other => Cow::Owned(other.to_string()),
    }
}

/// Appends `line` in `layout`, newline included.
pub fn format_line(out: &mut Vec<u8>, layout: Layout, pid: u32, line: &Line) {
    match layout {
        Layout::Pretty => {
            timestamp(out, line.at);
            out.push(b' ');
            pretty_rest(out, pid, line);
        }
        Layout::WithoutTimestamp => pretty_rest(out, pid, line),
        Layout::Json => json_line(out, pid, line),
    }
}

/// `Time#utc.iso8601(3)`: milliseconds truncated, as Ruby does.
fn timestamp(out: &mut Vec<u8>, at: SystemTime) {
    let since_epoch = at.duration_since(UNIX_EPOCH).unwrap_or_default();
    let seconds = since_epoch.as_secs();
    let day_seconds = seconds % 86_400;
    let _ = write!(
        out,
        "{}T{:02}:{:02}:{:02}.{:03}Z",
        utc_date(seconds as f64),
        day_seconds / 3600,
        day_seconds % 3600 / 60,
        day_seconds % 60,
        since_epoch.subsec_millis(),
    );
}

/// `pid=… tid=…{context} SEVERITY: message\n`, shared by Pretty and WithoutTimestamp.
fn pretty_rest(out: &mut Vec<u8>, pid: u32, line: &Line) {
    let _ = write!(out, "pid={pid} tid={}", line.tid);
    // Ruby tests the Hash for emptiness before dropping nil values, so a context of nils
    // still adds its space.
    if !line.context.is_empty() {
        out.push(b' ');
        let mut first = true;
        for (key, value) in line.context.iter().filter(|(_, v)| *v != Value::Nil) {
            if !first {
                out.push(b' ');
            }
            first = false;
            out.extend_from_slice(key.as_bytes());
            out.push(b'=');
            to_s(out, value);
        }
    }
    let _ = write!(out, " {}: ", line.severity);
    to_s(out, &line.message);
    out.push(b'\n');
}

/// `value.to_s`, with Arrays as `Array#join(",")` (nested arrays joined alike, nil as "").
fn to_s(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Nil => {}
        Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Value::Float(f) => out.extend_from_slice(float_to_s(*f).as_bytes()),
        Value::Str(s) => out.extend_from_slice(s.as_bytes()),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                to_s(out, item);
            }
        }
        // Never sent with this layout (see `Value`); JSON is the closest honest rendering.
        Value::Hash(_) => json_value(out, value),
    }
}

fn float_to_s(f: f64) -> Cow<'static, str> {
    match ruby_float(f) {
        Some(text) => Cow::Owned(text),
        None if f.is_nan() => Cow::Borrowed("NaN"),
        None if f > 0.0 => Cow::Borrowed("Infinity"),
        None => Cow::Borrowed("-Infinity"),
    }
}

/// `JSON.generate({"ts"=>…, "pid"=>…, "tid"=>…, "lvl"=>…, "msg"=>…, "ctx"=>…})`.
fn json_line(out: &mut Vec<u8>, pid: u32, line: &Line) {
    out.extend_from_slice(b"{\"ts\":\"");
    timestamp(out, line.at);
    let _ = write!(out, "\",\"pid\":{pid},\"tid\":");
    write_str(out, &line.tid);
    out.extend_from_slice(b",\"lvl\":");
    write_str(out, &line.severity);
    out.extend_from_slice(b",\"msg\":");
    json_value(out, &line.message);
    if !line.context.is_empty() {
        out.extend_from_slice(b",\"ctx\":");
        json_pairs(out, &line.context);
    }
    out.extend_from_slice(b"}\n");
}

fn json_value(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Nil => out.extend_from_slice(b"null"),
        Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Value::Float(f) => out.extend_from_slice(float_to_s(*f).as_bytes()),
        Value::Str(s) => write_str(out, s),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                json_value(out, item);
            }
            out.push(b']');
        }
        Value::Hash(pairs) => json_pairs(out, pairs),
    }
}

fn json_pairs(out: &mut Vec<u8>, pairs: &[(Text, Value)]) {
    out.push(b'{');
    for (i, (key, value)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_str(out, key);
        out.push(b':');
        json_value(out, value);
    }
    out.push(b'}');
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn line(context: Vec<(&str, Value)>, message: Value) -> Line {
        Line {
            at: UNIX_EPOCH + Duration::from_millis(1_795_860_012_261),
            severity: severity_label("INFO"),
            tid: "abc".into(),
            context: context.into_iter().map(|(k, v)| (k.into(), v)).collect(),
            message,
        }
    }

    fn formatted(layout: Layout, line: &Line) -> String {
        let mut out = Vec::new();
        format_line(&mut out, layout, 12, line);
        String::from_utf8(out).unwrap()
    }

    fn s(text: &str) -> Value {
        Value::Str(text.into())
    }

    #[test]
    fn pretty_and_without_timestamp_without_context() {
        let line = line(vec![], s("hello"));
        assert_eq!(
            formatted(Layout::Pretty, &line),
            "2026-11-28T10:00:12.261Z pid=12 tid=abc INFO: hello\n"
        );
        assert_eq!(
            formatted(Layout::WithoutTimestamp, &line),
            "pid=12 tid=abc INFO: hello\n"
        );
    }

    #[test]
    fn pretty_context_renders_to_s_join_and_drops_nils() {
        let line = line(
            vec![
                ("class", s("HardJob")),
                ("bid", Value::Nil),
                (
                    "tags",
                    Value::Array(vec![
                        s("a"),
                        Value::Nil,
                        Value::Array(vec![s("b"), Value::Int(3)]),
                    ]),
                ),
                ("elapsed", Value::Float(0.0)),
                ("big", Value::Float(1e20)),
                ("on", Value::Bool(true)),
                ("nan", Value::Float(f64::NAN)),
                ("inf", Value::Float(f64::NEG_INFINITY)),
            ],
            s("line\nwith ünïcode"),
        );
        assert_eq!(
            formatted(Layout::Pretty, &line),
            "2026-11-28T10:00:12.261Z pid=12 tid=abc class=HardJob tags=a,,b,3 elapsed=0.0 big=1.0e+20 on=true nan=NaN inf=-Infinity INFO: line\nwith ünïcode\n"
        );
    }

    #[test]
    fn a_context_of_nils_still_adds_its_space() {
        let line = line(vec![("bid", Value::Nil)], s("x"));
        assert_eq!(
            formatted(Layout::WithoutTimestamp, &line),
            "pid=12 tid=abc  INFO: x\n"
        );
    }

    #[test]
    fn json_keeps_nils_nests_and_escapes() {
        let line = line(
            vec![
                ("class", s("Q\"uote")),
                ("bid", Value::Nil),
                ("tags", Value::Array(vec![s("a"), Value::Int(-4)])),
                ("h", Value::Hash(vec![("k".into(), Value::Float(1.5))])),
            ],
            s("tab\there\u{1}/"),
        );
        assert_eq!(
            formatted(Layout::Json, &line),
            "{\"ts\":\"2026-11-28T10:00:12.261Z\",\"pid\":12,\"tid\":\"abc\",\"lvl\":\"INFO\",\"msg\":\"tab\\there\\u0001/\",\"ctx\":{\"class\":\"Q\\\"uote\",\"bid\":null,\"tags\":[\"a\",-4],\"h\":{\"k\":1.5}}}\n"
        );
    }

    #[test]
    fn json_message_may_be_any_value_and_ctx_is_left_out_when_empty() {
        let line = line(vec![], Value::Array(vec![Value::Nil, Value::Bool(false)]));
        assert_eq!(
            formatted(Layout::Json, &line),
            "{\"ts\":\"2026-11-28T10:00:12.261Z\",\"pid\":12,\"tid\":\"abc\",\"lvl\":\"INFO\",\"msg\":[null,false]}\n"
        );
    }

    /// `Text` keeps up to 24 bytes inline and more on the heap: both come out whole, also
    /// when a two-byte character straddles the limit.
    #[test]
    fn texts_either_side_of_the_inline_limit_come_out_whole() {
        let texts: Vec<String> = [23, 24, 25]
            .iter()
            .map(|n| "x".repeat(*n))
            .chain(["y".repeat(23) + "é"])
            .collect();
        let mut line = line(
            texts.iter().map(|t| (t.as_str(), s(t))).collect(),
            s(&texts[3]),
        );
        line.tid = texts[2].as_str().into();
        let pairs: Vec<String> = texts.iter().map(|t| format!("{t}={t}")).collect();
        assert_eq!(
            formatted(Layout::WithoutTimestamp, &line),
            format!(
                "pid=12 tid={} {} INFO: {}\n",
                texts[2],
                pairs.join(" "),
                texts[3]
            )
        );
        let ctx: Vec<String> = texts.iter().map(|t| format!("\"{t}\":\"{t}\"")).collect();
        assert!(formatted(Layout::Json, &line).ends_with(&format!(
            "\"tid\":\"{}\",\"lvl\":\"INFO\",\"msg\":\"{}\",\"ctx\":{{{}}}}}\n",
            texts[2],
            texts[3],
            ctx.join(",")
        )));
    }

    #[test]
    fn milliseconds_are_truncated() {
        let mut line = line(vec![], s("x"));
        line.at = UNIX_EPOCH + Duration::from_micros(1_795_860_012_999_999);
        line.severity = severity_label("ANY");
        assert_eq!(
            formatted(Layout::Pretty, &line),
            "2026-11-28T10:00:12.999Z pid=12 tid=abc ANY: x\n"
        );
    }
}

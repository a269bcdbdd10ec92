//! Periodic job rules as sidekiq-scheduler's YAML writes them: `cron`, `every`, `interval`, `at`
//! and `in`, and the tick arithmetic the server's periodic loop runs on (docs/design.md,
//! "Periodic jobs").
//!
//! Cron is parsed by `croner` (maintained, MIT, 5/6 fields, `L`/`#`/names, POSIX day OR, a
//! documented DST policy, previous and next occurrence). The `cron` crate needs a seconds field
//! and `saffron` has neither seconds nor zones, so croner is the only drop-in; the small layer
//! below covers what fugit accepts and croner does not: a trailing IANA zone, `N/S` meaning
//! `N-max/S`, `&` for day-of-month AND day-of-week, `#-1` for the last weekday of a month.
//! Durations follow fugit (`y` = 365 d, capital `M` = 30 d, decimals, `and`, a bare number is
//! seconds), which humantime does not, hence the short parser here.
//!
//! DST policy (croner's, on purpose, unlike fugit): a local time that does not exist on the
//! spring-forward day runs at the first instant after the gap (02:30 → 03:00); a local time that
//! occurs twice on the fall-back day runs once, at its first occurrence.

use std::str::FromStr;

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use croner::parser::{CronParser, Seconds, Year};
use croner::Cron;
use serde_json::{Map, Value};

/// Seconds per fugit duration unit.
const YEAR: f64 = 365.0 * 86_400.0;
const MONTH: f64 = 30.0 * 86_400.0;
const WEEK: f64 = 7.0 * 86_400.0;
const DAY: f64 = 86_400.0;

/// A fugit duration (`1h`, `5m`, `1d2h`, `1.5 hours`, `2 hours and 30 minutes`, `90`) in
/// seconds.
pub fn parse_duration(text: &str) -> Result<f64, String> {
    let invalid = || format!("not a duration: {text:?}");
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(invalid());
    }
    if let Ok(seconds) = trimmed.parse::<f64>() {
        return Ok(seconds);
    }
    let mut total = 0.0;
    let mut rest = trimmed;
    let mut elements = 0;
    loop {
        rest = skip_separators(rest);
        if rest.is_empty() {
            break;
        }
        let (sign, unsigned) = match rest.as_bytes()[0] {
            b'-' => (-1.0, &rest[1..]),
            b'+' => (1.0, &rest[1..]),
            _ => (1.0, rest),
        };
        let digits = unsigned
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(unsigned.len());
        let amount: f64 = unsigned[..digits].parse().map_err(|_| invalid())?;
        let after = unsigned[digits..].trim_start_matches(' ');
        let (unit, length) = duration_unit(after).ok_or_else(invalid)?;
        total += sign * amount * unit;
        rest = &after[length..];
        elements += 1;
    }
    if elements == 0 {
        return Err(invalid());
    }
    Ok(total)
}

/// Separators between elements: blanks, commas and the word `and`.
fn skip_separators(mut text: &str) -> &str {
    loop {
        let trimmed = text.trim_start_matches([' ', '\t', ',']);
        match trimmed.strip_prefix("and") {
            Some(after) if after.starts_with([' ', '\t']) => text = after,
            _ => return trimmed,
        }
    }
}

/// The unit at the start of `text`: its length in seconds and how many bytes it spans. `M` is a
/// month and `m` a minute (case matters there, as in fugit); the other units ignore case.
fn duration_unit(text: &str) -> Option<(f64, usize)> {
    let word_end = text
        .find(|c: char| !c.is_ascii_alphabetic())
        .unwrap_or(text.len());
    let word = &text[..word_end];
    let lower = word.to_ascii_lowercase();
    let seconds = match word {
        "M" | "month" | "months" => MONTH,
        "m" | "min" | "mins" | "minute" | "minutes" => 60.0,
        _ => match lower.as_str() {
            "y" | "year" | "years" => YEAR,
            "w" | "week" | "weeks" => WEEK,
            "d" | "day" | "days" => DAY,
            "h" | "hour" | "hours" => 3600.0,
            "s" | "sec" | "secs" | "second" | "seconds" => 1.0,
            _ => return None,
        },
    };
    Some((seconds, word_end))
}

/// A cron line with its zone (UTC unless the line names one).
#[derive(Debug, Clone)]
pub struct CronRule {
    cron: Cron,
    zone: Tz,
}

const NICKNAMES: [(&str, &str); 7] = [
    ("@yearly", "0 0 1 1 *"),
    ("@annually", "0 0 1 1 *"),
    ("@monthly", "0 0 1 * *"),
    ("@weekly", "0 0 * * 0"),
    ("@daily", "0 0 * * *"),
    ("@midnight", "0 0 * * *"),
    ("@hourly", "0 * * * *"),
];

/// The largest value of each field, for `N/S` → `N-max/S`.
fn field_max(index: usize, fields: usize) -> u32 {
    let minute_first = if fields == 6 { index } else { index + 1 };
    match minute_first {
        0 | 1 => 59,
        2 => 23,
        3 => 31,
        4 => 12,
        _ => 7,
    }
}

impl CronRule {
    pub fn parse(line: &str) -> Result<Self, String> {
        let mut words: Vec<&str> = line.split_whitespace().collect();
        let mut zone = Tz::UTC;
        if let Some(last) = words.last() {
            if last.contains('/') && last.chars().next().is_some_and(char::is_alphabetic)
                || *last == "UTC"
                || *last == "Z"
            {
                zone = if *last == "Z" {
                    Tz::UTC
                } else {
                    Tz::from_str(last).map_err(|_| format!("unknown time zone {last:?}"))?
                };
                words.pop();
            }
        }
        let expanded;
        if let [nickname] = words.as_slice() {
            if let Some((_, fields)) = NICKNAMES.iter().find(|(name, _)| name == nickname) {
                expanded = fields.to_string();
                words = expanded.split(' ').collect();
            }
        }
        if words.len() != 5 && words.len() != 6 {
            return Err(format!("a cron line has 5 or 6 fields: {line:?}"));
        }
        let count = words.len();
        let mut dom_and_dow = false;
        let mut fields = Vec::with_capacity(count);
        for (index, word) in words.iter().enumerate() {
            let mut field = word.replace("#-1", "#L");
            if index == count - 1 && field.starts_with('&') {
                dom_and_dow = true;
                field.remove(0);
            }
            let parts: Vec<String> = field
                .split(',')
                .map(|part| match part.split_once('/') {
                    Some((start, step)) if start.chars().all(|c| c.is_ascii_digit()) => {
                        format!("{start}-{}/{step}", field_max(index, count))
                    }
                    _ => part.to_string(),
                })
                .collect();
            fields.push(parts.join(","));
        }
        let cron = CronParser::builder()
            .seconds(Seconds::Optional)
            .year(Year::Disallowed)
            .dom_and_dow(dom_and_dow)
            .build()
            .parse(&fields.join(" "))
            .map_err(|e| format!("invalid cron line {line:?}: {e}"))?;
        Ok(Self { cron, zone })
    }

    /// The latest tick at or before `now` (epoch seconds).
    pub fn previous(&self, now: f64) -> Option<f64> {
        let at = self.zone.from_utc_datetime(&utc(now)?.naive_utc());
        let tick = self.cron.find_previous_occurrence(&at, true).ok()?;
        Some(tick.timestamp() as f64)
    }

    /// The first tick after `now`.
    pub fn next(&self, now: f64) -> Option<f64> {
        let at = self.zone.from_utc_datetime(&utc(now)?.naive_utc());
        let tick = self.cron.find_next_occurrence(&at, false).ok()?;
        Some(tick.timestamp() as f64)
    }
}

fn utc(epoch: f64) -> Option<DateTime<Utc>> {
    let millis = (epoch * 1000.0).floor() as i64;
    DateTime::from_timestamp_millis(millis)
}

/// When a periodic entry fires.
#[derive(Debug, Clone)]
pub enum Rule {
    Cron(Box<CronRule>),
    /// Every `period` seconds, the first time `first` seconds after the entry was registered.
    Every {
        period: f64,
        first: f64,
    },
    /// Once, at an epoch second.
    At(f64),
    /// Once, this many seconds after the entry was registered.
    In(f64),
}

/// `every`/`interval` values are a duration or `[duration, {first_in: duration}]`.
fn every_rule(value: &Value) -> Result<Rule, String> {
    let (period, options) = match value {
        Value::Array(items) => (
            items.first().cloned().unwrap_or(Value::Null),
            items.get(1).cloned(),
        ),
        other => (other.clone(), None),
    };
    let period = duration_value(&period)?;
    if period <= 0.0 {
        return Err("the period must be positive".to_string());
    }
    let first = match options.as_ref().and_then(|o| o.get("first_in")) {
        Some(first_in) => duration_value(first_in)?,
        None => period,
    };
    Ok(Rule::Every { period, first })
}

fn duration_value(value: &Value) -> Result<f64, String> {
    match value {
        Value::String(text) => parse_duration(text),
        Value::Number(number) => number
            .as_f64()
            .ok_or_else(|| format!("not a duration: {number}")),
        other => Err(format!("not a duration: {other}")),
    }
}

/// `at` values: an epoch number, RFC 3339, `YYYY-MM-DD HH:MM:SS [+zzzz]` or with slashes
/// (UTC when no offset is given).
fn at_time(value: &Value) -> Result<f64, String> {
    let text = match value {
        Value::Number(number) => return number.as_f64().ok_or_else(|| number.to_string()),
        Value::String(text) => text.trim(),
        other => return Err(format!("not a time: {other}")),
    };
    if let Ok(time) = DateTime::parse_from_rfc3339(text) {
        return Ok(time.timestamp() as f64);
    }
    for format in ["%Y-%m-%d %H:%M:%S %z", "%Y/%m/%d %H:%M:%S %z"] {
        if let Ok(time) = DateTime::parse_from_str(text, format) {
            return Ok(time.timestamp() as f64);
        }
    }
    let naive = text.trim_end_matches(" UTC");
    for format in ["%Y-%m-%d %H:%M:%S", "%Y/%m/%d %H:%M:%S", "%Y-%m-%d %H:%M"] {
        if let Ok(time) = NaiveDateTime::parse_from_str(naive, format) {
            return Ok(time.and_utc().timestamp() as f64);
        }
    }
    Err(format!("not a time: {text:?}"))
}

impl Rule {
    /// The rule of an entry of the `schedules` hash, taken as sidekiq-scheduler does: the first
    /// non-empty key in the order cron, every, at, in, interval.
    pub fn from_entry(entry: &Map<String, Value>) -> Result<Self, String> {
        let present = |key: &str| {
            entry
                .get(key)
                .filter(|v| !v.is_null() && v.as_str() != Some(""))
        };
        if let Some(cron) = present("cron") {
            let line = cron.as_str().ok_or("cron must be a string")?;
            return CronRule::parse(line).map(|rule| Rule::Cron(Box::new(rule)));
        }
        if let Some(every) = present("every") {
            return every_rule(every);
        }
        if let Some(at) = present("at") {
            return at_time(at).map(Rule::At);
        }
        if let Some(delay) = present("in") {
            return duration_value(delay).map(Rule::In);
        }
        if let Some(interval) = present("interval") {
            return every_rule(interval);
        }
        Err("no cron, every, at, in or interval".to_string())
    }

    /// The latest tick at or before `now` that is not before `since` (when the entry was
    /// registered), if any.
    pub fn previous(&self, since: f64, now: f64) -> Option<f64> {
        let tick = match self {
            Rule::Cron(cron) => cron.previous(now)?,
            Rule::Every { period, first } => {
                let start = since + first;
                if now < start {
                    return None;
                }
                start + ((now - start) / period).floor() * period
            }
            Rule::At(at) => *at,
            Rule::In(delay) => since + delay,
        };
        (tick >= since && tick <= now).then_some(tick)
    }

    /// The first tick after `now` (and not before `since`).
    pub fn next(&self, since: f64, now: f64) -> Option<f64> {
        match self {
            Rule::Cron(cron) => cron.next(now.max(since - 1.0)),
            Rule::Every { period, first } => {
                let start = since + first;
                if now < start {
                    return Some(start);
                }
                Some(start + (((now - start) / period).floor() + 1.0) * period)
            }
            Rule::At(at) => (*at > now && *at >= since).then_some(*at),
            Rule::In(delay) => Some(since + delay).filter(|tick| *tick > now),
        }
    }
}

/// How a time is written in `sidekiq-scheduler:last_times`/`next_times` (EtOrbi's `to_s`,
/// read back with Ruby's `Time.parse`).
pub fn scheduler_time(epoch: f64) -> String {
    utc(epoch)
        .map(|time| time.format("%Y-%m-%d %H:%M:%S +0000").to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn epoch(text: &str) -> f64 {
        DateTime::parse_from_rfc3339(text).unwrap().timestamp() as f64
    }

    fn iso(epoch: f64) -> String {
        utc(epoch).unwrap().format("%Y-%m-%dT%H:%M:%SZ").to_string()
    }

    fn next_ticks(line: &str, from: &str, count: usize) -> Vec<String> {
        let rule = CronRule::parse(line).unwrap();
        let mut at = epoch(from);
        (0..count)
            .map(|_| {
                at = rule.next(at).unwrap();
                iso(at)
            })
            .collect()
    }

    #[test]
    fn parses_fugit_durations() {
        assert_eq!(parse_duration("1h"), Ok(3600.0));
        assert_eq!(parse_duration("5m"), Ok(300.0));
        assert_eq!(parse_duration("1M"), Ok(2_592_000.0));
        assert_eq!(parse_duration("1.5 hours"), Ok(5400.0));
        assert_eq!(parse_duration("2 hours and 30 minutes"), Ok(9000.0));
        assert_eq!(parse_duration("1w2d"), Ok(777_600.0));
        assert_eq!(parse_duration("90"), Ok(90.0));
        assert_eq!(parse_duration("1d2h"), Ok(93_600.0));
        assert_eq!(parse_duration("45 minutes"), Ok(2700.0));
        assert_eq!(parse_duration("1y"), Ok(YEAR));
        assert_eq!(parse_duration("30s, 1m"), Ok(90.0));
        assert_eq!(parse_duration("1h -30m"), Ok(1800.0));
        assert!(parse_duration("").is_err());
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("5 fortnights").is_err());
    }

    #[test]
    fn six_fields_put_seconds_first() {
        assert_eq!(
            next_ticks("0 * * * * *", "2024-01-01T00:00:30Z", 2),
            ["2024-01-01T00:01:00Z", "2024-01-01T00:02:00Z"]
        );
        assert_eq!(
            next_ticks("*/15 * * * * *", "2024-01-01T00:00:01Z", 2),
            ["2024-01-01T00:00:15Z", "2024-01-01T00:00:30Z"]
        );
    }

    #[test]
    fn reads_five_fields_and_nicknames() {
        assert_eq!(
            next_ticks("30 6 * * 1", "2024-01-01T07:00:00Z", 1),
            ["2024-01-08T06:30:00Z"]
        );
        assert_eq!(
            next_ticks("@daily", "2024-01-01T07:00:00Z", 1),
            ["2024-01-02T00:00:00Z"]
        );
        assert_eq!(
            next_ticks("@hourly", "2024-01-01T07:10:00Z", 1),
            ["2024-01-01T08:00:00Z"]
        );
        assert_eq!(
            next_ticks("@weekly", "2024-01-01T07:10:00Z", 1),
            ["2024-01-07T00:00:00Z"]
        );
        assert_eq!(
            next_ticks("@monthly", "2024-01-15T00:00:00Z", 1),
            ["2024-02-01T00:00:00Z"]
        );
        assert_eq!(
            next_ticks("@yearly", "2024-01-15T00:00:00Z", 1),
            ["2025-01-01T00:00:00Z"]
        );
    }

    #[test]
    fn a_trailing_zone_applies() {
        // 06:30 in Stockholm is 05:30 UTC in winter.
        assert_eq!(
            next_ticks("0 30 6 * * 1 Europe/Stockholm", "2024-01-01T00:00:00Z", 1),
            ["2024-01-01T05:30:00Z"]
        );
        assert_eq!(
            next_ticks("@daily America/New_York", "2024-01-01T00:00:00Z", 1),
            ["2024-01-01T05:00:00Z"]
        );
        assert!(CronRule::parse("0 0 * * * Mars/Olympus").is_err());
    }

    #[test]
    fn a_start_with_a_step_runs_to_the_end_of_the_field() {
        assert_eq!(
            next_ticks("15/30 * * * *", "2024-01-01T00:00:00Z", 3),
            [
                "2024-01-01T00:15:00Z",
                "2024-01-01T00:45:00Z",
                "2024-01-01T01:15:00Z"
            ]
        );
        assert_eq!(
            next_ticks("0 0/5 * * *", "2024-01-01T00:30:00Z", 2),
            ["2024-01-01T05:00:00Z", "2024-01-01T10:00:00Z"]
        );
    }

    #[test]
    fn days_combine_with_or_unless_ampersand() {
        // The 13th, or any Friday (2024-09-06 is a Friday).
        assert_eq!(
            next_ticks("0 0 13 * 5", "2024-09-01T00:00:00Z", 2),
            ["2024-09-06T00:00:00Z", "2024-09-13T00:00:00Z"]
        );
        // Friday the 13th only.
        assert_eq!(
            next_ticks("0 0 13 * &5", "2024-01-01T00:00:00Z", 1),
            ["2024-09-13T00:00:00Z"]
        );
    }

    #[test]
    fn last_day_and_nth_weekday() {
        assert_eq!(
            next_ticks("0 0 L * *", "2024-02-01T00:00:00Z", 1),
            ["2024-02-29T00:00:00Z"]
        );
        assert_eq!(
            next_ticks("0 0 * * 1#2", "2024-01-01T00:00:00Z", 1),
            ["2024-01-08T00:00:00Z"]
        );
        // The last Friday of January 2024 is the 26th.
        assert_eq!(
            next_ticks("0 0 * * 5#-1", "2024-01-01T00:00:00Z", 1),
            ["2024-01-26T00:00:00Z"]
        );
        // 7 is Sunday too; names work.
        assert_eq!(
            next_ticks("0 0 * * 7", "2024-01-01T00:00:00Z", 1),
            ["2024-01-07T00:00:00Z"]
        );
        assert_eq!(
            next_ticks("0 0 * JAN MON", "2024-01-01T01:00:00Z", 1),
            ["2024-01-08T00:00:00Z"]
        );
    }

    #[test]
    fn refuses_bad_lines() {
        assert!(CronRule::parse("* * *").is_err());
        assert!(CronRule::parse("0 0 0 1 1 * 2030").is_err());
        assert!(CronRule::parse("61 * * * *").is_err());
    }

    #[test]
    fn spring_forward_runs_the_missing_time_after_the_gap() {
        // 2024-03-10, New York: 02:00 EST jumps to 03:00 EDT; 02:30 does not exist.
        assert_eq!(
            next_ticks("30 2 * * * America/New_York", "2024-03-09T12:00:00Z", 3),
            [
                "2024-03-10T07:00:00Z",
                "2024-03-11T06:30:00Z",
                "2024-03-12T06:30:00Z"
            ]
        );
    }

    #[test]
    fn fall_back_runs_a_repeated_time_once() {
        // 2024-11-03, New York: 01:30 happens at 05:30Z (EDT) and again at 06:30Z (EST).
        assert_eq!(
            next_ticks("30 1 * * * America/New_York", "2024-11-02T12:00:00Z", 2),
            ["2024-11-03T05:30:00Z", "2024-11-04T06:30:00Z"]
        );
    }

    #[test]
    fn minute_steps_keep_real_time_across_dst() {
        assert_eq!(
            next_ticks("*/30 * * * * America/New_York", "2024-03-10T06:40:00Z", 3),
            [
                "2024-03-10T07:00:00Z",
                "2024-03-10T07:30:00Z",
                "2024-03-10T08:00:00Z"
            ]
        );
        assert_eq!(
            next_ticks("*/30 * * * * America/New_York", "2024-11-03T05:40:00Z", 3),
            [
                "2024-11-03T06:00:00Z",
                "2024-11-03T06:30:00Z",
                "2024-11-03T07:00:00Z"
            ]
        );
    }

    #[test]
    fn previous_tick_includes_now() {
        let rule = CronRule::parse("0 * * * *").unwrap();
        let hour = epoch("2024-01-01T05:00:00Z");
        assert_eq!(rule.previous(hour), Some(hour));
        assert_eq!(rule.previous(hour + 59.0), Some(hour));
    }

    fn entry(json: &str) -> Map<String, Value> {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn every_keeps_its_rhythm_from_registration() {
        let rule = Rule::from_entry(&entry(r#"{"every":"10s"}"#)).unwrap();
        assert_eq!(rule.previous(100.0, 105.0), None);
        assert_eq!(rule.next(100.0, 105.0), Some(110.0));
        assert_eq!(rule.previous(100.0, 135.0), Some(130.0));
        assert_eq!(rule.next(100.0, 130.0), Some(140.0));
        let first_in = Rule::from_entry(&entry(r#"{"every":["1m",{"first_in":"0s"}]}"#)).unwrap();
        assert_eq!(first_in.previous(100.0, 100.0), Some(100.0));
        assert_eq!(first_in.next(100.0, 100.0), Some(160.0));
        let interval = Rule::from_entry(&entry(r#"{"interval":"1d2h"}"#)).unwrap();
        assert_eq!(interval.next(0.0, 0.0), Some(93_600.0));
    }

    #[test]
    fn at_and_in_fire_once() {
        let at = Rule::from_entry(&entry(r#"{"at":"2030-01-01 12:00:00 +0000"}"#)).unwrap();
        let noon = epoch("2030-01-01T12:00:00Z");
        assert_eq!(at.next(noon - 10.0, noon - 5.0), Some(noon));
        assert_eq!(at.previous(noon - 10.0, noon + 5.0), Some(noon));
        assert_eq!(at.next(noon - 10.0, noon), None);
        // Registered after its time: never fires.
        assert_eq!(at.previous(noon + 1.0, noon + 5.0), None);
        let delay = Rule::from_entry(&entry(r#"{"in":"5m"}"#)).unwrap();
        assert_eq!(delay.next(1000.0, 1000.0), Some(1300.0));
        assert_eq!(delay.previous(1000.0, 1400.0), Some(1300.0));
        assert_eq!(delay.next(1000.0, 1300.0), None);
    }

    #[test]
    fn takes_the_first_rule_in_sidekiq_schedulers_order() {
        let both = Rule::from_entry(&entry(r#"{"every":"1h","cron":"0 0 * * *"}"#)).unwrap();
        assert!(matches!(both, Rule::Cron(_)));
        let empty_cron = Rule::from_entry(&entry(r#"{"cron":"","every":"1h"}"#)).unwrap();
        assert!(matches!(empty_cron, Rule::Every { .. }));
        assert!(Rule::from_entry(&entry(r#"{"class":"X"}"#)).is_err());
    }

    #[test]
    fn writes_times_as_sidekiq_scheduler_does() {
        assert_eq!(
            scheduler_time(epoch("2024-03-10T07:00:00Z")),
            "2024-03-10 07:00:00 +0000"
        );
    }
}

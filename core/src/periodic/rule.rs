//! The rule of a periodic entry (`cron`, `every`/`interval`, `at` or `in`) as sidekiq-scheduler
//! reads it, with rufus' options for `every`, and when it ticks.

use chrono::{DateTime, NaiveDateTime};
use serde_json::{Map, Value};

use super::cron::{utc, CronRule};
use super::duration::parse_duration;

/// When a periodic entry fires.
#[derive(Debug, Clone)]
pub enum Rule {
    Cron(Box<CronRule>),
    Every(EveryRule),
    /// Once, at an epoch second.
    At(f64),
    /// Once, this many seconds after the entry was registered.
    In(f64),
}

/// `every`/`interval`, with rufus' options (docs/design.md, §5.1).
#[derive(Debug, Clone, PartialEq)]
pub struct EveryRule {
    /// Seconds between ticks.
    pub period: f64,
    /// The first tick (`first_in`, `first_at`, `first`; one period after registration without).
    pub first: Moment,
    /// No tick at or after this (`last_at`, `last_in`, `last`).
    pub last: Option<Moment>,
    /// At most this many ticks pushed in all (`times`), counted in Redis by the scheduler.
    pub times: Option<u64>,
}

/// A time an option names: seconds after the entry was registered, or an epoch second.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Moment {
    After(f64),
    At(f64),
}

impl Moment {
    fn epoch(self, since: f64) -> f64 {
        match self {
            Moment::After(seconds) => since + seconds,
            Moment::At(epoch) => epoch,
        }
    }
}

/// rufus reads each of its time options as a duration from now when it parses as one (a
/// number included), else as a time; `now` and `immediately` are a duration of 0.
fn moment(key: &str, value: &Value) -> Result<Moment, String> {
    match value {
        Value::String(text) if matches!(text.trim(), "now" | "immediately") => {
            Ok(Moment::After(0.0))
        }
        Value::String(text) => match parse_duration(text) {
            Ok(seconds) => Ok(Moment::After(seconds)),
            Err(_) => at_time(value)
                .map(Moment::At)
                .map_err(|_| format!("{key}: not a duration or a time: {text:?}")),
        },
        Value::Number(_) => duration_value(value).map(Moment::After),
        other => Err(format!("{key}: not a duration or a time: {other}")),
    }
}

/// The first of `keys` present in rufus' options.
fn option<'a>(options: Option<&'a Value>, keys: &[&str]) -> Option<(String, &'a Value)> {
    let options = options?;
    keys.iter().find_map(|key| {
        options
            .get(*key)
            .filter(|value| !value.is_null())
            .map(|value| (key.to_string(), value))
    })
}

/// `every`/`interval` values are a duration or `[duration, {options}]`, with rufus' options
/// `first_in`/`first_at`/`first`, `last_at`/`last_in`/`last` and `times` (`overlap` has nothing
/// to act on: a tick only pushes a job).
fn every_rule(value: &Value) -> Result<Rule, String> {
    let (period, options) = match value {
        Value::Array(items) => (items.first().cloned().unwrap_or(Value::Null), items.get(1)),
        other => (other.clone(), None),
    };
    let period = duration_value(&period)?;
    if period <= 0.0 {
        return Err("the period must be positive".to_string());
    }
    let first = match option(options, &["first", "first_time", "first_at", "first_in"]) {
        Some((key, value)) => moment(&key, value)?,
        None => Moment::After(period),
    };
    let last = match option(options, &["last", "last_at", "last_in"]) {
        Some((key, value)) => Some(moment(&key, value)?),
        None => None,
    };
    let times = match option(options, &["times"]) {
        Some((_, value)) => Some(
            value
                .as_u64()
                .ok_or_else(|| format!("times: not a count: {value}"))?,
        ),
        None => None,
    };
    Ok(Rule::Every(EveryRule {
        period,
        first,
        last,
        times,
    }))
}

impl EveryRule {
    /// The latest tick at or before `now`.
    fn previous(&self, since: f64, now: f64) -> Option<f64> {
        let start = self.first.epoch(since);
        if now < start {
            return None;
        }
        let mut count = ((now - start) / self.period).floor();
        if let Some(last) = self.last.map(|last| last.epoch(since)) {
            // The last tick before `last_at`, when `now` is past it.
            count = count.min(((last - start) / self.period).ceil() - 1.0);
        }
        (count >= 0.0).then_some(start + count * self.period)
    }

    /// The first tick after `now`.
    fn next(&self, since: f64, now: f64) -> Option<f64> {
        let start = self.first.epoch(since);
        let tick = if now < start {
            start
        } else {
            start + (((now - start) / self.period).floor() + 1.0) * self.period
        };
        match self.last {
            Some(last) if tick >= last.epoch(since) => None,
            _ => Some(tick),
        }
    }
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
    /// `name` seeds the cron's `~` picks.
    pub fn from_entry(name: &str, entry: &Map<String, Value>) -> Result<Self, String> {
        let present = |key: &str| {
            entry
                .get(key)
                .filter(|v| !v.is_null() && v.as_str() != Some(""))
        };
        if let Some(cron) = present("cron") {
            let line = cron.as_str().ok_or("cron must be a string")?;
            return CronRule::parse_for(name, line).map(|rule| Rule::Cron(Box::new(rule)));
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

    /// Refuses what rufus refuses when the entry is scheduled: a first or last tick before the
    /// entry was registered (`since`).
    pub fn check(&self, since: f64) -> Result<(), String> {
        let Rule::Every(every) = self else {
            return Ok(());
        };
        if every.first.epoch(since) < since {
            return Err("first_at is before the entry was written".to_string());
        }
        if every.last.is_some_and(|last| last.epoch(since) < since) {
            return Err("last_at is before the entry was written".to_string());
        }
        Ok(())
    }

    /// How many ticks the entry may push in all (rufus' `times`), if limited.
    pub fn times(&self) -> Option<u64> {
        match self {
            Rule::Every(every) => every.times,
            _ => None,
        }
    }

    /// The latest tick at or before `now` that is not before `since` (when the entry was
    /// registered), if any.
    pub fn previous(&self, since: f64, now: f64) -> Option<f64> {
        let tick = match self {
            Rule::Cron(cron) => cron.previous(now)?,
            Rule::Every(every) => every.previous(since, now)?,
            Rule::At(at) => *at,
            Rule::In(delay) => since + delay,
        };
        (tick >= since && tick <= now).then_some(tick)
    }

    /// The first tick after `now` (and not before `since`).
    pub fn next(&self, since: f64, now: f64) -> Option<f64> {
        match self {
            Rule::Cron(cron) => cron.next(now.max(since - 1.0)),
            Rule::Every(every) => every.next(since, now),
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
    use super::super::testing::{entry, epoch};
    use super::*;

    #[test]
    fn every_keeps_its_rhythm_from_registration() {
        let rule = Rule::from_entry("x", &entry(r#"{"every":"10s"}"#)).unwrap();
        assert_eq!(rule.previous(100.0, 105.0), None);
        assert_eq!(rule.next(100.0, 105.0), Some(110.0));
        assert_eq!(rule.previous(100.0, 135.0), Some(130.0));
        assert_eq!(rule.next(100.0, 130.0), Some(140.0));
        let first_in =
            Rule::from_entry("x", &entry(r#"{"every":["1m",{"first_in":"0s"}]}"#)).unwrap();
        assert_eq!(first_in.previous(100.0, 100.0), Some(100.0));
        assert_eq!(first_in.next(100.0, 100.0), Some(160.0));
        let interval = Rule::from_entry("x", &entry(r#"{"interval":"1d2h"}"#)).unwrap();
        assert_eq!(interval.next(0.0, 0.0), Some(93_600.0));
    }

    // rufus' options: `first_in`/`first_at`/`first` (a duration, or a time), `last_at`/
    // `last_in`, `times`.
    #[test]
    fn every_takes_rufus_first_last_and_times() {
        let rule = |json: &str| Rule::from_entry("x", &entry(json)).unwrap();
        let first_at = rule(r#"{"every":["10s",{"first_at":"2030-01-01 12:00:00 +0000"}]}"#);
        let noon = epoch("2030-01-01T12:00:00Z");
        assert_eq!(first_at.next(noon - 100.0, noon - 50.0), Some(noon));
        assert_eq!(first_at.previous(noon - 100.0, noon - 1.0), None);
        assert_eq!(
            first_at.previous(noon - 100.0, noon + 25.0),
            Some(noon + 20.0)
        );
        assert_eq!(first_at.next(noon - 100.0, noon + 25.0), Some(noon + 30.0));
        assert!(first_at.check(noon - 100.0).is_ok());
        // rufus refuses a first time in the past.
        let refused = first_at.check(noon + 1.0).unwrap_err();
        assert!(refused.contains("first_at"), "{refused}");

        // `first` and `first_in` are durations from registration; `now` is 0.
        assert_eq!(
            rule(r#"{"every":["1m",{"first":"now"}]}"#).next(100.0, 99.0),
            Some(100.0)
        );
        assert_eq!(
            rule(r#"{"every":["1m",{"first_in":5}]}"#).next(100.0, 99.0),
            Some(105.0)
        );

        // No tick at or after `last_at`; `last_in` counts from registration.
        let last_in = rule(r#"{"every":["10s",{"first_in":"0s","last_in":"30s"}]}"#);
        assert_eq!(last_in.next(100.0, 115.0), Some(120.0));
        assert_eq!(last_in.next(100.0, 120.0), None);
        assert_eq!(last_in.previous(100.0, 125.0), Some(120.0));
        assert_eq!(last_in.previous(100.0, 500.0), Some(120.0));
        let last_at = rule(r#"{"interval":["10s",{"last_at":"2030-01-01 12:00:00 +0000"}]}"#);
        assert_eq!(last_at.next(noon - 25.0, noon - 10.0), Some(noon - 5.0));
        assert_eq!(last_at.next(noon - 25.0, noon - 5.0), None);
        assert!(last_at.check(noon + 1.0).is_err());

        let times = rule(r#"{"every":["30s",{"times":3}]}"#);
        assert_eq!(times.times(), Some(3));
        assert_eq!(rule(r#"{"every":"30s"}"#).times(), None);
        assert!(Rule::from_entry("x", &entry(r#"{"every":["30s",{"times":"x"}]}"#)).is_err());
        assert!(Rule::from_entry("x", &entry(r#"{"every":["30s",{"first_at":"soon"}]}"#)).is_err());
        // `overlap` has nothing to do here and is accepted.
        assert!(Rule::from_entry("x", &entry(r#"{"every":["30s",{"overlap":false}]}"#)).is_ok());
    }

    #[test]
    fn at_and_in_fire_once() {
        let at = Rule::from_entry("x", &entry(r#"{"at":"2030-01-01 12:00:00 +0000"}"#)).unwrap();
        let noon = epoch("2030-01-01T12:00:00Z");
        assert_eq!(at.next(noon - 10.0, noon - 5.0), Some(noon));
        assert_eq!(at.previous(noon - 10.0, noon + 5.0), Some(noon));
        assert_eq!(at.next(noon - 10.0, noon), None);
        // Registered after its time: never fires.
        assert_eq!(at.previous(noon + 1.0, noon + 5.0), None);
        let delay = Rule::from_entry("x", &entry(r#"{"in":"5m"}"#)).unwrap();
        assert_eq!(delay.next(1000.0, 1000.0), Some(1300.0));
        assert_eq!(delay.previous(1000.0, 1400.0), Some(1300.0));
        assert_eq!(delay.next(1000.0, 1300.0), None);
    }

    #[test]
    fn takes_the_first_rule_in_sidekiq_schedulers_order() {
        let both = Rule::from_entry("x", &entry(r#"{"every":"1h","cron":"0 0 * * *"}"#)).unwrap();
        assert!(matches!(both, Rule::Cron(_)));
        let empty_cron = Rule::from_entry("x", &entry(r#"{"cron":"","every":"1h"}"#)).unwrap();
        assert!(matches!(empty_cron, Rule::Every(_)));
        assert!(Rule::from_entry("x", &entry(r#"{"class":"X"}"#)).is_err());
    }

    #[test]
    fn writes_times_as_sidekiq_scheduler_does() {
        assert_eq!(
            scheduler_time(epoch("2024-03-10T07:00:00Z")),
            "2024-03-10 07:00:00 +0000"
        );
    }
}

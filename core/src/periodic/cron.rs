//! Cron is parsed by `croner` (maintained, MIT, 5/6 fields, `L`/`#`/names, POSIX day OR, a
//! documented DST policy, previous and next occurrence). The `cron` crate needs a seconds field
//! and `saffron` has neither seconds nor zones, so croner is the only drop-in; the small layer
//! below covers what fugit accepts and croner does not: a trailing IANA zone, `N/S` meaning
//! `N-max/S`, `&` for day-of-month AND day-of-week, `#-1` for the last weekday of a month.
//!
//! DST policy (croner's, on purpose, unlike fugit): a local time that does not exist on the
//! spring-forward day runs at the first instant after the gap (02:30 → 03:00); a local time that
//! occurs twice on the fall-back day runs once, at its first occurrence.

use std::str::FromStr;

use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use croner::parser::{CronParser, Seconds, Year};
use croner::Cron;

use super::nat;

/// A cron line with its zone (UTC unless the line names one).
#[derive(Debug, Clone)]
pub struct CronRule {
    cron: Cron,
    zone: Tz,
    /// fugit's `dow%n[+k]` weekdays, which match only every nth week.
    modulo: Vec<WeekModulo>,
    /// With `modulo`: the line without those weekdays (its other weekdays, or its day of month
    /// under OR), which a day may match instead; None when nothing else matches.
    plain: Option<Cron>,
}

/// `dow%every+offset`: `day` matches in the weeks whose number modulo `every` is `offset`
/// modulo `every`. Weeks are numbered as et-orbi's `rweek` (fugit >= 1.12, its default ISO
/// reference): whole weeks from Monday 2018-12-31, counted on the calendar in the cron's zone
/// (docs/design.md, §5.1).
#[derive(Debug, Clone, Copy)]
struct WeekModulo {
    day: u32,
    every: i64,
    offset: i64,
}

/// The Monday et-orbi counts reference weeks from.
const REFERENCE_MONDAY: (i32, u32, u32) = (2018, 12, 31);
/// Days a `%` cron may skip before it is taken as never matching (fugit gives up after 2,048
/// steps too); a day-of-week field matches at least one day a week, so `%300` still fits.
const MODULO_SEARCH: usize = 2_048;

impl WeekModulo {
    fn matches(&self, date: NaiveDate) -> bool {
        let (year, month, day) = REFERENCE_MONDAY;
        let Some(reference) = NaiveDate::from_ymd_opt(year, month, day) else {
            return false;
        };
        let week = (date - reference).num_days().div_euclid(7);
        date.weekday().num_days_from_sunday() == self.day
            && week.rem_euclid(self.every) == self.offset.rem_euclid(self.every)
    }
}

const NICKNAMES: [(&str, &str); 8] = [
    ("@yearly", "0 0 1 1 *"),
    ("@annually", "0 0 1 1 *"),
    ("@monthly", "0 0 1 * *"),
    ("@weekly", "0 0 * * 0"),
    ("@daily", "0 0 * * *"),
    ("@midnight", "0 0 * * *"),
    ("@noon", "0 12 * * *"),
    ("@hourly", "0 * * * *"),
];

/// What a field holds, by its position in a 5- or 6-field line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Second,
    Minute,
    Hour,
    DayOfMonth,
    Month,
    DayOfWeek,
}

impl Field {
    fn at(index: usize, fields: usize) -> Self {
        let minute_first = if fields == 6 { index } else { index + 1 };
        match minute_first {
            0 => Field::Second,
            1 => Field::Minute,
            2 => Field::Hour,
            3 => Field::DayOfMonth,
            4 => Field::Month,
            _ => Field::DayOfWeek,
        }
    }

    /// The field's values, as fugit bounds its `~` picks (Sunday is 0 only).
    fn bounds(self) -> (i64, i64) {
        match self {
            Field::Second | Field::Minute => (0, 59),
            Field::Hour => (0, 23),
            Field::DayOfMonth => (1, 31),
            Field::Month => (1, 12),
            Field::DayOfWeek => (0, 6),
        }
    }

    /// The largest value, for `N/S` → `N-max/S` (7 is Sunday again).
    fn max(self) -> i64 {
        match self {
            Field::DayOfWeek => 7,
            other => other.bounds().1,
        }
    }

    /// A value as fugit reads it in this field: a number, or a month or weekday name.
    fn value(self, word: &str) -> Option<i64> {
        if let Ok(number) = word.parse::<i64>() {
            return Some(number);
        }
        let lower = word.to_ascii_lowercase();
        let names: &[&str] = match self {
            Field::Month => &[
                "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
            ],
            Field::DayOfWeek => &["sun", "mon", "tue", "wed", "thu", "fri", "sat"],
            _ => &[],
        };
        let offset = i64::from(self == Field::Month);
        names
            .iter()
            .position(|name| *name == lower)
            .map(|index| index as i64 + offset)
    }
}

/// FNV-1a, 64 bits: a hash that never changes between builds, Rust versions or hosts, so that
/// every process of a cluster derives the same `~` values (docs/design.md, §5.1).
fn stable_hash(parts: &[&[u8]]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for byte in part.iter().chain(&[0xff]) {
            hash ^= u64::from(*byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    hash
}

/// Where a `~` element's pick comes from: the entry's name and cron line, and the element's
/// place in the line, so two entries with the same line usually differ and every process of
/// the cluster picks the same value for one entry.
struct Seed<'a> {
    name: &'a str,
    line: &'a str,
}

impl Seed<'_> {
    /// A number in 0..n for the `element`th element of field number `field`.
    fn pick(&self, field: usize, element: usize, n: i64) -> i64 {
        let hash = stable_hash(&[
            self.name.as_bytes(),
            self.line.as_bytes(),
            field.to_string().as_bytes(),
            element.to_string().as_bytes(),
        ]);
        (hash % n.max(1) as u64) as i64
    }
}

/// fugit's `a~b`, `~`, `a~`, `~b`, with an optional `/step`: a value between the bounds
/// (wrapping past the end when `a > b`), fixed by `pick` instead of fugit's `rand`; with a
/// step, the values from that one to `b` (or the field's end) every `step`. Returns the
/// element as a plain cron list.
fn tilde_element(field: Field, text: &str, pick: impl Fn(i64) -> i64) -> Result<String, String> {
    let invalid = || format!("invalid random element {text:?}");
    let (range, step) = match text.split_once('/') {
        Some((range, step)) => (range, Some(step.parse::<i64>().map_err(|_| invalid())?)),
        None => (text, None),
    };
    if step.is_some_and(|step| step < 1) {
        return Err(invalid());
    }
    let (low, high) = range.split_once('~').ok_or_else(invalid)?;
    let bound = |word: &str| -> Result<Option<i64>, String> {
        if word.is_empty() {
            return Ok(None);
        }
        field.value(word).map(Some).ok_or_else(invalid)
    };
    let (min, max) = field.bounds();
    let (low, high) = (bound(low)?, bound(high)?);
    let start = low.unwrap_or(min);
    let end = high.unwrap_or(max);
    if start < min || end > max {
        return Err(invalid());
    }
    let mut span = end - start + 1;
    if span <= 0 {
        span += max - min + 1;
    }
    if let Some(step) = step {
        span = span.min(step);
    }
    let mut value = start + pick(span);
    if value > max {
        value += min - max - 1;
    }
    let Some(step) = step else {
        return Ok(value.to_string());
    };
    let mut values = Vec::new();
    if field == Field::DayOfWeek {
        // fugit: without an upper bound a stepped weekday pick stays that one day.
        let mut last = high.unwrap_or(value);
        if value > last {
            last += 7;
        }
        let mut day = value;
        while day <= last {
            values.push((day % 7).to_string());
            day += step;
        }
    } else {
        let mut current = value;
        let mut index = 0;
        loop {
            if index % step == 0 {
                values.push(current.to_string());
            }
            if current == end || index > 2 * max {
                break;
            }
            current = if current == max { min } else { current + 1 };
            index += 1;
        }
    }
    Ok(values.join(","))
}

/// `dow%n` or `dow%n+k`, if `part` is one.
fn week_modulo(part: &str) -> Result<Option<WeekModulo>, String> {
    let Some((day, rest)) = part.split_once('%') else {
        return Ok(None);
    };
    let invalid = || format!("invalid day-of-week modulo {part:?}");
    let (every, offset) = match rest.split_once('+') {
        Some((every, offset)) => (every, offset),
        None => (rest, "0"),
    };
    let day = Field::DayOfWeek
        .value(day)
        .filter(|day| (0..=7).contains(day))
        .ok_or_else(invalid)?;
    let every: i64 = every.parse().map_err(|_| invalid())?;
    let offset: i64 = offset.parse().map_err(|_| invalid())?;
    if every < 1 || offset < 0 {
        return Err(invalid());
    }
    Ok(Some(WeekModulo {
        day: (day % 7) as u32,
        every,
        offset,
    }))
}

fn croner(fields: &[String], dom_and_dow: bool, line: &str) -> Result<Cron, String> {
    CronParser::builder()
        .seconds(Seconds::Optional)
        .year(Year::Disallowed)
        .dom_and_dow(dom_and_dow)
        .build()
        .parse(&fields.join(" "))
        .map_err(|e| format!("invalid cron line {line:?}: {e}"))
}

impl CronRule {
    /// A cron line without a name to seed its `~` picks with (they then depend on the line
    /// only).
    pub fn parse(line: &str) -> Result<Self, String> {
        Self::parse_for("", line)
    }

    /// The cron line of the entry `name`: fugit's syntax, or a natural-language one such as
    /// `every day at noon` (the first cron it stands for, as sidekiq-cron's default `:single`
    /// mode takes it).
    pub fn parse_for(name: &str, line: &str) -> Result<Self, String> {
        if line
            .trim_start()
            .starts_with(|c: char| c.is_ascii_alphabetic())
        {
            let crons = nat::crons(line)?;
            let first = crons
                .first()
                .ok_or_else(|| format!("not a cron: {line:?}"))?;
            return Self::parse_for(name, first);
        }
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
        let seed = Seed { name, line };
        let count = words.len();
        let mut dom_and_dow = false;
        let mut modulo = Vec::new();
        let mut plain_days = Vec::new();
        let mut fields = Vec::with_capacity(count);
        for (index, word) in words.iter().enumerate() {
            let field = Field::at(index, count);
            let mut text = word.replace("#-1", "#L");
            if field == Field::DayOfWeek && text.starts_with('&') {
                dom_and_dow = true;
                text.remove(0);
            }
            let mut parts = Vec::new();
            for (element, part) in text.split(',').enumerate() {
                let part = if part.contains('~') {
                    tilde_element(field, part, |n| seed.pick(index, element, n))?
                } else {
                    part.to_string()
                };
                let part = match part.split_once('/') {
                    Some((start, step)) if start.chars().all(|c| c.is_ascii_digit()) => {
                        format!("{start}-{}/{step}", field.max())
                    }
                    _ => part,
                };
                if field == Field::DayOfWeek {
                    if let Some(week) = week_modulo(&part)? {
                        parts.push(week.day.to_string());
                        modulo.push(week);
                        continue;
                    }
                    plain_days.push(part.clone());
                }
                parts.push(part);
            }
            fields.push(parts.join(","));
        }
        let cron = croner(&fields, dom_and_dow, line)?;
        let plain = if modulo.is_empty() {
            None
        } else {
            let dom_restricted = !matches!(fields[count - 3].as_str(), "*" | "?");
            let other_days = if !plain_days.is_empty() {
                Some(plain_days.join(","))
            } else if dom_restricted && !dom_and_dow {
                Some("*".to_string())
            } else {
                None
            };
            match other_days {
                Some(days) => {
                    fields[count - 1] = days;
                    Some(croner(&fields, dom_and_dow, line)?)
                }
                None => None,
            }
        };
        Ok(Self {
            cron,
            zone,
            modulo,
            plain,
        })
    }

    /// Whether a tick croner found is one: always, unless the line has `%` weekdays.
    fn accepts(&self, tick: &DateTime<Tz>) -> bool {
        self.modulo.is_empty()
            || self
                .modulo
                .iter()
                .any(|week| week.matches(tick.date_naive()))
            || self
                .plain
                .as_ref()
                .is_some_and(|plain| plain.is_time_matching(tick).unwrap_or(false))
    }

    /// The latest tick at or before `now` (epoch seconds).
    pub fn previous(&self, now: f64) -> Option<f64> {
        let mut at = self.zone.from_utc_datetime(&utc(now)?.naive_utc());
        let mut inclusive = true;
        for _ in 0..MODULO_SEARCH {
            let tick = self.cron.find_previous_occurrence(&at, inclusive).ok()?;
            if self.accepts(&tick) {
                return Some(tick.timestamp() as f64);
            }
            // The day is not in one of its weeks: go on from the day before.
            at = self.local(tick.date_naive(), 0, 0, 0).unwrap_or(tick);
            inclusive = false;
        }
        None
    }

    /// The first tick after `now`.
    pub fn next(&self, now: f64) -> Option<f64> {
        let mut at = self.zone.from_utc_datetime(&utc(now)?.naive_utc());
        for _ in 0..MODULO_SEARCH {
            let tick = self.cron.find_next_occurrence(&at, false).ok()?;
            if self.accepts(&tick) {
                return Some(tick.timestamp() as f64);
            }
            at = self
                .local(tick.date_naive(), 23, 59, 59)
                .unwrap_or(tick + chrono::Duration::hours(1));
        }
        None
    }

    /// A wall-clock time of `date` in the rule's zone: its first instant when it occurs twice,
    /// an hour later when a DST gap skips it (some zones skip midnight).
    fn local(&self, date: NaiveDate, hour: u32, minute: u32, second: u32) -> Option<DateTime<Tz>> {
        let time = date.and_hms_opt(hour, minute, second)?;
        self.zone.from_local_datetime(&time).earliest().or_else(|| {
            self.zone
                .from_local_datetime(&(time + chrono::Duration::hours(1)))
                .earliest()
        })
    }
}
pub(super) fn utc(epoch: f64) -> Option<DateTime<Utc>> {
    let millis = (epoch * 1000.0).floor() as i64;
    DateTime::from_timestamp_millis(millis)
}

/// The cron lines a natural-language cron stands for (`every day at 18:15 and 20:45` is two),
/// for sidekiq-cron's `:strict` mode, which refuses more than one.
pub fn natural_crons(text: &str) -> Result<Vec<String>, String> {
    nat::crons(text)
}

#[cfg(test)]
mod tests {
    use super::super::testing::{entry, epoch, iso};
    use super::super::Rule;
    use super::*;

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

    fn ticks_utc(line: &str, from: &str, count: usize) -> Vec<String> {
        next_ticks(line, from, count)
            .iter()
            .map(|tick| tick[..16].replace('T', " "))
            .collect()
    }

    // fugit's `%` vectors (its cron specs, gh-1, gh-47, gh-76, gh-114).
    #[test]
    fn modulo_weeks_count_from_monday_2018_12_31() {
        assert_eq!(
            next_ticks("0 9 * * sat%2", "2019-01-01T09:00:00Z", 1),
            ["2019-01-05T09:00:00Z"]
        );
        assert_eq!(
            next_ticks("0 10 * * sun%2 Europe/Berlin", "2019-04-11T07:00:00Z", 1),
            ["2019-04-14T08:00:00Z"]
        );
        assert_eq!(
            next_ticks("0 10 * * sun%2+1 Europe/Berlin", "2019-04-11T07:00:00Z", 1),
            ["2019-04-21T08:00:00Z"]
        );
        // An offset as large as the modulo is the offset 0 (gh-47).
        assert_eq!(
            next_ticks("0 8 * * 1%2+2", "2021-04-21T07:00:00Z", 1),
            ["2021-05-03T08:00:00Z"]
        );
        assert_eq!(
            next_ticks("0 8 * * 1%2", "2021-04-21T07:00:00Z", 1),
            ["2021-05-03T08:00:00Z"]
        );
        // Weeks are counted on the zone's calendar (gh-76).
        assert_eq!(
            next_ticks(
                "30 14 * * 4%4+3 Australia/Melbourne",
                "2022-09-12T12:01:01Z",
                1
            ),
            ["2022-09-29T04:30:00Z"]
        );
        assert_eq!(
            ticks_utc("0 12 * * 0%2+1,3%2+1", "2025-09-25T00:00:00Z", 7),
            [
                "2025-09-28 12:00",
                "2025-10-08 12:00",
                "2025-10-12 12:00",
                "2025-10-22 12:00",
                "2025-10-26 12:00",
                "2025-11-05 12:00",
                "2025-11-09 12:00"
            ]
        );
        let fourth_tuesdays = ticks_utc("20 0 * * 2%4", "2025-09-25T00:00:00Z", 14);
        assert_eq!(fourth_tuesdays[0], "2025-09-30 00:20");
        assert_eq!(fourth_tuesdays[1], "2025-10-28 00:20");
        assert_eq!(fourth_tuesdays[13], "2026-09-29 00:20");
        assert_eq!(
            ticks_utc("12 0 * * wed%4,wed%4+1", "2025-09-25T00:00:00Z", 6),
            [
                "2025-10-01 00:12",
                "2025-10-08 00:12",
                "2025-10-29 00:12",
                "2025-11-05 00:12",
                "2025-11-26 00:12",
                "2025-12-03 00:12"
            ]
        );
    }

    // fugit's previous-time vectors for `%` in zones (gh-95, gh-96).
    #[test]
    fn modulo_previous_ticks() {
        let previous = |line: &str, now: &str| {
            let rule = CronRule::parse(line).unwrap();
            iso(rule.previous(epoch(now)).unwrap())
        };
        assert_eq!(
            previous("21 0 * * 1%2 America/Sao_Paulo", "2024-03-13T11:00:00Z"),
            "2024-03-04T03:21:00Z"
        );
        assert_eq!(
            previous("20 0 * * 2%4 Europe/London", "2024-03-21T11:00:00Z"),
            "2024-03-19T00:20:00Z"
        );
        assert_eq!(
            previous("20 9 * * 2%4 Australia/Melbourne", "2024-03-21T11:00:00Z"),
            "2024-03-18T22:20:00Z"
        );
        assert_eq!(
            previous("0 7 * * 2%2 America/Bogota", "2024-03-21T11:00:00Z"),
            "2024-03-19T12:00:00Z"
        );
    }

    #[test]
    fn modulo_weekdays_mix_with_plain_ones_and_the_day_of_month() {
        // Every Friday, and the Mondays of even weeks (2025-09-29 is in week 352).
        assert_eq!(
            ticks_utc("0 0 * * 1%2,5", "2025-09-26T01:00:00Z", 4),
            [
                "2025-09-29 00:00",
                "2025-10-03 00:00",
                "2025-10-10 00:00",
                "2025-10-13 00:00"
            ]
        );
        // The 13th, or the Fridays of odd weeks (OR, as without `%`); 2025-10-03 is in week
        // 352.
        assert_eq!(
            ticks_utc("0 0 13 * 5%2+1", "2025-09-26T01:00:00Z", 3),
            ["2025-10-10 00:00", "2025-10-13 00:00", "2025-10-24 00:00"]
        );
        // `&`: a 13th that is a Friday of an even week.
        assert_eq!(
            ticks_utc("0 0 13 * &5%2", "2024-01-01T00:00:00Z", 1),
            ["2024-12-13 00:00"]
        );
        assert!(CronRule::parse("0 0 * * 1%0").is_err());
        assert!(CronRule::parse("0 0 * * 9%2").is_err());
    }

    /// A line with its `~` elements expanded by `pick`, as fugit's parser with a given `rand`.
    fn expand(line: &str, pick: fn(i64) -> i64) -> String {
        let words: Vec<&str> = line.split(' ').collect();
        words
            .iter()
            .enumerate()
            .map(|(index, word)| {
                let field = Field::at(index, words.len());
                if word.contains('~') {
                    tilde_element(field, word, pick).unwrap()
                } else {
                    word.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join(" ")
    }

    // fugit's `~` vectors (gh-80), with its test's `rand(n) = n / 2` and `random: false`.
    #[test]
    fn tilde_picks_as_fugit_does_for_a_given_draw() {
        let half = |n: i64| n / 2;
        assert_eq!(expand("~ ~ ~ ~ ~", |_| 0), "0 0 1 1 0");
        assert_eq!(expand("~ ~ ~ ~ ~", half), "30 12 16 7 3");
        assert_eq!(expand("~30 * * * ~4", half), "15 * * * 2");
        assert_eq!(expand("~30/10 * * * ~4/2", half), "5,15,25 * * * 1,3");
        assert_eq!(expand("30~ * * * 4~", half), "45 * * * 5");
        assert_eq!(expand("30~/10 * * * 4~/2", half), "35,45,55 * * * 5");
        assert_eq!(expand("* * * 11~4 5~1", half), "* * * 2 0");
        assert_eq!(expand("* * * 11~4/2 *", half), "* * * 12,2,4 *");
        assert_eq!(expand("0 12 * * mon~fri", half), "0 12 * * 3");
        for line in [
            "~30/10 * * * ~4/2",
            "30~/10 * * * 4~/2",
            "* * * 11~4/2 *",
            "~ ~ ~ ~ ~",
        ] {
            assert!(CronRule::parse(line).is_ok(), "{line}");
        }
        assert!(CronRule::parse("70~80 * * * *").is_err());
        assert!(CronRule::parse("~/0 * * * *").is_err());
    }

    #[test]
    fn tilde_picks_depend_only_on_the_entry_name_and_line() {
        let first = |name: &str, line: &str| {
            let rule = CronRule::parse_for(name, line).unwrap();
            iso(rule.next(epoch("2024-01-01T00:00:00Z")).unwrap())
        };
        // Every process computes the same tick for one entry...
        assert_eq!(first("report", "~ ~ * * *"), first("report", "~ ~ * * *"));
        // ...pinned, so that no change of the hash moves a cluster's ticks on upgrade...
        assert_eq!(first("report", "~ ~ * * *"), "2024-01-01T06:55:00Z");
        // ...and other entries with the same line spread over the hour.
        let minutes: std::collections::HashSet<String> = (0..20)
            .map(|n| first(&format!("entry{n}"), "~ * * * *"))
            .collect();
        assert!(minutes.len() > 5, "{minutes:?}");
        // The range is honoured.
        for n in 0..50 {
            let tick = first(&format!("e{n}"), "10~20 * * * *");
            let minute: u32 = tick[14..16].parse().unwrap();
            assert!((10..=20).contains(&minute), "{tick}");
        }
    }

    #[test]
    fn natural_language_lines_tick_as_their_cron() {
        assert_eq!(
            next_ticks("every day at noon", "2024-01-01T13:00:00Z", 1),
            ["2024-01-02T12:00:00Z"]
        );
        assert_eq!(
            next_ticks("every monday at 5pm", "2024-01-01T00:00:00Z", 2),
            ["2024-01-01T17:00:00Z", "2024-01-08T17:00:00Z"]
        );
        assert_eq!(
            next_ticks(
                "every weekday at 10:30 in Europe/Paris",
                "2024-01-05T12:00:00Z",
                1
            ),
            ["2024-01-08T09:30:00Z"]
        );
        // sidekiq-cron's default `:single` mode: the first of several crons.
        assert_eq!(
            next_ticks("every day at 18:15 and 20:45", "2024-01-01T19:00:00Z", 1),
            ["2024-01-02T18:15:00Z"]
        );
        let refused = Rule::from_entry("nightly", &entry(r#"{"cron":"every blue moon"}"#))
            .expect_err("refused");
        assert!(refused.contains("every blue moon"), "{refused}");
    }
}

//! Writes a window of execution metrics in Sidekiq 7's format (docs/wire-format.md §14), so
//! that Sidekiq 7's Metrics API and Web UI read what Ferrokiq records: per minute, the hash
//! `j|YYYYMMDD|H:M` with `Class|ms`, `Class|p` and `Class|f`, and per class the histogram
//! `Class-DD-HH:M`, 26 saturating u16 counters in one string. All of it is attributed to the
//! minute of the write, as Sidekiq attributes a flush's counts to the time it flushes.

use crate::connection::RedisConnection;
use crate::error::RedisResult;
use crate::server::execution_tally::Window;

/// Both kinds of keys live eight hours, as in Sidekiq 7.
pub const METRICS_TTL: u64 = 8 * 60 * 60;

/// A UTC minute, in the pieces the key names are made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UtcMinute {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
}

impl UtcMinute {
    pub fn from_epoch(epoch_seconds: f64) -> UtcMinute {
        let seconds = epoch_seconds.floor() as i64;
        let days = seconds.div_euclid(86_400);
        let of_day = seconds.rem_euclid(86_400);
        let (year, month, day) = civil_date(days);
        UtcMinute {
            year,
            month,
            day,
            hour: (of_day / 3_600) as u32,
            minute: (of_day % 3_600 / 60) as u32,
        }
    }

    /// `j|20260130|7:5`: date, then hour and minute without leading zeros.
    pub fn counts_key(&self) -> String {
        format!(
            "j|{:04}{:02}{:02}|{}:{}",
            self.year, self.month, self.day, self.hour, self.minute
        )
    }

    /// `Class-30-07:5`: day and hour with two digits, the minute without a leading zero.
    pub fn histogram_key(&self, class: &str) -> String {
        format!("{class}-{:02}-{:02}:{}", self.day, self.hour, self.minute)
    }
}

/// Year, month, day of a count of days since 1970-01-01 (proleptic Gregorian calendar).
fn civil_date(days: i64) -> (i64, u32, u32) {
    let shifted = days + 719_468;
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_index + 2) / 5 + 1) as u32;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// The commands that add `window` to Redis at `minute`, in one pipeline: the histograms of the
/// classes that had successes first, then the counts hash, each key followed by its EXPIRE.
/// How many counts-hash fields it adds is returned alongside.
pub fn pipeline(window: &Window, minute: UtcMinute) -> (redis::Pipeline, usize) {
    let mut pipe = redis::Pipeline::new();
    let classes = window.by_class();
    for (class, totals) in &classes {
        if totals.succeeded.count == 0 {
            continue;
        }
        let key = minute.histogram_key(class);
        let bitfield = pipe.cmd("BITFIELD").arg(&key).arg("OVERFLOW").arg("SAT");
        for (index, count) in totals.succeeded.buckets.iter().enumerate() {
            if *count > 0 {
                bitfield
                    .arg("INCRBY")
                    .arg("u16")
                    .arg(format!("#{index}"))
                    .arg(*count);
            }
        }
        bitfield.ignore();
        pipe.cmd("EXPIRE").arg(&key).arg(METRICS_TTL).ignore();
    }
    let counts = minute.counts_key();
    let mut fields = 0;
    for (class, totals) in &classes {
        if totals.succeeded.count > 0 {
            pipe.cmd("HINCRBY")
                .arg(&counts)
                .arg(format!("{class}|ms"))
                .arg(totals.succeeded.total_ms)
                .ignore();
            fields += 1;
        }
        if totals.failed > 0 {
            pipe.cmd("HINCRBY")
                .arg(&counts)
                .arg(format!("{class}|f"))
                .arg(totals.failed)
                .ignore();
            fields += 1;
        }
        pipe.cmd("HINCRBY")
            .arg(&counts)
            .arg(format!("{class}|p"))
            .arg(totals.processed)
            .ignore();
        fields += 1;
    }
    pipe.cmd("EXPIRE").arg(&counts).arg(METRICS_TTL).ignore();
    (pipe, fields)
}

/// Adds `window` to Redis as of `epoch_seconds`, in one round trip; nothing when it is empty.
/// Returns how many counts-hash fields were incremented.
pub async fn write(
    conn: &RedisConnection,
    window: &Window,
    epoch_seconds: f64,
) -> RedisResult<usize> {
    if window.is_empty() {
        return Ok(0);
    }
    let (pipe, fields) = pipeline(window, UtcMinute::from_epoch(epoch_seconds));
    conn.pipeline::<()>(&pipe).await?;
    Ok(fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_keys_as_sidekiq_7_does() {
        // 2026-01-30 07:05:59 UTC
        let minute = UtcMinute::from_epoch(1_769_756_759.9);
        assert_eq!(minute.counts_key(), "j|20260130|7:5");
        assert_eq!(minute.histogram_key("App::Job"), "App::Job-30-07:5");
        let late = UtcMinute::from_epoch(1_767_225_540.0); // 2025-12-31 23:59
        assert_eq!(late.counts_key(), "j|20251231|23:59");
        assert_eq!(late.histogram_key("J"), "J-31-23:59");
        let leap = UtcMinute::from_epoch(951_782_400.0); // 2000-02-29 00:00
        assert_eq!(leap.counts_key(), "j|20000229|0:0");
    }

    #[test]
    fn writes_nothing_for_a_class_without_successes_but_its_counts() {
        let mut window = Window::default();
        window.record("Fails", "q", 7, true);
        let (pipe, fields) = pipeline(&window, UtcMinute::from_epoch(0.0));
        let packed = String::from_utf8_lossy(&pipe.get_packed_pipeline()).into_owned();
        assert!(!packed.contains("BITFIELD"), "{packed}");
        assert!(packed.contains("Fails|f") && packed.contains("Fails|p"));
        assert!(!packed.contains("Fails|ms"));
        assert_eq!(fields, 2);
    }
}

//! Periodic job rules as sidekiq-scheduler's YAML writes them: `cron`, `every`, `interval`, `at`
//! and `in`, and the tick arithmetic the server's periodic loop runs on (docs/design.md,
//! "Periodic jobs").
//!
//! One job per module: `duration` reads fugit durations, `cron` cron lines (with `nat` for the
//! natural-language ones) and `rule` an entry's rule and its ticks; their public items are
//! re-exported here.

mod cron;
mod duration;
mod nat;
mod rule;
#[cfg(test)]
mod testing;

pub use cron::{natural_crons, CronRule};
pub use duration::parse_duration;
pub use rule::{scheduler_time, EveryRule, Moment, Rule};

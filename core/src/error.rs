//! What can go wrong talking to Redis, worded for the person reading the exception: every
//! message names the server by its URL with the password redacted.

use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedisFailure {
    /// The settings themselves are unusable (bad URL, bad option).
    Config(String),
    /// No connection could be made: refused, unreachable, DNS.
    CannotConnect { url: String, reason: String },
    /// The server refused the credentials.
    Authentication { url: String, reason: String },
    /// No answer within the configured timeout.
    Timeout { url: String, after: Duration },
    /// An established connection broke mid-command.
    ConnectionLost { url: String, reason: String },
    /// The server answered with an error reply.
    Command(String),
    /// The caller gave up (Thread#kill, Thread#raise, a signal).
    Interrupted,
}

impl std::fmt::Display for RedisFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RedisFailure::Config(why) => write!(f, "invalid Redis configuration: {why}"),
            RedisFailure::CannotConnect { url, reason } => {
                write!(f, "Cannot connect to Redis at {url}: {reason}")
            }
            RedisFailure::Authentication { url, reason } => {
                write!(f, "Redis at {url} refused the credentials: {reason}")
            }
            RedisFailure::Timeout { url, after } => write!(
                f,
                "Redis at {url} did not answer within {:.3} s",
                after.as_secs_f64()
            ),
            RedisFailure::ConnectionLost { url, reason } => {
                write!(f, "Lost the connection to Redis at {url}: {reason}")
            }
            RedisFailure::Command(message) => f.write_str(message),
            RedisFailure::Interrupted => f.write_str("interrupted while waiting for Redis"),
        }
    }
}

impl std::error::Error for RedisFailure {}

pub type RedisResult<T> = Result<T, RedisFailure>;

//! Ferrokiq's engine: everything that does not need Ruby. Sidekiq-compatible payloads and JSON,
//! and all Redis I/O. The Ruby binding (`ext/ferrokiq`) is a thin layer over this crate.

pub mod bulk;
pub mod client;
pub mod connection;
pub mod error;
pub mod json;
pub mod listing;
pub mod log_format;
pub mod log_writer;
pub mod md5;
pub mod payload;
pub mod periodic;
pub mod queues;
pub mod retry;
pub mod rng;
pub mod search;
pub mod server;
pub mod streamed_push;
pub mod unique_jobs;

pub use connection::{RedisConnection, RedisSettings, TlsOptions};
pub use error::{RedisFailure, RedisResult};
pub use payload::Payload;

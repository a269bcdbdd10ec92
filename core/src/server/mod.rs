//! The server side of the engine: fetching, acknowledgement, heartbeats, retries and the
//! scheduler's Redis work. Ruby runs only the jobs themselves.

mod background;
pub mod config;
pub mod engine;
pub mod fetch;
mod fetcher;
pub mod heartbeat;
pub mod job_log;
pub mod keys;
pub mod scheduler;
pub mod sets;
mod state;

pub use config::{FetchMode, ServerConfig};
pub use engine::{Engine, NextJob};
pub use fetch::FetchedJob;

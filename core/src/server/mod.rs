//! The server side of the engine: fetching, acknowledgement, heartbeats, retries and the
//! scheduler's Redis work. Ruby runs only the jobs themselves.

mod admission;
mod background;
mod capsule;
pub mod config;
mod dynamic_queues;
pub mod engine;
pub mod events;
pub mod execution_tally;
pub mod fetch;
mod fetcher;
mod gvl_load;
pub mod hand_off;
pub mod heartbeat;
mod inflight;
pub mod keys;
mod maintenance;
pub mod memory_limit;
mod memory_trim;
mod metrics_flusher;
pub mod metrics_store;
pub mod ops;
pub mod periodic;
pub mod registry;
pub mod scheduler;
pub mod sets;
mod state;
mod supervisor;
mod taken;

pub use config::{CapsuleConfig, FetchMode, ServerConfig};
pub use engine::{Engine, HandOffNext, NextJob};
pub use events::{Event, Level, Report};
pub use fetch::FetchedJob;

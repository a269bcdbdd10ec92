//! `:dynamic:` (sidekiq-limit_fetch's option, docs/design.md, §23): the default capsule also
//! works every queue of Sidekiq's `queues` set that no capsule is configured with and that is
//! not excluded, after its own queues. The set is read at engine start, before the first
//! fetch, and again every few seconds; the fetcher takes the new list at its next fetch.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use crate::connection::RedisConnection;
use crate::error::RedisResult;
use crate::server::config::ServerConfig;
use crate::server::registry::{self, Lists};
use crate::server::state::State;

/// How often the `queues` set is read again (the plugin's monitor: every 5 s).
const REFRESH_EVERY: Duration = Duration::from_secs(5);

/// Reads the `queues` set and hands the default capsule the queues it should work besides its
/// own. A queue's working list (taken list, with basic fetch) is registered before its first
/// fetch, so other processes count it against the queue's limit from that fetch on.
pub(crate) async fn refresh(
    conn: &RedisConnection,
    config: &ServerConfig,
    state: &State,
) -> RedisResult<()> {
    let Some(excluded) = &config.dynamic else {
        return Ok(());
    };
    let Some(default) = state.capsules.first() else {
        return Ok(());
    };
    let members: Vec<Vec<u8>> = conn
        .call(&[b"SMEMBERS".to_vec(), b"queues".to_vec()])
        .await?;
    let configured = config.queue_names();
    // A name that is not UTF-8 cannot be a configured queue's either: nothing to work it with.
    let mut dynamic: Vec<String> = members
        .into_iter()
        .filter_map(|name| String::from_utf8(name).ok())
        .filter(|name| !configured.contains(name) && !excluded.contains(name))
        .collect();
    dynamic.sort();
    if default.queue_list().dynamic() == dynamic.as_slice() {
        return Ok(());
    }
    let joining = state.not_worked(&dynamic);
    if !joining.is_empty() {
        registry::assert_lists(conn, Lists::of(config.fetch), &config.identity, &joining).await?;
        state.add_worked(&joining);
        state.events.info(format!(
            "Working queues found in Redis (dynamic): {}",
            joining.join(", ")
        ));
    }
    default.set_dynamic(&dynamic);
    Ok(())
}

/// Refreshes the dynamic queues until the engine stops; a failure is logged once per outage.
pub(crate) async fn run(conn: Arc<RedisConnection>, config: ServerConfig, state: Arc<State>) {
    let mut failing = false;
    while !state.stopped.load(Ordering::SeqCst) {
        tokio::time::sleep(REFRESH_EVERY).await;
        if state.quiet.load(Ordering::SeqCst) {
            continue;
        }
        match refresh(&conn, &config, &state).await {
            Ok(()) => failing = false,
            Err(e) if !failing => {
                failing = true;
                state
                    .events
                    .warn(format!("Could not read the queues to work (dynamic): {e}"));
            }
            Err(_) => {}
        }
    }
}

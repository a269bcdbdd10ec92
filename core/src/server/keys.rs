//! Redis key names used by the server (Sidekiq's, plus Ferrokiq's reliable-fetch lists).

/// Sidekiq's list for a queue.
pub fn queue(name: &str) -> String {
    format!("queue:{name}")
}

/// The working list where this process keeps the jobs it fetched from `queue` until they are
/// acknowledged.
pub fn working(identity: &str, queue: &str) -> String {
    format!("{WORKING_PREFIX}{identity}:{queue}")
}

/// Hash of every working list: field = list key, value = `identity` + '\n' + `queue`, so that
/// any process can find and recover the lists of a process that died.
pub const WORKING_REGISTRY: &str = "ferrokiq:working";

pub fn busy_work(identity: &str) -> String {
    format!("{identity}:work")
}

/// Sidekiq 6.4's name for the busy-work hash, still read by 6.4 Web UIs and APIs.
pub fn busy_workers(identity: &str) -> String {
    format!("{identity}:workers")
}

pub fn signals(identity: &str) -> String {
    format!("{identity}-signals")
}

/// Every working list's key starts with this (followed by `identity:queue`).
pub const WORKING_PREFIX: &str = "ferrokiq:working:";

/// The list where this process keeps the members it claimed from `set` (`retry` or
/// `schedule`) until Ruby's client middleware has seen them and they are pushed
/// (docs/design.md, §5.2).
pub fn hand_off(identity: &str, set: &str) -> String {
    format!("ferrokiq:handoff:{identity}:{set}")
}

/// Hash of every hand-off list: field = list key, value = `identity` + '\n' + `set` + '\n' +
/// when it last claimed (Redis's clock), so that any process can recover a dead one's list.
pub const HAND_OFF_REGISTRY: &str = "ferrokiq:handoff";

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

/// With basic fetch, the list that counts the jobs of `queue` this process holds against the
/// queue's limits, one entry per job (docs/design.md, §23): the jobs themselves exist only in
/// the process's memory.
pub fn taken(identity: &str, queue: &str) -> String {
    format!("{TAKEN_PREFIX}{identity}:{queue}")
}

/// Every taken list's key starts with this (followed by `identity:queue`).
pub const TAKEN_PREFIX: &str = "ferrokiq:taken:";

/// Hash of every taken list, as `WORKING_REGISTRY` is of the working lists: a dead process's
/// lists are dropped (never moved to a queue: they hold no jobs).
pub const TAKEN_REGISTRY: &str = "ferrokiq:taken";

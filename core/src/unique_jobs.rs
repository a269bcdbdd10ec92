//! Unique-job locks as the engine releases them (docs/design.md, §24). The release script lives
//! here, once: the engine sends it with its acknowledgements, and the Ruby side
//! (`Ferrokiq::UniqueJobs::Scripts`) runs the same text through `Ferrokiq::Native`.

use std::sync::LazyLock;

use redis::Script;

/// The sorted set of every lock's digest, scored by when its job may run (the reaper's age).
pub const DIGESTS: &str = "uniquejobs:digests";

/// Releases the locks named by (digest, jid) pairs in ARGV, each only if that job holds it
/// (another holder's lock is left alone); KEYS[1] is the digests set. A lock whose last holder
/// goes is deleted with its jid key, the plugin's `:INFO`, and its place in the digests set;
/// releasing a runtime (`:RUN`) lock also pushes the plugin's wake-up sentinel for Ruby
/// processes waiting on it, as the plugin's unlock does. Returns how many holds were released.
///
/// The per-lock key names are built here from the digests rather than passed as KEYS, so one
/// call releases a whole batch for a few microseconds of Redis time per lock (Sidekiq's data
/// does not live in Redis Cluster, where undeclared keys are refused).
pub const RELEASE: &str = r"
local released = 0
for i = 1, #ARGV, 2 do
  local digest, locked = ARGV[i], ARGV[i] .. ':LOCKED'
  if redis.call('HDEL', locked, ARGV[i + 1]) == 1 then
    released = released + 1
    if redis.call('HLEN', locked) == 0 then
      redis.call('DEL', digest, locked, digest .. ':INFO')
      redis.call('ZREM', KEYS[1], digest)
      if string.sub(digest, -4) == ':RUN' then
        redis.call('LPUSH', digest .. ':QUEUED', '1')
        redis.call('PEXPIRE', digest .. ':QUEUED', 5000)
      end
    end
  end
end
return released
";

static RELEASE_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(RELEASE));

/// One job's hold on a lock, to give back: the lock's digest and the job's jid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockRelease {
    pub digest: String,
    pub jid: String,
}

/// Adds the release of `locks` to `pipe` as one script call (EVALSHA, or EVAL with the text
/// when `with_text`: after NOSCRIPT). Nothing when there is nothing to release.
pub(crate) fn pipe_release<'a>(
    pipe: &mut redis::Pipeline,
    locks: impl Iterator<Item = &'a LockRelease>,
    with_text: bool,
) {
    let mut locks = locks.peekable();
    if locks.peek().is_none() {
        return;
    }
    let cmd = if with_text {
        pipe.cmd("EVAL").arg(RELEASE)
    } else {
        pipe.cmd("EVALSHA").arg(RELEASE_SCRIPT.get_hash())
    };
    cmd.arg(1).arg(DIGESTS);
    for lock in locks {
        cmd.arg(&lock.digest).arg(&lock.jid);
    }
    cmd.ignore();
}

//! One logical Redis connection: settings as Sidekiq users write them, a lazily opened multiplexed
//! connection that many callers share, reconnection after a failure, and a hard deadline on
//! every round trip so that a dead server never hangs a caller.

use std::sync::Mutex;
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::{
    AsyncConnectionConfig, Client, ConnectionInfo, FromRedisValue, IntoConnectionInfo, Pipeline,
    ProtocolVersion,
};

use crate::error::{RedisFailure, RedisResult};

/// Sidekiq 7's default network timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3);
pub const DEFAULT_URL: &str = "redis://localhost:6379/0";

/// Connection settings, already resolved from the user's `config.redis = {...}` and `REDIS_URL`.
#[derive(Debug, Clone, PartialEq)]
pub struct RedisSettings {
    pub url: String,
    pub username: Option<String>,
    pub password: Option<String>,
    pub db: Option<i64>,
    pub timeout: Duration,
    /// TLS beyond what the URL says (`rediss://` alone means TLS with the system's roots).
    pub tls: Option<TlsOptions>,
}

/// `ssl: true` / `ssl_params:` as Sidekiq users write them, in PEM.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TlsOptions {
    /// False for `verify_mode: OpenSSL::SSL::VERIFY_NONE`.
    pub verify: bool,
    /// Trust these CA certificates instead of the system's.
    pub ca_pem: Option<Vec<u8>>,
    /// Client certificate and key, for servers that authenticate clients.
    pub client_cert_pem: Option<Vec<u8>>,
    pub client_key_pem: Option<Vec<u8>>,
}

impl Default for RedisSettings {
    fn default() -> Self {
        RedisSettings {
            url: DEFAULT_URL.to_string(),
            username: None,
            password: None,
            db: None,
            timeout: DEFAULT_TIMEOUT,
            tls: None,
        }
    }
}

impl RedisSettings {
    /// The URL as it may be shown in logs and exceptions: any password replaced by `REDACTED`.
    pub fn redacted_url(&self) -> String {
        redact_url(&self.url)
    }

    /// The URL the driver is given: `rediss://` when TLS is asked for, `#insecure` when the
    /// server's certificate is not to be verified.
    fn driver_url(&self) -> String {
        let mut url = match (&self.tls, self.url.strip_prefix("redis://")) {
            (Some(_), Some(rest)) => format!("rediss://{rest}"),
            _ => self.url.clone(),
        };
        if self.tls.as_ref().is_some_and(|tls| !tls.verify) && !url.contains('#') {
            url.push_str("#insecure");
        }
        url
    }

    fn connection_info(&self) -> RedisResult<ConnectionInfo> {
        let info = self
            .driver_url()
            .as_str()
            .into_connection_info()
            .map_err(|e| RedisFailure::Config(format!("{}: {e}", self.redacted_url())))?;
        let mut redis = info.redis_settings().clone();
        if let Some(username) = &self.username {
            redis = redis.set_username(username);
        }
        if let Some(password) = &self.password {
            redis = redis.set_password(password);
        }
        if let Some(db) = self.db {
            redis = redis.set_db(db);
        }
        // RESP3, as Sidekiq 7's redis-client speaks: HGETALL answers a map, scores are doubles.
        redis = redis
            .set_protocol(ProtocolVersion::RESP3)
            .set_skip_set_lib_name();
        Ok(info.set_redis_settings(redis))
    }
}

/// `url` with its password (if any) replaced by `REDACTED`.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            if parsed.set_password(Some("REDACTED")).is_ok() {
                parsed.to_string()
            } else {
                "(unparseable Redis URL)".to_string()
            }
        }
        Ok(_) => url.to_string(),
        Err(_) => "(unparseable Redis URL)".to_string(),
    }
}

/// A shared, self-healing connection. Cheap to use from many tasks at once: commands from
/// concurrent callers are pipelined on one socket by the multiplexer.
pub struct RedisConnection {
    settings: RedisSettings,
    /// Computed once: every error message names the server.
    redacted_url: String,
    client: Client,
    config: AsyncConnectionConfig,
    current: Mutex<Option<MultiplexedConnection>>,
    connecting: tokio::sync::Mutex<()>,
    /// Sockets of their own, kept between transactions that span several writes (see
    /// `take_dedicated`).
    spare: Mutex<Vec<MultiplexedConnection>>,
    /// The runtime that drives this connection's socket, when it is not whichever runtime
    /// happens to open it (see `on_runtime`).
    home: Option<tokio::runtime::Handle>,
}

impl std::fmt::Debug for RedisConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisConnection")
            .field("url", &self.redacted_url)
            .finish()
    }
}

impl RedisConnection {
    /// Validates the settings; no I/O happens until the first command.
    pub fn new(settings: RedisSettings) -> RedisResult<Self> {
        let info = settings.connection_info()?;
        let client = open_client(info, settings.tls.as_ref())
            .map_err(|e| RedisFailure::Config(format!("{}: {e}", settings.redacted_url())))?;
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(settings.timeout))
            .set_response_timeout(Some(settings.timeout));
        Ok(RedisConnection {
            redacted_url: settings.redacted_url(),
            settings,
            client,
            config,
            current: Mutex::new(None),
            connecting: tokio::sync::Mutex::new(()),
            spare: Mutex::new(Vec::new()),
            home: None,
        })
    }

    /// Opens (and re-opens) the socket on `home`. The multiplexer's driver task lives on the
    /// runtime that opened the connection; a connection shared by the engine's tasks and by
    /// Ruby threads (whose runtimes run only while their thread waits on Redis) must not be
    /// re-opened by one of those threads, or the engine's calls would stall until it waits again.
    pub fn on_runtime(mut self, home: tokio::runtime::Handle) -> Self {
        self.home = Some(home);
        self
    }

    pub fn settings(&self) -> &RedisSettings {
        &self.settings
    }

    fn cached(&self) -> Option<MultiplexedConnection> {
        self.current
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    fn forget(&self) {
        *self
            .current
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = None;
    }

    /// The shared connection, opening it if needed. The flag says whether it was just opened.
    async fn connection(&self) -> RedisResult<(MultiplexedConnection, bool)> {
        if let Some(conn) = self.cached() {
            return Ok((conn, false));
        }
        // One opener at a time; the others wait and then share what it opened.
        let _opening = self.connecting.lock().await;
        if let Some(conn) = self.cached() {
            return Ok((conn, false));
        }
        let opened = self.open_bounded().await?;
        *self
            .current
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(opened.clone());
        Ok((opened, true))
    }

    async fn open(&self) -> redis::RedisResult<MultiplexedConnection> {
        let Some(home) = &self.home else {
            return self
                .client
                .get_multiplexed_async_connection_with_config(&self.config)
                .await;
        };
        let (client, config) = (self.client.clone(), self.config.clone());
        home.spawn(async move {
            client
                .get_multiplexed_async_connection_with_config(&config)
                .await
        })
        .await
        .unwrap_or_else(|e| Err(std::io::Error::other(format!("connecting failed: {e}")).into()))
    }

    /// Runs one command or pipeline. A connection that turns out to be stale (the server
    /// restarted since it was opened) is replaced and the command sent once more; a connection
    /// opened for this call is not retried, so a down server fails within one timeout. A
    /// timeout is never retried: the command may have run, and running a push or a fetch
    /// twice would duplicate or strand jobs. A connection that broke after the server ran the
    /// command but before its reply arrived still gets the one more try, so such a push is
    /// stored twice: Sidekiq 7 makes the same trade (its redis-client adapter keeps one
    /// reconnect attempt by default), a rare duplicate against a failed push after every
    /// server restart.
    ///
    /// A failover reply (see `is_failover_reply`) also gets one new connection and one more
    /// try, as Sidekiq 7 does: after a managed Redis promotes a replica, the old socket still
    /// reaches the demoted server, and only a new one follows the DNS name to the new primary.
    /// The server refused the command, so a single command, a script or a transaction cannot
    /// run twice; in a plain pipeline the commands before the refused one may have run (a
    /// demotion in the middle of it), and run again.
    async fn run<T, F, Fut>(&self, op: F) -> RedisResult<T>
    where
        F: Fn(MultiplexedConnection) -> Fut,
        Fut: std::future::Future<Output = redis::RedisResult<T>>,
    {
        let url = &self.redacted_url;
        let (conn, fresh) = self.connection().await?;
        match self.bounded(op(conn)).await {
            Err(RunError::Redis(e)) if !fresh && !e.is_timeout() && is_broken_connection(&e) => {
                self.forget();
                let (conn, _) = self.connection().await?;
                self.finish(self.bounded(op(conn)).await, url)
            }
            Err(RunError::Redis(e)) if is_failover_reply(&e) => {
                self.forget();
                let (conn, _) = self.connection().await?;
                self.finish(self.bounded(op(conn)).await, url)
            }
            other => self.finish(other, url),
        }
    }

    pub(crate) async fn bounded<T>(
        &self,
        fut: impl std::future::Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, RunError> {
        match tokio::time::timeout(self.settings.timeout, fut).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(RunError::Redis(e)),
            Err(_) => Err(RunError::Deadline),
        }
    }

    fn finish<T>(&self, result: Result<T, RunError>, url: &str) -> RedisResult<T> {
        result.map_err(|e| {
            let (failure, broken) = failure_of(e, url, self.settings.timeout);
            if broken {
                self.forget();
            }
            failure
        })
    }

    /// The failure a round trip on a dedicated socket ended with (see `take_dedicated`); the
    /// caller drops that socket.
    pub(crate) fn dedicated_failure(&self, e: RunError) -> RedisFailure {
        failure_of(e, &self.redacted_url, self.settings.timeout).0
    }

    /// A socket of this caller's own, from the spare ones or newly opened, for a transaction
    /// sent over several writes: MULTI on the shared socket would take in the commands other
    /// callers send meanwhile. Give it back with `keep_dedicated` once it is out of the
    /// transaction; drop it otherwise (closing it makes the server discard the transaction).
    /// The flag says whether it was kept from before (and may have gone stale since).
    pub(crate) async fn take_dedicated(&self) -> RedisResult<(MultiplexedConnection, bool)> {
        let spare = self
            .spare
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .pop();
        if let Some(conn) = spare {
            return Ok((conn, true));
        }
        self.open_bounded().await.map(|conn| (conn, false))
    }

    /// A new socket, opened within the timeout; a failure says why, as the user sees it.
    pub(crate) async fn open_bounded(&self) -> RedisResult<MultiplexedConnection> {
        let url = &self.redacted_url;
        tokio::time::timeout(self.settings.timeout, self.open())
            .await
            .map_err(|_| RedisFailure::Timeout {
                url: url.clone(),
                after: self.settings.timeout,
            })?
            .map_err(|e| connect_failure(url, self.settings.timeout, &e))
    }

    /// Keeps a dedicated socket for the next transaction, up to a few (more are closed).
    pub(crate) fn keep_dedicated(&self, conn: MultiplexedConnection) {
        let mut spare = self
            .spare
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if spare.len() < MAX_SPARE {
            spare.push(conn);
        }
    }

    /// Sends one command given as its words (`["SET", "k", "v"]`).
    pub async fn call<T: FromRedisValue>(&self, words: &[Vec<u8>]) -> RedisResult<T> {
        let cmd = &command(words)?;
        self.run(|mut conn| async move { cmd.query_async(&mut conn).await })
            .await
    }

    /// Runs a Lua script (EVALSHA, loading it on NOSCRIPT).
    pub async fn invoke<T: FromRedisValue>(
        &self,
        invocation: &redis::ScriptInvocation<'_>,
    ) -> RedisResult<T> {
        self.run(|mut conn| async move { invocation.invoke_async(&mut conn).await })
            .await
    }

    /// Sends a pipeline (optionally MULTI/EXEC) in one round trip.
    pub async fn pipeline<T: FromRedisValue>(&self, pipe: &Pipeline) -> RedisResult<T> {
        // Borrowed, not cloned: a bulk push's pipeline holds every payload of the slice.
        self.run(|mut conn| async move { pipe.query_async(&mut conn).await })
            .await
    }
}

fn open_client(info: ConnectionInfo, tls: Option<&TlsOptions>) -> redis::RedisResult<Client> {
    // rustls needs a process-wide crypto provider; installing it twice is harmless.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let Some(tls) = tls.filter(|t| t.ca_pem.is_some() || t.client_cert_pem.is_some()) else {
        return Client::open(info);
    };
    let client_tls = match (&tls.client_cert_pem, &tls.client_key_pem) {
        (Some(cert), Some(key)) => Some(redis::ClientTlsConfig {
            client_cert: cert.clone(),
            client_key: key.clone(),
        }),
        _ => None,
    };
    Client::build_with_tls(
        info,
        redis::TlsCertificates {
            client_tls,
            root_cert: tls.ca_pem.clone(),
        },
    )
}

pub(crate) enum RunError {
    Redis(redis::RedisError),
    Deadline,
}

/// Dedicated sockets kept for reuse (see `keep_dedicated`): one per Ruby thread that pushes
/// large slices at the same moment is enough for most apps.
const MAX_SPARE: usize = 4;

/// The failure a round trip ended with, and whether its socket is to be dropped.
fn failure_of(e: RunError, url: &str, timeout: Duration) -> (RedisFailure, bool) {
    let timed_out = || RedisFailure::Timeout {
        url: url.to_string(),
        after: timeout,
    };
    match e {
        RunError::Deadline => (timed_out(), true),
        RunError::Redis(e) if e.is_timeout() => (timed_out(), true),
        RunError::Redis(e) if is_broken_connection(&e) => (
            RedisFailure::ConnectionLost {
                url: url.to_string(),
                reason: e.to_string(),
            },
            true,
        ),
        // Whatever answered does not speak RESP: drop the connection.
        RunError::Redis(e) if e.kind() == redis::ErrorKind::Parse => (not_redis(url, &e), true),
        RunError::Redis(e) => (RedisFailure::Command(command_message(&e)), false),
    }
}

fn is_broken_connection(e: &redis::RedisError) -> bool {
    e.is_io_error() || e.is_connection_dropped() || e.is_connection_refusal()
}

/// Error replies that mean "this server can no longer take the command" during a failover: it
/// was demoted to a replica (READONLY), it lacks the replicas a write needs (NOREPLICAS), or a
/// proxy ended a blocking call to move clients over (UNBLOCKED). In a pipeline or transaction
/// the first failing command's reply decides.
fn is_failover_reply(e: &redis::RedisError) -> bool {
    let message = command_message(e);
    FAILOVER_CODES
        .iter()
        .any(|code| e.code() == Some(code) || message.split(' ').next() == Some(code))
}

const FAILOVER_CODES: [&str; 3] = ["READONLY", "NOREPLICAS", "UNBLOCKED"];

fn connect_failure(url: &str, timeout: Duration, e: &redis::RedisError) -> RedisFailure {
    let reason = e.to_string();
    let auth = matches!(e.code(), Some("WRONGPASS" | "NOAUTH" | "NOPERM"))
        || reason.contains("WRONGPASS")
        || reason.contains("NOAUTH")
        || e.kind() == redis::ErrorKind::AuthenticationFailed;
    if auth {
        RedisFailure::Authentication {
            url: url.to_string(),
            reason,
        }
    } else if e.is_timeout() {
        RedisFailure::Timeout {
            url: url.to_string(),
            after: timeout,
        }
    } else if e.kind() == redis::ErrorKind::Parse {
        not_redis(url, e)
    } else if is_tls_failure(&reason) {
        let hint = if url.starts_with("rediss://") {
            " Does the server speak TLS on this port? For a plain server use redis://."
        } else {
            ""
        };
        RedisFailure::CannotConnect {
            url: url.to_string(),
            reason: format!("TLS handshake failed: {reason}.{hint}"),
        }
    } else {
        RedisFailure::CannotConnect {
            url: url.to_string(),
            reason,
        }
    }
}

/// The server's error reply as redis-client shows it: `CODE detail`. For a pipeline or a
/// transaction, the first failing command's reply (an OOM or LOADING error fails them all
/// alike).
fn command_message(e: &redis::RedisError) -> String {
    if let (Some(code), Some(detail)) = (e.code(), e.detail()) {
        return format!("{code} {detail}");
    }
    match e.clone().into_server_errors().as_deref() {
        Some([(_, first), ..]) => server_error_message(first),
        _ => e.to_string(),
    }
}

/// An error reply as redis-client shows it: `CODE detail`.
pub(crate) fn server_error_message(error: &redis::ServerError) -> String {
    match error.details() {
        Some(detail) => format!("{} {detail}", error.code()),
        None => error.code().to_string(),
    }
}

/// The peer answered with something that is not Redis's protocol: most often a TLS port
/// reached with `redis://`, or another service on the port.
fn not_redis(url: &str, e: &redis::RedisError) -> RedisFailure {
    let hint = if url.starts_with("rediss://") {
        ""
    } else {
        " If the server expects TLS, use a rediss:// URL or `ssl: true`."
    };
    RedisFailure::CannotConnect {
        url: url.to_string(),
        reason: format!("the server's reply is not Redis's protocol ({e}).{hint}"),
    }
}

/// rustls's wording for a handshake that went wrong (certificates, or no TLS at the other end).
fn is_tls_failure(reason: &str) -> bool {
    [
        "certificate",
        "InvalidContentType",
        "corrupt message",
        "tls",
        "TLS",
        "handshake",
    ]
    .iter()
    .any(|word| reason.contains(word))
}

/// Builds a command from its words; the first word is the command name.
pub fn command(words: &[Vec<u8>]) -> RedisResult<redis::Cmd> {
    let (name, rest) = words
        .split_first()
        .ok_or_else(|| RedisFailure::Command("ERR empty command".to_string()))?;
    let mut cmd = redis::cmd(&String::from_utf8_lossy(name));
    for word in rest {
        cmd.arg(word.as_slice());
    }
    Ok(cmd)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords_only() {
        assert_eq!(
            redact_url("redis://:s3cret@10.0.0.1:6380/2"),
            "redis://:REDACTED@10.0.0.1:6380/2"
        );
        assert_eq!(
            redact_url("redis://user:s3cret@host/0"),
            "redis://user:REDACTED@host/0"
        );
        assert_eq!(
            redact_url("redis://127.0.0.1:6379/0"),
            "redis://127.0.0.1:6379/0"
        );
    }

    #[test]
    fn tls_settings_shape_the_driver_url() {
        let tls = |verify| RedisSettings {
            url: "redis://h:6380/1".into(),
            tls: Some(TlsOptions {
                verify,
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(tls(true).driver_url(), "rediss://h:6380/1");
        assert_eq!(tls(false).driver_url(), "rediss://h:6380/1#insecure");
        assert!(RedisConnection::new(tls(true)).is_ok());
    }

    #[test]
    fn rejects_garbage_without_leaking_the_password() {
        let bad = RedisConnection::new(RedisSettings {
            url: "http://:pw@nope".into(),
            ..Default::default()
        })
        .unwrap_err();
        assert!(!bad.to_string().contains("pw@"), "{bad}");
        let bad = RedisConnection::new(RedisSettings {
            url: "http://nope".into(),
            ..Default::default()
        })
        .unwrap_err();
        assert!(matches!(bad, RedisFailure::Config(_)), "{bad:?}");
    }
}

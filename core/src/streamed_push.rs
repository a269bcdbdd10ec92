//! A bulk push through client middleware, sent while the middleware still runs: the jobs that
//! have passed the chain go to Redis in chunks inside a MULTI on a socket of the push's own, and
//! the last chunk goes with EXEC once the whole slice has passed. Redis receives and parses a
//! slice while Ruby works, instead of after it (its LPUSHes still run at EXEC); the slice is
//! still stored all at once, or not at all when a middleware raises half-way (the transaction
//! is discarded), as Sidekiq stores it.
//! Why and what it saves: docs/performance.md, §6; when it is used: docs/internals.md, §4.

use std::sync::Arc;

use redis::aio::MultiplexedConnection;
use redis::{Pipeline, Value};
use tokio::sync::{mpsc, oneshot};

use crate::client;
use crate::connection::{server_error_message, RedisConnection};
use crate::error::{RedisFailure, RedisResult};

/// What the pushing thread hands over, in order.
#[derive(Debug)]
pub enum Part {
    /// Encoded payloads (with `enqueued_at`) that passed the chain.
    Jobs(Vec<Vec<u8>>),
    /// The last payloads; the slice is complete. The reply says whether it was stored.
    Commit(Vec<Vec<u8>>, oneshot::Sender<RedisResult<()>>),
}

/// Stores one slice on `queue` as its parts arrive. Without a Commit (the channel closed: a
/// middleware raised, a payload could not be encoded) nothing of the slice is stored.
///
/// A chunk that cannot be queued in the transaction (the socket broke, the server refused it)
/// ends the streaming: that socket is dropped, which discards the transaction, and the Commit
/// then pushes every payload of the slice the ordinary way (`client::push_to_queue`, with its
/// one reconnect), so such a failure costs speed, never jobs.
pub async fn stream_to_queue(
    conn: Arc<RedisConnection>,
    queue: String,
    mut parts: mpsc::UnboundedReceiver<Part>,
) {
    let mut transaction = Transaction {
        conn: &conn,
        queue: &queue,
        socket: None,
        broken: false,
        sent: Vec::new(),
    };
    while let Some(part) = parts.recv().await {
        match part {
            Part::Jobs(chunk) => transaction.queue_chunk(chunk).await,
            Part::Commit(rest, reply) => {
                // The receiver is gone only when its thread died; the result is the same.
                let _ = reply.send(transaction.commit(rest).await);
                return;
            }
        }
    }
    transaction.discard().await;
}

struct Transaction<'a> {
    conn: &'a RedisConnection,
    queue: &'a str,
    /// The push's own socket, inside MULTI (opened with the first chunk).
    socket: Option<MultiplexedConnection>,
    /// A chunk failed: the rest waits for the Commit, which pushes everything the ordinary way.
    broken: bool,
    /// Every payload received so far, for that ordinary push.
    sent: Vec<Vec<u8>>,
}

impl Transaction<'_> {
    async fn queue_chunk(&mut self, chunk: Vec<Vec<u8>>) {
        if !self.broken {
            let mut pipe = Pipeline::with_capacity(2);
            if self.socket.is_none() {
                pipe.cmd("SADD").arg("queues").arg(self.queue);
            }
            self.lpush(&mut pipe, &chunk);
            if !self.send_queued(&pipe).await {
                self.socket = None;
                self.broken = true;
            }
        }
        self.sent.extend(chunk);
    }

    /// Whether every command of `pipe` was taken into the transaction (each answered QUEUED),
    /// opening it first when it is not open yet.
    async fn send_queued(&mut self, pipe: &Pipeline) -> bool {
        if self.socket.is_none() {
            self.socket = self.open().await;
        }
        let Some(socket) = self.socket.as_mut() else {
            return false;
        };
        match self
            .conn
            .bounded(pipe.query_async::<Vec<Value>>(socket))
            .await
        {
            Ok(replies) => replies.len() == pipe.len() && replies.iter().all(is_queued),
            Err(_) => false,
        }
    }

    /// A dedicated socket inside MULTI. MULTI goes alone, in a round trip of its own: were it
    /// refused (an ACL, a proxy), the commands sent with it would run at once, outside any
    /// transaction, and the slice's fallback push would store them twice. A kept socket that
    /// fails (the server restarted since) is replaced by a new one, once.
    async fn open(&self) -> Option<MultiplexedConnection> {
        let (socket, kept) = self.conn.take_dedicated().await.ok()?;
        match self.begin(socket).await {
            Some(socket) => Some(socket),
            None if kept => self.begin(self.conn.open_bounded().await.ok()?).await,
            None => None,
        }
    }

    async fn begin(&self, mut socket: MultiplexedConnection) -> Option<MultiplexedConnection> {
        let multi = redis::cmd("MULTI");
        match self
            .conn
            .bounded(multi.query_async::<Value>(&mut socket))
            .await
        {
            Ok(Value::Okay) => Some(socket),
            _ => None,
        }
    }

    fn lpush(&self, pipe: &mut Pipeline, payloads: &[Vec<u8>]) {
        let lpush = pipe.cmd("LPUSH").arg(format!("queue:{}", self.queue));
        for payload in payloads {
            lpush.arg(payload.as_slice());
        }
    }

    async fn commit(&mut self, rest: Vec<Vec<u8>>) -> RedisResult<()> {
        let mut socket = match self.socket.take() {
            Some(socket) if !self.broken => socket,
            _ => return self.push_everything(rest).await,
        };
        let mut pipe = Pipeline::with_capacity(2);
        if !rest.is_empty() {
            self.lpush(&mut pipe, &rest);
        }
        pipe.cmd("EXEC");
        pipe.ignore_errors();
        let replies = match self
            .conn
            .bounded(pipe.query_async::<Vec<Value>>(&mut socket))
            .await
        {
            Ok(replies) => replies,
            // The transaction may have run or not: pushing again could store it twice, so the
            // failure is reported as any push's would be.
            Err(e) => return Err(self.conn.dedicated_failure(e)),
        };
        let (queued, exec) = match replies.as_slice() {
            [exec] if rest.is_empty() => (true, exec),
            [lpush, exec] => (is_queued(lpush), exec),
            _ => (false, &Value::Nil),
        };
        match exec {
            Value::Array(results) => {
                self.conn.keep_dedicated(socket);
                if let Some(failure) = results.iter().find_map(server_error) {
                    return Err(failure);
                }
                // Redis aborts a transaction with a refused command, so the rest was queued;
                // were it not, the transaction stored the chunks before it, and the rest alone
                // still has to go.
                if queued {
                    Ok(())
                } else {
                    client::push_to_queue(self.conn, self.queue, &rest).await
                }
            }
            // EXECABORT, a failover reply, anything but the transaction's results: it did not
            // run, and the socket is not trusted again.
            _ => {
                drop(socket);
                self.push_everything(rest).await
            }
        }
    }

    /// The slice as one ordinary push: what was streamed and the rest.
    async fn push_everything(&mut self, rest: Vec<Vec<u8>>) -> RedisResult<()> {
        self.sent.extend(rest);
        client::push_to_queue(self.conn, self.queue, &self.sent).await
    }

    /// The slice was abandoned: nothing of it may be stored.
    async fn discard(&mut self) {
        let Some(mut socket) = self.socket.take() else {
            return;
        };
        let discard = redis::cmd("DISCARD");
        let reply = self
            .conn
            .bounded(discard.query_async::<Value>(&mut socket))
            .await;
        if matches!(reply, Ok(Value::Okay)) {
            self.conn.keep_dedicated(socket);
        }
        // Otherwise the socket is dropped, and closing it discards the transaction.
    }
}

fn is_queued(reply: &Value) -> bool {
    matches!(reply, Value::SimpleString(word) if word == "QUEUED")
}

/// A command of the transaction that the server refused when it ran (WRONGTYPE, OOM).
fn server_error(result: &Value) -> Option<RedisFailure> {
    let Value::ServerError(error) = result else {
        return None;
    };
    Some(RedisFailure::Command(server_error_message(error)))
}

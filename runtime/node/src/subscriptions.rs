//! Subscriptions (`StreamBlocks`, `StreamEvents`): committed blocks from a height out of the
//! store, then live ones, sent only as fast as the client reads them, with a fixed buffer per
//! subscription and caps per connection and per node. [`channel`] and [`Sink`] are the same
//! plumbing for any response stream under those caps (`SubmitStream` uses them too).
//!
//! Memory per subscription: one message queued here, a bounded read from the store
//! ([`READ_BYTES`], at least one block) and what HTTP/2 holds for the stream (the message being
//! sent). Nothing is read from the store until the client has taken the previous message, so a
//! client that stops reading costs no more than that. One that takes no message for
//! `subscription_stall_timeout_ms` is dropped: its next read gets `RESOURCE_EXHAUSTED`; if it
//! reads nothing for as long again, its connection is closed — the only way to free what HTTP/2
//! holds for a stream whose peer never reads (hyper does not poll a body while the peer's
//! window is closed, so no status can reach it).

use crate::net::ConnCtl;
use crate::node::Shared;
use crate::status;
use hanok_ledger::CommittedBlock;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::sync::{broadcast, mpsc, watch, Notify};
use tonic::Status;

/// Bytes of blocks one subscriber reads from the store at a time (at least one block).
pub(crate) const READ_BYTES: usize = 256 * 1024;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A place under the caps: taken when a subscription opens, given back when it is dropped.
struct Slot {
    shared: Arc<Shared>,
    conn: Option<Arc<ConnCtl>>,
}

impl Slot {
    fn take(shared: &Arc<Shared>, conn: Option<Arc<ConnCtl>>) -> Result<Slot, Status> {
        let max = shared.config.max_subscriptions;
        if shared.subscriptions.fetch_add(1, Ordering::SeqCst) >= max {
            shared.subscriptions.fetch_sub(1, Ordering::SeqCst);
            shared
                .metrics
                .subscriptions_refused
                .get_or_create(&[("limit", "node")])
                .inc();
            return Err(status::too_many_subscriptions(max));
        }
        if let Some(c) = &conn {
            let per = shared.config.max_subscriptions_per_connection;
            if c.subscriptions.fetch_add(1, Ordering::SeqCst) >= per {
                c.subscriptions.fetch_sub(1, Ordering::SeqCst);
                shared.subscriptions.fetch_sub(1, Ordering::SeqCst);
                shared
                    .metrics
                    .subscriptions_refused
                    .get_or_create(&[("limit", "connection")])
                    .inc();
                return Err(status::too_many_subscriptions_on_connection(per));
            }
        }
        let slot = Slot {
            shared: shared.clone(),
            conn,
        };
        slot.publish();
        Ok(slot)
    }

    fn publish(&self) {
        let open = self.shared.subscriptions.load(Ordering::SeqCst);
        self.shared
            .metrics
            .subscriptions_open
            .set(i64::try_from(open).unwrap_or(i64::MAX));
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.shared.subscriptions.fetch_sub(1, Ordering::SeqCst);
        if let Some(c) = &self.conn {
            c.subscriptions.fetch_sub(1, Ordering::SeqCst);
        }
        self.publish();
    }
}

/// What the feeding task and the stream share.
#[derive(Default)]
struct Link {
    /// A status to send before anything still queued, then end.
    failure: Mutex<Option<Status>>,
    /// A status to end with once everything queued was sent (instead of OK).
    trailer: Mutex<Option<Status>>,
    /// The client took the failure, or the stream is gone.
    done: AtomicBool,
    notify: Notify,
}

impl Link {
    fn fail(&self, status: Status) {
        *lock(&self.failure) = Some(status);
    }

    fn finish(&self) {
        self.done.store(true, Ordering::SeqCst);
        self.notify.notify_one();
    }

    /// Waits up to `limit` for the failure to be taken (or the stream dropped).
    async fn taken_within(&self, limit: Duration) -> bool {
        tokio::time::timeout(limit, async {
            while !self.done.load(Ordering::SeqCst) {
                self.notify.notified().await;
            }
        })
        .await
        .is_ok()
    }
}

/// The response stream of a subscription.
pub(crate) struct Subscription<T> {
    rx: mpsc::Receiver<T>,
    link: Arc<Link>,
    ended: bool,
    _slot: Slot,
}

impl<T> Drop for Subscription<T> {
    fn drop(&mut self) {
        self.link.finish();
    }
}

impl<T> tokio_stream::Stream for Subscription<T> {
    type Item = Result<T, Status>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.ended {
            return Poll::Ready(None);
        }
        let failure = lock(&self.link.failure).take();
        if let Some(status) = failure {
            self.ended = true;
            self.link.finish();
            return Poll::Ready(Some(Err(status)));
        }
        match self.rx.poll_recv(cx) {
            Poll::Ready(Some(item)) => Poll::Ready(Some(Ok(item))),
            Poll::Ready(None) => {
                // The feeder ends the channel after setting a failure or trailer, if any.
                self.ended = true;
                let failure = lock(&self.link.failure).take();
                let last = failure.or_else(|| lock(&self.link.trailer).take());
                self.link.finish();
                Poll::Ready(last.map(Err))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

/// How a feed ended.
pub(crate) enum End {
    /// The client went away, or the feed ended as it should (dropping the sender ends the
    /// stream with OK, or with the trailer set by [`Sink::end_with`]).
    Gone,
    /// The client took no message for the stall timeout: the status it gets.
    Stalled(Status),
    /// The node is stopping.
    Stopping,
    /// Reading the store failed.
    Failed(Status),
}

/// The node's end of a response stream under the caps: the bounded queue to the client and the
/// way to end the stream with a status.
pub(crate) struct Sink<T> {
    /// Messages for the client; the stream ends when this is dropped.
    pub tx: mpsc::Sender<T>,
    link: Arc<Link>,
    shared: Arc<Shared>,
    conn: Option<Arc<ConnCtl>>,
}

/// A response stream for connection `conn` with `buffer` messages queued at most: the feeder's
/// [`Sink`] and the stream to hand to tonic. The stream holds a place under the caps until it
/// is dropped.
///
/// # Errors
/// `RESOURCE_EXHAUSTED` when the node or the connection has its most streams open.
pub(crate) fn channel<T>(
    shared: &Arc<Shared>,
    conn: Option<Arc<ConnCtl>>,
    buffer: usize,
) -> Result<(Sink<T>, Subscription<T>), Status> {
    let slot = Slot::take(shared, conn.clone())?;
    let (tx, rx) = mpsc::channel(buffer.max(1));
    let link = Arc::new(Link::default());
    let sink = Sink {
        tx,
        link: link.clone(),
        shared: shared.clone(),
        conn,
    };
    let stream = Subscription {
        rx,
        link,
        ended: false,
        _slot: slot,
    };
    Ok((sink, stream))
}

impl<T> Sink<T> {
    /// Ends the stream with `status` instead of OK once everything queued was sent (takes effect
    /// when the sink is dropped or finished).
    pub fn end_with(&self, status: Status) {
        *lock(&self.link.trailer) = Some(status);
    }

    /// The client's address, for logs.
    pub fn remote(&self) -> Option<std::net::SocketAddr> {
        self.conn.as_ref().map(|c| c.remote)
    }

    /// Ends the stream as `end` says: nothing more for `Gone`; a status first for the others
    /// (for a stalled client, its connection is closed if it does not take that within the
    /// stall timeout either). `what` names the stream in logs.
    pub async fn finish(self, end: End, what: &'static str) {
        let Sink {
            tx,
            link,
            shared,
            conn,
        } = self;
        let dropped = |reason: &'static str| {
            shared
                .metrics
                .subscriptions_dropped
                .get_or_create(&[("reason", reason)])
                .inc();
        };
        match end {
            End::Gone => {}
            End::Failed(s) => link.fail(s),
            End::Stopping => {
                dropped("shutdown");
                link.fail(status::shutting_down());
            }
            End::Stalled(status) => {
                let stall = shared.config.subscription_stall_timeout();
                dropped("stalled");
                tracing::info!(
                    remote = ?conn.as_ref().map(|c| c.remote),
                    "dropped a {what} whose client took no message for {} ms",
                    stall.as_millis()
                );
                link.fail(status);
                drop(tx);
                if !link.taken_within(stall).await {
                    if let Some(c) = conn {
                        shared.metrics.connections_closed.stalled_subscriber.inc();
                        tracing::info!(remote = %c.remote, "closed the connection of a {what} client that reads nothing");
                        c.close();
                    }
                }
            }
        }
    }
}

/// Opens a subscription from height `from` on connection `conn`, each block mapped to the
/// messages the client gets (`map` may return none).
///
/// # Errors
/// `RESOURCE_EXHAUSTED` when the node or the connection has its most subscriptions open.
pub(crate) fn open<T: Send + 'static>(
    shared: &Arc<Shared>,
    conn: Option<Arc<ConnCtl>>,
    from: u64,
    map: impl Fn(&CommittedBlock) -> Vec<T> + Send + Sync + 'static,
) -> Result<Subscription<T>, Status> {
    let (sink, stream) = channel(shared, conn, 1)?;
    let shared = shared.clone();
    tokio::spawn(async move {
        let end = feed(&shared, from, &sink.tx, &map).await;
        sink.finish(end, "subscription").await;
    });
    Ok(stream)
}

/// Waits until the client has room for one more message: `Err` when it took nothing for the
/// stall timeout, went away, or the node stops.
async fn room<'a, T>(
    tx: &'a mpsc::Sender<T>,
    stall: Duration,
    next: u64,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<mpsc::Permit<'a, T>, End> {
    tokio::select! {
        r = tokio::time::timeout(stall, tx.reserve()) => match r {
            Ok(Ok(permit)) => Ok(permit),
            Ok(Err(_)) => Err(End::Gone),
            Err(_) => Err(End::Stalled(status::stalled_subscriber(stall, next))),
        },
        _ = shutdown.wait_for(|s| *s) => Err(End::Stopping),
    }
}

/// Feeds a subscription: committed blocks from `from` out of the store, then live ones from
/// the broadcast channel; a subscriber that falls behind the channel catches up from the store.
async fn feed<T>(
    shared: &Arc<Shared>,
    from: u64,
    tx: &mpsc::Sender<T>,
    map: &(impl Fn(&CommittedBlock) -> Vec<T> + Send + Sync + 'static),
) -> End {
    let stall = shared.config.subscription_stall_timeout();
    let mut live = shared.blocks.subscribe();
    let mut shutdown = shared.shutdown.clone();
    let mut next = from;
    loop {
        // Catch up from the store. Room first, then read: while the client does not read,
        // nothing is read for it.
        loop {
            let permit = match room(tx, stall, next, &mut shutdown).await {
                Ok(p) => p,
                Err(end) => return end,
            };
            let start = next;
            let chunk = match shared
                .blocking(move |l| l.blocks_from(start, READ_BYTES))
                .await
            {
                Ok(c) => c,
                Err(e) => return End::Failed(e),
            };
            if chunk.is_empty() {
                drop(permit);
                break;
            }
            let mut permit = Some(permit);
            for b in &chunk {
                for item in map(b) {
                    let p = match permit.take() {
                        Some(p) => p,
                        None => match room(tx, stall, next, &mut shutdown).await {
                            Ok(p) => p,
                            Err(end) => return end,
                        },
                    };
                    p.send(item);
                }
                next = b.height().saturating_add(1);
            }
        }
        // Then live.
        loop {
            let b = tokio::select! {
                b = live.recv() => b,
                _ = shutdown.wait_for(|s| *s) => return End::Stopping,
                _ = tx.closed() => return End::Gone,
            };
            match b {
                Ok(b) => {
                    let h = b.height();
                    if h < next {
                        continue;
                    }
                    if h > next {
                        break; // a gap: catch up from the store
                    }
                    for item in map(&b) {
                        match room(tx, stall, next, &mut shutdown).await {
                            Ok(p) => p.send(item),
                            Err(end) => return end,
                        }
                    }
                    next = h.saturating_add(1);
                }
                Err(broadcast::error::RecvError::Lagged(_)) => break,
                Err(broadcast::error::RecvError::Closed) => return End::Stopping,
            }
        }
    }
}

//! `SubmitStream`: transactions in volume over one bidirectional stream, each answered exactly
//! once — a refusal as soon as it is known, a receipt in commit order — with a bounded window
//! of transactions in flight and nothing read while the client does not read.
//!
//! One task per stream reads a request, starts its signature check on the checking pool (up to
//! [`CHECK_DEPTH`] at once), and admits the checked transactions in the order they were sent,
//! in batches on the blocking pool (in a consortium, on a follower: each forwarded to the
//! leader, as `Submit` does). Before admitting one it registers the stream as a waiter for its
//! receipt ([`Entry`]); the block producer hands every receipt of a block to its waiters in
//! block order, blocks one after the other, so a stream's inbox receives outcomes in commit
//! order by construction. A transaction the mempool has no room for yet (the pool is full, or
//! its sender has `mempool_per_account` waiting) is held and tried again after each block (and
//! every [`RETRY`]), the rest of the stream waiting behind it, until it fits or its wait runs
//! out: a batch from one account flows at the pace of the chain instead of being refused. The
//! same holds while block production is paused, and on a follower while the leader has no
//! room or cannot be reached (an election).
//!
//! Bounds, per stream: at most `submit_stream_window` transactions read and not yet answered
//! (at that many the node reads no further request; HTTP/2 flow control then holds the client
//! back); at most [`RESPONSE_BUFFER`] answers queued for the client, and while they cannot be
//! sent nothing else happens on the stream (no request is read); outcomes waiting in the inbox
//! are at most one per transaction in the window. An answer the client takes no message for
//! during `subscription_stall_timeout_ms` drops the stream as a stalled subscription is
//! dropped. Each transaction waits at most `request_timeout_ms` from its admission (or from
//! its first attempt, when held) before it is answered `DEADLINE_EXCEEDED` (or the mempool's
//! `RESOURCE_EXHAUSTED`). The stream counts toward `max_subscriptions` and
//! `max_subscriptions_per_connection`.

use crate::net::ConnCtl;
use crate::node::Shared;
use crate::status;
use crate::subscriptions::{self, End, Sink, Subscription};
use hanok_ledger::mempool::MempoolError;
use hanok_ledger::{CommittedBlock, LedgerError};
use hanok_proto::v1;
use hanok_types::{CheckedTx, Hash};
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::time::Instant;
use tonic::{Code, Status, Streaming};

/// Answers queued for the client at most; while they cannot be sent, the stream reads nothing.
pub(crate) const RESPONSE_BUFFER: usize = 32;

/// Transactions of one stream in their signature check at once (the checking pool is shared:
/// one stream does not queue its whole window ahead of everyone else's submissions).
const CHECK_DEPTH: usize = 64;

/// Most transactions admitted in one call on the blocking pool.
const ADMIT_BATCH: usize = 256;

/// A held transaction is tried again after each block, and at least this often.
const RETRY: Duration = Duration::from_millis(200);

/// An outcome on its way to a stream.
pub(crate) struct Settled {
    seq: u64,
    outcome: Result<v1::Receipt, Status>,
}

/// Where a stream's outcomes arrive. Unbounded as a channel, bounded by the window: each
/// transaction of the window has one waiter, which sends once and is then removed.
pub(crate) struct Inbox(mpsc::UnboundedSender<Settled>);

/// A stream's waiter for one of its transactions (registered in the node's waiters).
#[derive(Clone)]
pub(crate) struct Entry {
    inbox: Arc<Inbox>,
    seq: u64,
}

impl Entry {
    /// Hands the outcome to the stream (nothing if the stream ended).
    pub(crate) fn settle(self, outcome: Result<v1::Receipt, Status>) {
        let _ = self.inbox.0.send(Settled {
            seq: self.seq,
            outcome,
        });
    }

    /// The stream ended.
    pub(crate) fn abandoned(&self) -> bool {
        self.inbox.0.is_closed()
    }

    /// The same stream and transaction.
    pub(crate) fn same(&self, other: &Entry) -> bool {
        Arc::ptr_eq(&self.inbox, &other.inbox) && self.seq == other.seq
    }
}

/// Where a read transaction is before admission.
#[allow(
    clippy::large_enum_variant,
    reason = "at most CHECK_DEPTH per stream; boxing would cost an allocation per transaction"
)]
enum Check {
    /// Its signature check runs.
    Running(oneshot::Receiver<Result<CheckedTx, LedgerError>>),
    /// Checked, waiting for its turn to be admitted.
    Done(CheckedTx),
    /// Refused before admission (no transaction, a failed check, the node stopping).
    Refused(Status),
}

/// A request read and not yet admitted.
struct Read {
    seq: u64,
    /// The hash of the bytes sent (empty when the request had no transaction).
    hash: Vec<u8>,
    check: Check,
}

/// A checked transaction that could not be admitted yet; tried again after each block and
/// every [`RETRY`].
struct Held {
    seq: u64,
    tx: CheckedTx,
    /// The last refusal, the answer if it never gets in.
    refusal: Status,
    /// When it is refused for good.
    until: Instant,
    retry_at: Instant,
}

/// An admitted transaction waiting for its block.
struct Pending {
    hash: Hash,
    deadline: Instant,
}

/// The admitted transactions of a stream; their waiters are removed when the stream ends.
struct Waiting {
    shared: Arc<Shared>,
    inbox: Arc<Inbox>,
    /// By position in the stream, which is admission order, so deadlines ascend too.
    pending: BTreeMap<u64, Pending>,
}

impl Waiting {
    fn entry(&self, seq: u64) -> Entry {
        Entry {
            inbox: self.inbox.clone(),
            seq,
        }
    }

    /// Forgets `seq`: no answer for it will come through the inbox any more.
    fn forget(&mut self, seq: u64) -> Option<Pending> {
        let p = self.pending.remove(&seq)?;
        self.shared.forget_stream_waiter(&p.hash, &self.entry(seq));
        Some(p)
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        for (seq, p) in std::mem::take(&mut self.pending) {
            self.shared.forget_stream_waiter(&p.hash, &self.entry(seq));
        }
    }
}

/// Opens a submit stream over `requests` on connection `conn`.
///
/// # Errors
/// `RESOURCE_EXHAUSTED` when the node or the connection has its most streams open.
pub(crate) fn open(
    shared: &Arc<Shared>,
    conn: Option<Arc<ConnCtl>>,
    requests: Streaming<v1::SubmitRequest>,
) -> Result<Subscription<v1::SubmitStreamResponse>, Status> {
    let (sink, stream) = subscriptions::channel(shared, conn, RESPONSE_BUFFER)?;
    let (inbox, settled) = mpsc::unbounded_channel();
    let config = &shared.config;
    let mut feed = Feed {
        waiting: Waiting {
            shared: shared.clone(),
            inbox: Arc::new(Inbox(inbox)),
            pending: BTreeMap::new(),
        },
        shared: shared.clone(),
        settled,
        requests,
        blocks: shared.blocks.subscribe(),
        shutdown: shared.shutdown.clone(),
        next_seq: 0,
        reading: true,
        stopping: false,
        trailer: None,
        checks: VecDeque::new(),
        held: None,
        window: config.submit_stream_window(),
        wait: config.request_timeout(),
        stall: config.subscription_stall_timeout(),
    };
    tokio::spawn(async move {
        let end = feed.run(&sink).await;
        if let End::Stalled(_) = &end {
            tracing::debug!(
                remote = ?sink.remote(),
                unanswered = feed.outstanding(),
                "submit stream stalled"
            );
        }
        // Forget the waiters before the stream's place is given back.
        drop(feed);
        sink.finish(end, "submit stream").await;
    });
    Ok(stream)
}

/// One stream's state (see the module docs).
struct Feed {
    shared: Arc<Shared>,
    waiting: Waiting,
    settled: mpsc::UnboundedReceiver<Settled>,
    requests: Streaming<v1::SubmitRequest>,
    blocks: broadcast::Receiver<Arc<CommittedBlock>>,
    shutdown: watch::Receiver<bool>,
    /// The position of the next request read.
    next_seq: u64,
    /// Requests are still read: not half-closed, failed, or stopping.
    reading: bool,
    stopping: bool,
    /// What the stream ends with instead of OK once everything read is answered.
    trailer: Option<Status>,
    /// Read, in order, not yet admitted.
    checks: VecDeque<Read>,
    held: Option<Held>,
    window: usize,
    wait: Duration,
    stall: Duration,
}

type Answer = Result<(), End>;

fn answer(
    seq: u64,
    tx_hash: Vec<u8>,
    outcome: v1::submit_stream_response::Outcome,
) -> v1::SubmitStreamResponse {
    v1::SubmitStreamResponse {
        seq,
        tx_hash,
        outcome: Some(outcome),
    }
}

fn refusal(seq: u64, tx_hash: Vec<u8>, status: &Status) -> v1::SubmitStreamResponse {
    answer(
        seq,
        tx_hash,
        v1::submit_stream_response::Outcome::Refused(v1::Refusal {
            code: status.code() as i32,
            message: status.message().to_string(),
        }),
    )
}

/// Whether a refusal only means "not yet": no room in the mempool, or block production
/// paused by a storage condition that may clear (it retries by itself).
fn not_yet(e: &LedgerError) -> bool {
    matches!(
        e,
        LedgerError::Mempool(MempoolError::Full { .. } | MempoolError::AccountFull { .. })
            | LedgerError::Paused(_)
    )
}

/// The same for a follower's forwarding: the leader's mempool has no room, or there is no
/// leader to reach at the moment (an election) — the same signed transaction can only commit
/// once, so sending it again is safe.
fn not_yet_at_leader(s: &Status) -> bool {
    matches!(s.code(), Code::ResourceExhausted | Code::Unavailable)
}

/// How one admission went.
enum Admitted {
    /// In the mempool (or, on a follower, taken by the leader); its waiter is registered.
    Yes,
    /// Not yet (see [`not_yet`]): hold it and try again.
    NotYet(CheckedTx, Status),
    /// Not tried: one before it was not admitted yet.
    NotTried(CheckedTx),
    /// Refused for good.
    No(Status),
}

impl Feed {
    /// Transactions read and not yet answered.
    fn outstanding(&self) -> usize {
        self.checks
            .len()
            .saturating_add(usize::from(self.held.is_some()))
            .saturating_add(self.waiting.pending.len())
    }

    /// The earliest wait that runs out.
    fn next_deadline(&self) -> Option<Instant> {
        let pending = self.waiting.pending.values().next().map(|p| p.deadline);
        let held = self.held.as_ref().map(|h| h.until.min(h.retry_at));
        match (pending, held) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    async fn run(&mut self, sink: &Sink<v1::SubmitStreamResponse>) -> End {
        match self.turns(sink).await {
            Ok(()) => {
                if let Some(t) = self.trailer.take() {
                    sink.end_with(t);
                }
                End::Gone
            }
            Err(end) => end,
        }
    }

    async fn turns(&mut self, sink: &Sink<v1::SubmitStreamResponse>) -> Answer {
        loop {
            if !self.reading && self.outstanding() == 0 {
                return Ok(());
            }
            if self.held.is_none() && self.front_checked() {
                self.admit_ready(sink).await?;
                continue;
            }
            let can_read = self.reading
                && self.outstanding() < self.window
                && self.checks.len() < CHECK_DEPTH
                && self.held.is_none();
            let deadline = self.next_deadline();
            let front_running = matches!(
                self.checks.front(),
                Some(Read {
                    check: Check::Running(_),
                    ..
                })
            );
            tokio::select! {
                biased;
                () = stopping(&mut self.shutdown), if !self.stopping => self.stop(),
                Some(s) = self.settled.recv() => self.settle(s, sink).await?,
                () = sleep_until(deadline), if deadline.is_some() => self.expire(sink).await?,
                checked = front_check(&mut self.checks), if front_running => {
                    if let Some(front) = self.checks.front_mut() {
                        front.check = checked;
                    }
                }
                b = self.blocks.recv(), if self.held.is_some() => match b {
                    Err(broadcast::error::RecvError::Closed) => self.stop(),
                    // A block (or several: lagged) committed; there may be room now.
                    _ => self.retry_held(sink).await?,
                },
                m = self.requests.message(), if can_read => self.read(m),
                () = sink.tx.closed() => return Err(End::Gone),
            }
        }
    }

    /// Whether the oldest read transaction is ready for admission (checked or refused).
    fn front_checked(&self) -> bool {
        matches!(
            self.checks.front(),
            Some(Read {
                check: Check::Done(_) | Check::Refused(_),
                ..
            })
        )
    }

    /// The node stops: nothing more is read or admitted; what is admitted is answered as the
    /// last block commits or the node tells its waiters it stopped.
    fn stop(&mut self) {
        self.stopping = true;
        if self.reading {
            self.reading = false;
            self.trailer = Some(status::shutting_down());
        }
        for r in &mut self.checks {
            r.check = Check::Refused(status::shutting_down());
        }
        if let Some(h) = &mut self.held {
            h.refusal = status::shutting_down();
            h.until = Instant::now();
        }
    }

    fn read(&mut self, message: Result<Option<v1::SubmitRequest>, Status>) {
        match message {
            Ok(Some(req)) => {
                let seq = self.next_seq;
                self.next_seq = self.next_seq.saturating_add(1);
                let read = match req.tx {
                    None => Read {
                        seq,
                        hash: Vec::new(),
                        check: Check::Refused(status::bad_field("tx", "missing SignedTx")),
                    },
                    Some(tx) => Read {
                        seq,
                        hash: hanok_types::tx_hash(&tx.body, &tx.signature).0.to_vec(),
                        check: Check::Running(self.shared.check_later(tx)),
                    },
                };
                self.checks.push_back(read);
            }
            // Half-closed: answer what was read, then end.
            Ok(None) => self.reading = false,
            // A request that does not decode or is too large, or the client reset the stream:
            // answer what was read (if anyone still listens), then end with that status.
            Err(s) => {
                self.reading = false;
                self.trailer = Some(s);
            }
        }
    }

    /// Sends one answer, waiting while the client's queue is full: `Err` when the client went
    /// away or took nothing for the stall timeout.
    async fn send(
        &self,
        sink: &Sink<v1::SubmitStreamResponse>,
        a: v1::SubmitStreamResponse,
    ) -> Answer {
        match tokio::time::timeout(self.stall, sink.tx.reserve()).await {
            Ok(Ok(permit)) => {
                permit.send(a);
                Ok(())
            }
            Ok(Err(_)) => Err(End::Gone),
            Err(_) => Err(End::Stalled(status::stalled_submit_stream(self.stall))),
        }
    }

    async fn refuse(
        &self,
        sink: &Sink<v1::SubmitStreamResponse>,
        seq: u64,
        hash: Vec<u8>,
        s: &Status,
    ) -> Answer {
        self.shared.count_submission(s.code());
        self.send(sink, refusal(seq, hash, s)).await
    }

    /// An outcome from the inbox: the receipt, or why there will be none.
    async fn settle(&mut self, s: Settled, sink: &Sink<v1::SubmitStreamResponse>) -> Answer {
        // Absent: answered already (its wait ran out just before the outcome came).
        let Some(p) = self.waiting.pending.remove(&s.seq) else {
            return Ok(());
        };
        let a = match s.outcome {
            Ok(receipt) => answer(
                s.seq,
                p.hash.0.to_vec(),
                v1::submit_stream_response::Outcome::Receipt(receipt),
            ),
            Err(status) => refusal(s.seq, p.hash.0.to_vec(), &status),
        };
        self.send(sink, a).await
    }

    /// Answers every transaction whose wait ran out.
    async fn expire(&mut self, sink: &Sink<v1::SubmitStreamResponse>) -> Answer {
        // Outcomes that arrived meanwhile first: a transaction that committed is not timed out.
        while let Ok(s) = self.settled.try_recv() {
            self.settle(s, sink).await?;
        }
        let now = Instant::now();
        let due: Vec<u64> = self
            .waiting
            .pending
            .iter()
            .take_while(|(_, p)| p.deadline <= now)
            .map(|(seq, _)| *seq)
            .collect();
        for seq in due {
            if let Some(p) = self.waiting.forget(seq) {
                let s = status::wait_deadline(&p.hash, self.wait);
                self.send(sink, refusal(seq, p.hash.0.to_vec(), &s)).await?;
            }
        }
        if self.held.as_ref().is_some_and(|h| h.until <= now) {
            if let Some(h) = self.held.take() {
                self.refuse(sink, h.seq, h.tx.hash().0.to_vec(), &h.refusal)
                    .await?;
            }
        } else if self.held.as_ref().is_some_and(|h| h.retry_at <= now) {
            self.retry_held(sink).await?;
        }
        Ok(())
    }

    /// Admits the checked transactions at the front, in order, up to one not admitted yet.
    async fn admit_ready(&mut self, sink: &Sink<v1::SubmitStreamResponse>) -> Answer {
        let mut batch = Vec::new();
        while batch.len() < ADMIT_BATCH {
            let Some(front) = self.checks.front_mut() else {
                break;
            };
            // A check that finished meanwhile is ready too.
            if let Check::Running(rx) = &mut front.check {
                match rx.try_recv() {
                    Err(oneshot::error::TryRecvError::Empty) => break,
                    r => front.check = checked(r),
                }
            }
            let Some(read) = self.checks.pop_front() else {
                break;
            };
            match read.check {
                Check::Done(tx) => batch.push((read.seq, tx)),
                // Answered in its turn: those before it are admitted first.
                Check::Refused(s) if batch.is_empty() => {
                    self.refuse(sink, read.seq, read.hash, &s).await?;
                }
                check => {
                    self.checks.push_front(Read { check, ..read });
                    break;
                }
            }
        }
        if batch.is_empty() {
            return Ok(());
        }
        let mut rest = Vec::new();
        for (seq, outcome) in self.admit(batch).await {
            match outcome {
                Admitted::Yes => {}
                Admitted::No(s) => self.refuse_pending(sink, seq, &s).await?,
                Admitted::NotYet(tx, refusal) => {
                    let now = Instant::now();
                    self.held = Some(Held {
                        seq,
                        tx,
                        refusal,
                        until: now + self.wait,
                        retry_at: now + RETRY,
                    });
                }
                // Behind the held one: back to the front, in order.
                Admitted::NotTried(tx) => rest.push((seq, tx)),
            }
        }
        for (seq, tx) in rest.into_iter().rev() {
            self.checks.push_front(Read {
                seq,
                hash: tx.hash().0.to_vec(),
                check: Check::Done(tx),
            });
        }
        Ok(())
    }

    /// Tries the held transaction again.
    async fn retry_held(&mut self, sink: &Sink<v1::SubmitStreamResponse>) -> Answer {
        let Some(Held {
            seq,
            tx,
            refusal,
            until,
            ..
        }) = self.held.take()
        else {
            return Ok(());
        };
        let retry_at = Instant::now() + RETRY;
        for (seq, outcome) in self.admit(vec![(seq, tx)]).await {
            match outcome {
                Admitted::Yes => {}
                Admitted::No(s) => self.refuse_pending(sink, seq, &s).await?,
                Admitted::NotYet(tx, refusal) => {
                    self.held = Some(Held {
                        seq,
                        tx,
                        refusal,
                        until,
                        retry_at,
                    });
                }
                // (Only behind one not admitted yet; alone, it is always tried.)
                Admitted::NotTried(tx) => {
                    self.held = Some(Held {
                        seq,
                        tx,
                        refusal: refusal.clone(),
                        until,
                        retry_at,
                    });
                }
            }
        }
        Ok(())
    }

    /// Answers an admitted-and-then-refused transaction, forgetting its waiter.
    async fn refuse_pending(
        &mut self,
        sink: &Sink<v1::SubmitStreamResponse>,
        seq: u64,
        s: &Status,
    ) -> Answer {
        let hash = self
            .waiting
            .forget(seq)
            .map(|p| p.hash.0.to_vec())
            .unwrap_or_default();
        self.refuse(sink, seq, hash, s).await
    }

    /// Admits `txs` in order: on this node's mempool in one call on the blocking pool, or on a
    /// follower each forwarded to the leader. Each is pending from here, its waiter registered
    /// before its admission (or the block could commit before anyone listens); one refused is
    /// forgotten again when answered ([`Feed::refuse_pending`]), one not admitted yet (and those
    /// after it, not tried, to keep the stream's order) at once.
    async fn admit(&mut self, txs: Vec<(u64, CheckedTx)>) -> Vec<(u64, Admitted)> {
        let deadline = Instant::now() + self.wait;
        let seqs: Vec<u64> = txs.iter().map(|(seq, _)| *seq).collect();
        // Blocks from now on: one that commits after this attempt is what may make room for a
        // transaction held now (older notifications would only cause retries for nothing).
        self.blocks = self.blocks.resubscribe();
        for (seq, tx) in &txs {
            self.waiting.pending.insert(
                *seq,
                Pending {
                    hash: tx.hash(),
                    deadline,
                },
            );
        }
        let outcomes = match self.shared.follower() {
            Err(s) => seqs
                .iter()
                .map(|seq| (*seq, Admitted::No(s.clone())))
                .collect(),
            Ok(Some(c)) => {
                let mut outcomes = Vec::with_capacity(txs.len());
                let mut later = false;
                for (seq, tx) in txs {
                    if later {
                        outcomes.push((seq, Admitted::NotTried(tx)));
                        continue;
                    }
                    self.shared
                        .add_stream_waiter(tx.hash(), self.waiting.entry(seq));
                    let outcome = match c.forward(tx.to_signed()).await {
                        Ok(_) => Admitted::Yes,
                        Err(s) if not_yet_at_leader(&s) => {
                            later = true;
                            Admitted::NotYet(tx, s)
                        }
                        Err(s) => Admitted::No(s),
                    };
                    outcomes.push((seq, outcome));
                }
                outcomes
            }
            Ok(None) => {
                let shared = self.shared.clone();
                let entries: Vec<Entry> = seqs.iter().map(|seq| self.waiting.entry(*seq)).collect();
                let admitted = tokio::task::spawn_blocking(move || {
                    let mut outcomes = Vec::with_capacity(txs.len());
                    let mut later = false;
                    for ((seq, tx), entry) in txs.into_iter().zip(entries) {
                        if later {
                            outcomes.push((seq, Admitted::NotTried(tx)));
                            continue;
                        }
                        shared.add_stream_waiter(tx.hash(), entry);
                        // A copy, to hold it if the mempool has no room (≈ 1 µs against the
                        // ≈ 120 µs its signature check took).
                        let outcome = match shared.ledger.admit(tx.clone()) {
                            Ok(_) => Admitted::Yes,
                            Err(e) if not_yet(&e) => {
                                later = true;
                                Admitted::NotYet(tx, status::ledger(&e))
                            }
                            Err(e) => Admitted::No(status::ledger(&e)),
                        };
                        outcomes.push((seq, outcome));
                    }
                    outcomes
                })
                .await;
                // The producer sleeps until something is waiting.
                self.shared.wake.notify_one();
                admitted.unwrap_or_else(|e| {
                    let s = status::task(&e);
                    seqs.iter()
                        .map(|seq| (*seq, Admitted::No(s.clone())))
                        .collect()
                })
            }
        };
        for (seq, outcome) in &outcomes {
            match outcome {
                Admitted::Yes => self.shared.count_submission(Code::Ok),
                // Not admitted (yet): neither waiting nor pending.
                Admitted::NotYet(..) | Admitted::NotTried(_) => {
                    self.waiting.forget(*seq);
                }
                // Counted and forgotten when answered.
                Admitted::No(_) => {}
            }
        }
        outcomes
    }
}

/// The result of a signature check as a [`Check`].
fn checked(r: Result<Result<CheckedTx, LedgerError>, oneshot::error::TryRecvError>) -> Check {
    match r {
        Ok(Ok(tx)) => Check::Done(tx),
        Ok(Err(e)) => Check::Refused(status::ledger(&e)),
        Err(e) => Check::Refused(status::task(&e)),
    }
}

/// Waits for the front transaction's signature check (pending forever if there is none).
async fn front_check(checks: &mut VecDeque<Read>) -> Check {
    match checks.front_mut() {
        Some(Read {
            check: Check::Running(rx),
            ..
        }) => match rx.await {
            Ok(r) => checked(Ok(r)),
            Err(_) => Check::Refused(status::task(&"the signature check was dropped")),
        },
        _ => std::future::pending().await,
    }
}

/// Returns once the node is stopping.
async fn stopping(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|s| *s).await;
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

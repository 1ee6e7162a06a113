//! The running node: the ledger shared with the services, the block producer task, waiters for
//! receipts, start (port bound first, replay behind a NOT_SERVING health check) and shutdown.

use crate::config::NodeConfig;
use crate::error::{Error, Result};
use crate::metrics::Metrics;
use crate::net::{AcceptRules, Conns};
use crate::status;
use hanok_ledger::{BlockCommit, CommittedBlock, Ledger, LedgerError, NodeGenesis};
use hanok_proto::v1;
use hanok_types::Hash;
use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::sync::{broadcast, oneshot, watch, Notify};
use tonic::Status;

/// Who waits for a transaction's outcome.
pub(crate) enum Waiter {
    /// A `SubmitAndWait` call (or a follower's forwarded one).
    Call(oneshot::Sender<Result<v1::Receipt, Status>>),
    /// A transaction of a `SubmitStream`: outcomes reach the stream in the order they are
    /// sent here, which is commit order.
    Stream(crate::submit_stream::Entry),
}

impl Waiter {
    /// Hands over the outcome (a receipt is copied for each waiter).
    fn send(self, outcome: Result<&v1::Receipt, Status>) {
        match self {
            Waiter::Call(w) => {
                let _ = w.send(outcome.cloned());
            }
            Waiter::Stream(e) => e.settle(outcome.cloned()),
        }
    }

    /// Nobody listens any more: the call returned, or the stream ended.
    fn abandoned(&self) -> bool {
        match self {
            Waiter::Call(w) => w.is_closed(),
            Waiter::Stream(e) => e.abandoned(),
        }
    }
}

/// What the services and the producer share: the ledger plus the async plumbing around it
/// (who waits for which receipt, who is subscribed to blocks, when to wake the producer).
pub(crate) struct Shared {
    pub config: NodeConfig,
    pub ledger: Ledger,
    waiters: Mutex<HashMap<Hash, Vec<Waiter>>>,
    pub wake: Notify,
    pub blocks: broadcast::Sender<Arc<CommittedBlock>>,
    pub shutdown: watch::Receiver<bool>,
    /// The health service's reporter, once the server is set up.
    pub health: std::sync::OnceLock<tonic_health::server::HealthReporter>,
    /// What the node counts (`--metrics`).
    pub metrics: Metrics,
    /// Subscriptions (`StreamBlocks`, `StreamEvents`) open, all connections together.
    pub subscriptions: AtomicUsize,
    /// In a consortium: Raft and the way to the leader (set once Raft runs).
    pub consortium: OnceLock<Arc<crate::consortium::Consortium>>,
    /// The chain's identity (`GetStatus.genesis_hash`, [`hanok_types::chain_genesis_hash`]).
    pub genesis_hash: [u8; 32],
    /// The genesis proposers, compressed (`GetStatus.proposers`).
    pub proposers: Vec<Vec<u8>>,
}

/// The services whose health follows block production: the server as a whole ("") and ours.
pub(crate) const HEALTH_SERVICES: [&str; 4] = [
    "",
    "hanok.v1.Ledger",
    "hanok.v1.Contracts",
    "hanok.v1.Proofs",
];
/// TEST ONLY: makes this node's re-execution differ from the given height on
/// (`hanok_chain::ChainConfig::perturb_from_height`), to test that a diverging member halts.
pub const PERTURB_ENV: &str = "HANOK_TEST_ONLY_PERTURB_FROM_HEIGHT";

/// First and longest wait between attempts to resume block production after a storage error.
const RETRY_MIN: std::time::Duration = std::time::Duration::from_millis(100);
const RETRY_MAX: std::time::Duration = std::time::Duration::from_secs(2);

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("ledger", &self.ledger)
            .finish_non_exhaustive()
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Unix seconds now: the time the producer proposes, and a dry run assumes.
pub(crate) fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Shared {
    /// Runs `f` on the ledger on the blocking pool (every ledger call may block on a lock, the
    /// VM or an fsync).
    pub async fn blocking<R: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&Ledger) -> Result<R, LedgerError> + Send + 'static,
    ) -> Result<R, Status> {
        let s = self.clone();
        tokio::task::spawn_blocking(move || f(&s.ledger))
            .await
            .map_err(|e| status::task(&e))?
            .map_err(|e| status::ledger(&e))
    }

    /// The stateless checks of a transaction ([`Ledger::check`]) on the signature-check pool
    /// (one thread per core, niced; see `verify`); the answer arrives on the receiver.
    pub fn check_later(
        self: &Arc<Self>,
        signed: v1::SignedTx,
    ) -> oneshot::Receiver<Result<hanok_types::CheckedTx, LedgerError>> {
        let (tx, rx) = oneshot::channel();
        let shared = self.clone();
        self.metrics.signature_checks.inc();
        crate::verify::spawn(move || {
            let _ = tx.send(shared.ledger.check(signed));
            shared.metrics.signature_checks.dec();
        });
        rx
    }

    /// In a consortium, when this node is not the leader: the way to it.
    ///
    /// # Errors
    /// `UNAVAILABLE` from a member that halted: it takes no write, as it could never apply the
    /// block.
    pub fn follower(&self) -> Result<Option<Arc<crate::consortium::Consortium>>, Status> {
        let Some(c) = self.consortium.get() else {
            return Ok(None);
        };
        if let Some(reason) = c.consensus.halted() {
            return Err(Status::unavailable(format!(
                "this consortium member stopped applying blocks ({reason}); it serves reads at \
                 its last height only: send transactions to another member"
            )));
        }
        Ok((!c.is_leader()).then(|| c.clone()))
    }

    /// Counts a submission's outcome (`hanok_submissions_total{result}`).
    pub fn count_submission(&self, code: tonic::Code) {
        self.metrics
            .submissions
            .get_or_create(&[("result", crate::metrics::code_label(code))])
            .inc();
    }

    /// Registers interest in `hash`'s receipt.
    pub fn add_waiter(&self, hash: Hash) -> oneshot::Receiver<Result<v1::Receipt, Status>> {
        let (tx, rx) = oneshot::channel();
        lock(&self.waiters)
            .entry(hash)
            .or_default()
            .push(Waiter::Call(tx));
        rx
    }

    /// Registers a submit stream's interest in `hash`'s receipt.
    pub fn add_stream_waiter(&self, hash: Hash, entry: crate::submit_stream::Entry) {
        lock(&self.waiters)
            .entry(hash)
            .or_default()
            .push(Waiter::Stream(entry));
    }

    /// Forgets the waiters of `hash` that `which` picks; those of other callers stay (another
    /// call may wait for the same transaction: a refused duplicate must not take its waiter).
    fn forget(&self, hash: &Hash, which: impl Fn(&Waiter) -> bool) {
        let mut waiters = lock(&self.waiters);
        if let Some(ws) = waiters.get_mut(hash) {
            ws.retain(|w| !which(w));
            if ws.is_empty() {
                waiters.remove(hash);
            }
        }
    }

    /// Forgets the waiters of `hash` nobody listens to any more (a `SubmitAndWait` whose
    /// submission was refused drops its receiver, then calls this).
    pub fn forget_abandoned(&self, hash: &Hash) {
        self.forget(hash, Waiter::abandoned);
    }

    /// Forgets one submit stream's waiter for `hash` (refused, timed out, or the stream ended).
    pub fn forget_stream_waiter(&self, hash: &Hash, entry: &crate::submit_stream::Entry) {
        self.forget(hash, |w| matches!(w, Waiter::Stream(e) if e.same(entry)));
    }

    /// Answers everyone waiting for a receipt of `commit`'s block or for a transaction it
    /// evicted, then tells the stream subscribers.
    pub(crate) fn committed(&self, commit: BlockCommit) {
        let BlockCommit { block, evicted, .. } = commit;
        // Each waiter gets its own copy; a receipt nobody waits for is not copied at all.
        let waiting: Vec<(Vec<Waiter>, &v1::Receipt)> = {
            let mut waiters = lock(&self.waiters);
            block
                .receipts
                .iter()
                .filter_map(|r| {
                    let hash = Hash::from_slice(&r.tx_hash)?;
                    waiters.remove(&hash).map(|ws| (ws, r))
                })
                .collect()
        };
        for (ws, receipt) in waiting {
            for w in ws {
                w.send(Ok(receipt));
            }
        }
        for (hash, why) in evicted {
            if let Some(ws) = lock(&self.waiters).remove(&hash) {
                for w in ws {
                    w.send(Err(status::evicted(&hash, &why)));
                }
            }
        }
        let _ = self.blocks.send(block);
    }

    /// Health answers SERVING or NOT_SERVING for the server and every hanok service.
    pub(crate) async fn set_serving(&self, serving: bool) {
        use tonic_health::ServingStatus;
        let Some(reporter) = self.health.get() else {
            return;
        };
        let status = if serving {
            ServingStatus::Serving
        } else {
            ServingStatus::NotServing
        };
        for name in HEALTH_SERVICES {
            reporter.set_service_status(name, status).await;
        }
        self.metrics.serving.set(i64::from(serving));
    }

    /// At shutdown, once the producer has stopped: everyone still waiting for a receipt or a
    /// proof gets `UNAVAILABLE` now, rather than a timeout later.
    fn stop_waiters(&self) {
        let waiters: Vec<(Hash, Vec<Waiter>)> = lock(&self.waiters).drain().collect();
        for (hash, ws) in waiters {
            for w in ws {
                w.send(Err(status::not_committed_at_shutdown(&hash)));
            }
        }
    }

    /// Counts a committed block: its transactions by outcome and its stage timings.
    pub(crate) fn count(&self, commit: &BlockCommit, total: std::time::Duration) {
        let m = &self.metrics;
        m.blocks.inc();
        m.height
            .set(i64::try_from(commit.block.height()).unwrap_or(i64::MAX));
        let receipts = &commit.block.receipts;
        for r in receipts.iter() {
            let outcome = match v1::TxStatus::try_from(r.status) {
                Ok(v1::TxStatus::Ok) => "ok",
                Ok(v1::TxStatus::ContractError) => "contract_error",
                Ok(v1::TxStatus::VmError) => "vm_error",
                Ok(v1::TxStatus::Rejected) => "rejected",
                _ => "unknown",
            };
            m.transactions.get_or_create(&[("outcome", outcome)]).inc();
        }
        #[allow(
            clippy::cast_precision_loss,
            reason = "a histogram sample; 2^52 txs is far off"
        )]
        m.block_txs.observe(receipts.len() as f64);
        let t = &commit.timings;
        for (stage, d) in [
            ("verify", t.verify),
            ("execute", t.execute),
            ("log", t.log),
            ("state", t.state),
            ("total", total),
        ] {
            m.block_stage
                .get_or_create(&[("stage", stage)])
                .observe(d.as_secs_f64());
        }
        m.log_sync.observe(t.log.as_secs_f64());
        m.mempool
            .set(i64::try_from(self.ledger.mempool_len()).unwrap_or(i64::MAX));
    }

    /// Fails every waiter: block production stopped.
    pub(crate) fn fail_all(&self, reason: &str) {
        let waiters: Vec<Waiter> = lock(&self.waiters).drain().flat_map(|(_, w)| w).collect();
        for w in waiters {
            w.send(Err(status::halted(reason)));
        }
    }

    /// One turn of the producer, on a blocking thread: a block of what is ready.
    fn produce(&self) -> Result<(), LedgerError> {
        let started = std::time::Instant::now();
        if let Some(commit) = self.ledger.produce_block(now_secs())? {
            tracing::debug!(
                height = commit.block.height(),
                txs = commit.block.receipts.len(),
                execute_ms = commit.timings.execute.as_secs_f64() * 1e3,
                log_ms = commit.timings.log.as_secs_f64() * 1e3,
                state_ms = commit.timings.state.as_secs_f64() * 1e3,
                total_ms = started.elapsed().as_secs_f64() * 1e3,
                "block committed"
            );
            self.count(&commit, started.elapsed());
            self.committed(commit);
        }
        Ok(())
    }
}

/// The producer: one task, so blocks are produced one at a time. It sleeps until a transaction
/// is admitted (which notifies `wake`), then starts a block as soon as the
/// block interval since the previous block's start has passed: under light load a transaction
/// waits at most one interval, and under heavy load each block takes what arrived while the
/// previous one was produced (group commit: one fsync for all of them). The VM and the fsync
/// run on the blocking pool (a VM session is `!Send` and never crosses an await).
///
/// After a storage error that may clear (the ledger is *paused*: a full disk, a descriptor
/// limit) it retries on a timer with a doubling backoff, health answering NOT_SERVING until a
/// block commits again; waiters keep waiting (their transactions went back to the mempool, or
/// their block is in the log and replays on resume). After one that may not (*halted*: a
/// failed fsync) it stops for good and fails every waiter.
async fn producer(shared: Arc<Shared>, mut shutdown: watch::Receiver<bool>) {
    let spacing = shared.config.block_interval();
    let mut last_start: Option<tokio::time::Instant> = None;
    let mut backoff = RETRY_MIN;
    loop {
        if shared.ledger.paused().is_some() && shared.ledger.halted().is_none() {
            // Nothing else wakes a paused producer: retry on a timer.
            tokio::select! {
                _ = tokio::time::sleep(backoff) => {}
                _ = shutdown.changed() => break,
            }
            backoff = (backoff * 2).min(RETRY_MAX);
            let s = shared.clone();
            match tokio::task::spawn_blocking(move || s.ledger.recover()).await {
                Ok(Ok(replayed)) => {
                    let reopened = !replayed.is_empty();
                    for commit in replayed {
                        shared.committed(commit);
                    }
                    if reopened || !shared.ledger.has_ready() {
                        // Writes worked (a replay), or there is nothing to try them with: the
                        // next transaction will tell.
                        backoff = RETRY_MIN;
                        tracing::info!("block production resumed");
                        shared.set_serving(true).await;
                    }
                    // Produce at once; otherwise health turns back once a block commits.
                    shared.wake.notify_one();
                }
                Ok(Err(e)) => {
                    tracing::debug!(
                        error = %e,
                        retry_in_ms = backoff.as_millis(),
                        "still cannot resume block production"
                    );
                }
                Err(e) => {
                    let reason = format!("block producer task failed: {e}");
                    shared.ledger.halt(reason.clone());
                    shared.fail_all(&reason);
                    shared.set_serving(false).await;
                }
            }
            continue;
        }
        tokio::select! {
            _ = shared.wake.notified() => {}
            _ = shutdown.changed() => break,
        }
        if let Some(next) = last_start.map(|t| t + spacing) {
            tokio::select! {
                _ = tokio::time::sleep_until(next) => {}
                _ = shutdown.changed() => break,
            }
        }
        if shared.ledger.halted().is_some() {
            continue;
        }
        if !shared.ledger.has_ready() {
            continue;
        }
        last_start = Some(tokio::time::Instant::now());
        let s = shared.clone();
        match tokio::task::spawn_blocking(move || s.produce()).await {
            Ok(Ok(())) => {
                if backoff > RETRY_MIN {
                    // The first block after a pause: writes work again.
                    backoff = RETRY_MIN;
                    tracing::info!("block production resumed");
                    shared.set_serving(true).await;
                }
            }
            Ok(Err(e)) => match (shared.ledger.halted(), shared.ledger.paused()) {
                (Some(reason), _) => {
                    shared.fail_all(&reason);
                    shared.set_serving(false).await;
                }
                (None, Some(_)) => {
                    // Mark the pause even if the first retry succeeds at once.
                    backoff = backoff.max(RETRY_MIN * 2);
                    shared.set_serving(false).await;
                }
                (None, None) => {
                    // Not a storage failure: a bug (the chain refused our own proposal). Keep
                    // the node up; the transactions went back to the mempool.
                    tracing::error!(error = %e, "block proposal failed");
                }
            },
            Err(e) => {
                let reason = format!("block producer task failed: {e}");
                shared.ledger.halt(reason.clone());
                shared.fail_all(&reason);
                shared.set_serving(false).await;
            }
        }
        // Whatever arrived meanwhile (or did not fit) goes into the next block.
        if shared.ledger.has_ready() {
            shared.wake.notify_one();
        }
    }
}

/// What the services hold: the node once its ledger is open, and what they answer before
/// (health `NOT_SERVING`, every other call `UNAVAILABLE` with the replay's progress) and after
/// a stop began (`UNAVAILABLE`).
pub(crate) struct Gate {
    pub config: NodeConfig,
    pub metrics: Metrics,
    pub conns: Arc<Conns>,
    node: OnceLock<Arc<Shared>>,
    replayed: AtomicU64,
    replay_last: AtomicU64,
    stopping: watch::Receiver<bool>,
}

impl std::fmt::Debug for Gate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gate").finish_non_exhaustive()
    }
}

impl Gate {
    /// The node, ready to serve.
    ///
    /// # Errors
    /// `UNAVAILABLE`: the node is stopping, or still replaying its block log (the message says
    /// how far).
    pub fn node(&self) -> Result<&Arc<Shared>, Status> {
        if *self.stopping.borrow() {
            return Err(status::shutting_down());
        }
        self.node.get().ok_or_else(|| {
            status::replaying(
                self.replayed.load(Ordering::Relaxed),
                self.replay_last.load(Ordering::Relaxed),
            )
        })
    }

    /// What the node is doing, in a few words: health checks carry it in their `hanok-status`
    /// metadata.
    pub fn phase(&self) -> String {
        if *self.stopping.borrow() {
            return "stopping".into();
        }
        match self.node.get() {
            Some(s) => match (s.ledger.halted(), s.ledger.paused()) {
                (Some(reason), _) => format!("halted: {reason}"),
                (None, Some(reason)) => format!("paused, retrying: {reason}"),
                (None, None) => "serving".into(),
            },
            None => format!(
                "replaying: block {} of {}",
                self.replayed.load(Ordering::Relaxed),
                self.replay_last.load(Ordering::Relaxed)
            ),
        }
    }

    /// The metrics text, with the gauges read at scrape time brought up to date.
    fn render_metrics(&self) -> String {
        if let Some(s) = self.node.get() {
            self.metrics
                .mempool
                .set(i64::try_from(s.ledger.mempool_len()).unwrap_or(i64::MAX));
        }
        self.metrics.render()
    }
}

/// A node whose port is bound and whose ledger is being opened (the block log replayed):
/// health checks answer `NOT_SERVING` meanwhile. [`Starting::ready`] waits for it to serve.
#[derive(Debug)]
pub struct Starting {
    /// The address the gRPC server listens on (the real port when configured with port 0).
    pub local_addr: SocketAddr,
    /// Where metrics are served, if they are (the real port when configured with port 0).
    pub metrics_addr: Option<SocketAddr>,
    gate: Arc<Gate>,
    stop: watch::Sender<bool>,
    shutdown: watch::Receiver<bool>,
    server: tokio::task::JoinHandle<Result<(), tonic::transport::Error>>,
    opening: tokio::task::JoinHandle<Result<(Ledger, hanok_ledger::OpenReport)>>,
    health: tonic_health::server::HealthReporter,
    tls_mode: &'static str,
    /// In a consortium: the Raft service mounted on the server, and the bootstrap block's
    /// transactions, which the first leader proposes (each node does not commit its own).
    raft: crate::consortium::LazyRaft,
    bootstrap: Vec<v1::SignedTx>,
    consortium_genesis: [u8; 32],
    proposers: Vec<Vec<u8>>,
}

impl Starting {
    /// Waits until the ledger is open (genesis and the bootstrap block committed on first
    /// start, the block log replayed), then serves: the producer runs and health says SERVING.
    ///
    /// # Errors
    /// [`Error::Ledger`] if the ledger cannot be opened (e.g. another genesis); the server is
    /// stopped then.
    pub async fn ready(mut self) -> Result<NodeHandle> {
        let opened = (&mut self.opening).await;
        self.serve(opened).await
    }

    /// [`Starting::ready`], unless `stop` completes first: then the node stops (as
    /// [`Starting::abandon`]) and this returns `None`.
    ///
    /// # Errors
    /// As [`Starting::ready`].
    pub async fn ready_unless(
        mut self,
        stop: impl Future<Output = ()>,
    ) -> Result<Option<NodeHandle>> {
        let opened = tokio::select! {
            r = &mut self.opening => r,
            () = stop => {
                self.abandon().await;
                return Ok(None);
            }
        };
        self.serve(opened).await.map(Some)
    }

    async fn serve(
        self,
        opened: Result<Result<(Ledger, hanok_ledger::OpenReport)>, tokio::task::JoinError>,
    ) -> Result<NodeHandle> {
        let Starting {
            local_addr,
            metrics_addr,
            gate,
            stop,
            shutdown,
            server,
            health,
            tls_mode,
            raft,
            bootstrap,
            consortium_genesis,
            proposers,
            ..
        } = self;
        let opened = match opened {
            Ok(r) => r,
            Err(e) => Err(Error::Task(e.to_string())),
        };
        let (ledger, report) = match opened {
            Ok(o) => o,
            Err(e) => {
                let _ = stop.send(true);
                gate.conns.close_all();
                let _ = server.await;
                return Err(e);
            }
        };
        hanok_ledger::log_open_report(&report, "chain opened");
        let (blocks, _) = broadcast::channel(256);
        let shared = Arc::new(Shared {
            config: gate.config.clone(),
            ledger,
            waiters: Mutex::new(HashMap::new()),
            wake: Notify::new(),
            blocks,
            shutdown: shutdown.clone(),
            health: OnceLock::new(),
            metrics: gate.metrics.clone(),
            subscriptions: AtomicUsize::new(0),
            consortium: OnceLock::new(),
            genesis_hash: consortium_genesis,
            proposers,
        });
        let _ = shared.health.set(health);
        gate.metrics
            .height
            .set(i64::try_from(report.height).unwrap_or(i64::MAX));
        let producer = match gate.config.consortium.clone() {
            Some(cc) => {
                let started =
                    crate::consortium::start(&shared, &gate.config, &cc, consortium_genesis, &raft)
                        .await;
                let consortium = match started {
                    Ok(c) => c,
                    Err(e) => {
                        let _ = stop.send(true);
                        gate.conns.close_all();
                        let _ = server.await;
                        return Err(e);
                    }
                };
                // On a new chain, whoever leads first proposes the bootstrap block.
                if matches!(shared.ledger.height(), Ok(0)) {
                    for tx in bootstrap {
                        let s = shared.clone();
                        let admitted = tokio::task::spawn_blocking(move || {
                            s.ledger.check(tx).and_then(|c| s.ledger.admit(c))
                        })
                        .await;
                        if let Ok(Err(e)) = admitted {
                            tracing::warn!(error = %e, "bootstrap transaction not admitted");
                        }
                    }
                }
                let _ = shared.consortium.set(consortium.clone());
                tokio::spawn(crate::consortium::producer(
                    shared.clone(),
                    consortium,
                    shutdown,
                ))
            }
            None => tokio::spawn(producer(shared.clone(), shutdown)),
        };
        let _ = gate.node.set(shared.clone());
        shared.set_serving(true).await;
        tracing::info!(%local_addr, chain_id = %shared.ledger.chain_id(), tls = tls_mode, "node serving");
        Ok(NodeHandle {
            local_addr,
            metrics_addr,
            stop,
            server,
            producer,
            shared,
            gate,
        })
    }

    /// Stops a node that is still replaying: the server closes; the replay, which writes only
    /// what is rebuilt from the block log, finishes in the background or is cut short when
    /// the process exits (as a crash would, which it is built to survive).
    pub async fn abandon(self) {
        let _ = self.stop.send(true);
        self.gate.conns.close_all();
        let _ = self.server.await;
        tracing::info!("node stopped while replaying");
    }
}

/// A running node.
#[derive(Debug)]
pub struct NodeHandle {
    /// The address the gRPC server listens on (the real port when configured with port 0).
    pub local_addr: SocketAddr,
    /// Where metrics are served, if they are (the real port when configured with port 0).
    pub metrics_addr: Option<SocketAddr>,
    stop: watch::Sender<bool>,
    server: tokio::task::JoinHandle<Result<(), tonic::transport::Error>>,
    producer: tokio::task::JoinHandle<()>,
    shared: Arc<Shared>,
    gate: Arc<Gate>,
}

impl NodeHandle {
    /// Stops: no new connections or calls (both `UNAVAILABLE`), the block being produced
    /// finishes, everyone still waiting for a receipt gets `UNAVAILABLE`, calls in flight get
    /// `shutdown_grace_ms` to finish before their connections are closed; then the ledger is
    /// closed (flushed, the data directory released).
    ///
    /// # Errors
    /// [`Error::Transport`] if the server failed; [`Error::Task`] if a task panicked.
    pub async fn shutdown(self) -> Result<()> {
        let NodeHandle {
            stop,
            mut server,
            producer,
            shared,
            gate,
            ..
        } = self;
        let _ = stop.send(true);
        shared.set_serving(false).await;
        producer.await.map_err(|e| Error::Task(e.to_string()))?;
        if let Some(c) = shared.consortium.get() {
            if let Err(e) = c.consensus.shutdown().await {
                tracing::warn!(error = %e, "Raft did not stop cleanly");
            }
        }
        shared.stop_waiters();
        let grace = gate.config.shutdown_grace();
        let served = match tokio::time::timeout(grace, &mut server).await {
            Ok(r) => r,
            Err(_) => {
                let n = gate.conns.close_all();
                gate.metrics.connections_closed.shutdown.inc_by(n as u64);
                tracing::info!(
                    connections = n,
                    grace_ms = grace.as_millis(),
                    "closed the connections still busy after the shutdown grace"
                );
                server.await
            }
        }
        .map_err(|e| Error::Task(e.to_string()))?;
        tokio::task::spawn_blocking(move || shared.ledger.close())
            .await
            .map_err(|e| Error::Task(e.to_string()))?;
        tracing::info!("node stopped");
        Ok(served?)
    }
}

/// Opens the ledger in `config.data_dir` (committing genesis and the bootstrap block on first
/// start), starts the block producer and the gRPC server, and returns once it serves.
///
/// # Errors
/// As [`launch`] and [`Starting::ready`].
pub async fn start(config: NodeConfig, genesis: NodeGenesis) -> Result<NodeHandle> {
    launch(config, genesis).await?.ready().await
}

/// Binds the gRPC port (and the metrics port) and serves at once, health answering
/// `NOT_SERVING` and every other call `UNAVAILABLE` with the replay's progress, while the
/// ledger opens in the background; [`Starting::ready`] waits for it. Raises the process's soft
/// descriptor limit and fits the connection cap under it.
///
/// # Errors
/// [`Error::Config`] if the chain ids differ or TLS is misconfigured; [`Error::Limits`] if the
/// descriptor limit is too low; [`Error::Listen`] if an address cannot be bound.
pub async fn launch(config: NodeConfig, mut genesis: NodeGenesis) -> Result<Starting> {
    if genesis.genesis.chain_id != config.chain_id {
        return Err(Error::Config {
            path: "<config>".into(),
            reason: format!(
                "chain_id `{}` differs from the genesis chain id `{}`",
                config.chain_id, genesis.genesis.chain_id
            ),
        });
    }
    // Refuse a bad TLS setup before the (possibly long) replay.
    let tls = config.server_tls()?;
    if let Some(c) = &config.consortium {
        crate::consortium::check(&config, c)?;
    }
    let consortium_genesis = crate::consortium::consortium_genesis_hash(&genesis);
    let proposers: Vec<Vec<u8>> = genesis
        .chain
        .proposers
        .iter()
        .flatten()
        .map(|k| k.to_bytes().to_vec())
        .collect();
    if let Some(h) = std::env::var(PERTURB_ENV)
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    {
        tracing::warn!(
            from_height = h,
            "{PERTURB_ENV} is set: this node will disagree with every other from that height \
             (a test of divergence; never set it otherwise)"
        );
        genesis.chain.perturb_from_height = Some(h);
    }
    // In a consortium the bootstrap block is ordered like any other: the first leader
    // proposes it, rather than every node committing its own copy.
    // A member that joins later finds the bootstrap block already on the chain it receives.
    let bootstrap = match &config.consortium {
        Some(c) if c.join => {
            genesis.bootstrap.clear();
            Vec::new()
        }
        Some(_) => std::mem::take(&mut genesis.bootstrap),
        None => Vec::new(),
    };
    let raft = crate::consortium::LazyRaft::default();
    let (cap, fd_limit) =
        crate::net::connection_cap(config.max_connections).map_err(Error::Limits)?;
    let metrics = Metrics::new();
    if let Some(limit) = fd_limit {
        metrics
            .max_fds
            .set(i64::try_from(limit).unwrap_or(i64::MAX));
    }
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| Error::Listen {
            addr: config.listen,
            source,
        })?;
    let local_addr = listener.local_addr().map_err(|source| Error::Listen {
        addr: config.listen,
        source,
    })?;
    let metrics_listener = match config.metrics {
        Some(addr) => {
            let l = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|source| Error::Listen { addr, source })?;
            let bound = l
                .local_addr()
                .map_err(|source| Error::Listen { addr, source })?;
            Some((l, bound))
        }
        None => None,
    };
    let (stop, shutdown) = watch::channel(false);
    let conns = Conns::new(cap, metrics.clone());
    let gate = Arc::new(Gate {
        config: config.clone(),
        metrics: metrics.clone(),
        conns: conns.clone(),
        node: OnceLock::new(),
        replayed: AtomicU64::new(0),
        replay_last: AtomicU64::new(0),
        stopping: shutdown.clone(),
    });
    let tls_mode = match (&tls, config.client_ca.is_some()) {
        (None, _) => "plaintext",
        (Some(_), false) => "TLS",
        (Some(_), true) => "mutual TLS",
    };
    let rules = AcceptRules {
        plaintext: tls.is_none(),
        handshake: config.handshake_timeout(),
    };
    let incoming = crate::net::incoming(listener, conns, rules, shutdown.clone());
    let (server, health) = crate::services::serve(
        gate.clone(),
        incoming,
        tls,
        shutdown.clone(),
        config.consortium.is_some().then(|| raft.clone()),
    )
    .await?;
    let metrics_addr = metrics_listener.map(|(l, bound)| {
        let g = gate.clone();
        tokio::spawn(crate::metrics::serve(
            l,
            Arc::new(move || g.render_metrics()),
            shutdown.clone(),
        ));
        tracing::info!(addr = %bound, "metrics at http://{bound}/metrics");
        bound
    });
    tracing::info!(%local_addr, max_connections = cap, tls = tls_mode, "node listening; opening the ledger");
    let ledger_config = config.ledger();
    let g = gate.clone();
    let opening = tokio::task::spawn_blocking(move || {
        let mut progress = |height: u64, last: u64| {
            g.replayed.store(height, Ordering::Relaxed);
            g.replay_last.store(last, Ordering::Relaxed);
            g.metrics
                .replay_height
                .set(i64::try_from(height).unwrap_or(i64::MAX));
            g.metrics
                .replay_target
                .set(i64::try_from(last).unwrap_or(i64::MAX));
        };
        Ok(Ledger::open_with_progress(
            ledger_config,
            genesis,
            &mut progress,
        )?)
    });
    Ok(Starting {
        local_addr,
        metrics_addr,
        gate,
        stop,
        shutdown,
        server,
        opening,
        health,
        tls_mode,
        raft,
        bootstrap,
        consortium_genesis,
        proposers,
    })
}

/// Runs a node until `shutdown` completes, then stops it gracefully (also while it is still
/// replaying).
///
/// # Errors
/// As [`launch`], [`Starting::ready`] and [`NodeHandle::shutdown`].
pub async fn serve(
    config: NodeConfig,
    genesis: NodeGenesis,
    shutdown: impl Future<Output = ()>,
) -> Result<()> {
    tokio::pin!(shutdown);
    let starting = launch(config, genesis).await?;
    match starting.ready_unless(&mut shutdown).await? {
        Some(handle) => {
            shutdown.await;
            handle.shutdown().await
        }
        None => Ok(()),
    }
}

//! The measured window: closed-loop workers (or, with `--stream`, one `SubmitStream` per
//! connection) or an open-loop ticker over the plan, the progress bar, and the counters and
//! latency samples they fill.

use crate::options::Load;
use crate::setup::WAIT;
use crate::workloads::{Closing, Lane, Plan, Streams};
use hanok_client::{Client, SignedTx};
use hanok_proto::v1;
use hanok_types::Address;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::task::JoinSet;

/// Distinct failure messages kept for the report.
const MAX_FAILURES: usize = 10;

/// Counters and samples of the window.
#[derive(Default)]
pub(crate) struct Stats {
    /// Requests (closing: closings) that got an answer.
    pub submitted: AtomicU64,
    /// Of which succeeded.
    pub committed: AtomicU64,
    pub failed: AtomicU64,
    pub skipped: AtomicU64,
    /// Transactions committed OK (closing: every step).
    pub tx_ok: AtomicU64,
    /// Latency of each successful transaction or query, µs.
    pub latency: Mutex<Vec<u64>>,
    /// Closing: first submit → settlement committed, µs.
    pub closing_latency: Mutex<Vec<u64>>,
    pub failures: Mutex<Vec<String>>,
    /// The pre-signed pool ran out before the window ended.
    pub exhausted: AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Stats {
    fn fail(&self, why: String) {
        let mut f = lock(&self.failures);
        if f.len() < MAX_FAILURES && !f.contains(&why) {
            f.push(why);
        }
    }

    fn sample(&self, d: Duration) {
        lock(&self.latency).push(d.as_micros() as u64);
    }
}

/// One request's outcome.
enum Outcome {
    Ok(Duration),
    Failed(String),
}

type OpFuture = Pin<Box<dyn Future<Output = Option<Outcome>> + Send>>;
/// Sends one request on the given connection; `None` when there is nothing left to send.
type Op = Arc<dyn Fn(Client) -> OpFuture + Send + Sync>;

/// Submits `tx` and waits for its receipt; OK only if it committed with status OK.
async fn submit(client: &Client, tx: &SignedTx) -> Outcome {
    let t0 = Instant::now();
    match client.submit_and_wait(tx, WAIT).await {
        Ok(r) if r.status == v1::TxStatus::Ok as i32 => Outcome::Ok(t0.elapsed()),
        Ok(r) => Outcome::Failed(format!(
            "committed with status {:?}: {}",
            v1::TxStatus::try_from(r.status).unwrap_or(v1::TxStatus::Unspecified),
            r.error
        )),
        Err(e) => Outcome::Failed(e.to_string()),
    }
}

fn tx_op(streams: Arc<Streams>) -> Op {
    Arc::new(move |client: Client| {
        let streams = streams.clone();
        Box::pin(async move {
            let tx = streams.next()?;
            Some(submit(&client, tx).await)
        })
    })
}

fn query_op(contract: Address, msgs: Arc<Vec<Vec<u8>>>) -> Op {
    let turn = Arc::new(AtomicUsize::new(0));
    Arc::new(move |client: Client| {
        let msg = msgs[turn.fetch_add(1, Ordering::Relaxed) % msgs.len()].clone();
        Box::pin(async move {
            let t0 = Instant::now();
            Some(match client.query_raw(contract, msg).await {
                Ok(data) if !data.is_empty() => Outcome::Ok(t0.elapsed()),
                Ok(_) => Outcome::Failed("empty query answer".into()),
                Err(e) => Outcome::Failed(e.to_string()),
            })
        })
    })
}

fn record(stats: &Stats, outcome: Outcome) {
    stats.submitted.fetch_add(1, Ordering::Relaxed);
    match outcome {
        Outcome::Ok(d) => {
            stats.committed.fetch_add(1, Ordering::Relaxed);
            stats.tx_ok.fetch_add(1, Ordering::Relaxed);
            stats.sample(d);
        }
        Outcome::Failed(why) => {
            stats.failed.fetch_add(1, Ordering::Relaxed);
            stats.fail(why);
        }
    }
}

/// N workers, each sending its next request when the previous one is answered, until `end`.
async fn closed_loop(op: Op, clients: &[Client], n: usize, end: Instant, stats: Arc<Stats>) {
    let mut set = JoinSet::new();
    for w in 0..n {
        let (op, client, stats) = (
            op.clone(),
            clients[w % clients.len()].clone(),
            stats.clone(),
        );
        set.spawn(async move {
            while Instant::now() < end {
                match op(client.clone()).await {
                    Some(o) => record(&stats, o),
                    None => {
                        stats.exhausted.store(true, Ordering::Relaxed);
                        break;
                    }
                }
            }
        });
    }
    while set.join_next().await.is_some() {}
}

/// An interval ticker launching `rate` requests per second until `end`, whatever the answers;
/// a tick is skipped when `max_in_flight` requests are already waiting.
async fn open_loop(
    op: Op,
    clients: &[Client],
    rate: f64,
    start: Instant,
    end: Instant,
    stats: Arc<Stats>,
) {
    let max_in_flight = ((rate * 5.0) as usize).clamp(256, 50_000);
    let in_flight = Arc::new(AtomicUsize::new(0));
    let mut set = JoinSet::new();
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut launched: u64 = 0;
    loop {
        tick.tick().await;
        let now = Instant::now();
        if now >= end || stats.exhausted.load(Ordering::Relaxed) {
            break;
        }
        let due = (now.duration_since(start).as_secs_f64() * rate) as u64;
        while launched < due {
            launched += 1;
            if in_flight.load(Ordering::Relaxed) >= max_in_flight {
                stats.skipped.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            in_flight.fetch_add(1, Ordering::Relaxed);
            let client = clients[(launched as usize) % clients.len()].clone();
            let (op, stats, in_flight) = (op.clone(), stats.clone(), in_flight.clone());
            set.spawn(async move {
                match op(client).await {
                    Some(o) => record(&stats, o),
                    None => stats.exhausted.store(true, Ordering::Relaxed),
                }
                in_flight.fetch_sub(1, Ordering::Relaxed);
            });
        }
        while set.try_join_next().is_some() {}
    }
    while set.join_next().await.is_some() {}
}

/// Closed loop over `SubmitStream`: one stream per connection, each owning every `clients.len()`-th
/// sender and keeping its share of `n` transactions unanswered, until `end`; then each
/// half-closes and takes the answers still due.
async fn streamed(
    streams: Arc<Streams>,
    clients: &[Client],
    n: usize,
    end: Instant,
    stats: Arc<Stats>,
) {
    let lanes = clients.len().min(streams.senders()).max(1);
    let window = n.div_ceil(lanes).max(1);
    let mut set = JoinSet::new();
    for (lane, client) in clients.iter().take(lanes).enumerate() {
        let senders: Vec<usize> = (lane..streams.senders()).step_by(lanes).collect();
        let (streams, client, stats) = (streams.clone(), client.clone(), stats.clone());
        set.spawn(
            async move { stream_lane(&streams, &senders, &client, window, end, &stats).await },
        );
    }
    while set.join_next().await.is_some() {}
}

/// One stream: a task pushing `senders`' transactions in turn (each in nonce order) while
/// fewer than `window` are unanswered, and this one reading the answers.
async fn stream_lane(
    streams: &Arc<Streams>,
    senders: &[usize],
    client: &Client,
    window: usize,
    end: Instant,
    stats: &Arc<Stats>,
) {
    let (mut sender, mut answers) = match client.submit_stream().await {
        Ok(pair) => pair,
        Err(e) => {
            stats.fail(format!("could not open a submit stream: {e}"));
            return;
        }
    };
    let room = Arc::new(tokio::sync::Semaphore::new(window));
    // When each transaction was handed to the stream, by its position.
    let (sent_tx, mut sent_rx) = tokio::sync::mpsc::unbounded_channel::<(u64, Instant)>();
    let pusher = {
        let (streams, senders, room, stats) = (
            streams.clone(),
            senders.to_vec(),
            room.clone(),
            stats.clone(),
        );
        tokio::spawn(async move {
            let mut turn = 0usize;
            let mut used_up = vec![false; senders.len()];
            'push: while Instant::now() < end {
                let permit = tokio::select! {
                    p = room.acquire() => p,
                    () = tokio::time::sleep_until(end.into()) => break,
                };
                match permit {
                    Ok(p) => p.forget(),
                    Err(_) => break,
                }
                // The next sender in turn that has a transaction left.
                let tx = loop {
                    if used_up.iter().all(|u| *u) {
                        stats.exhausted.store(true, Ordering::Relaxed);
                        break 'push;
                    }
                    let k = turn % senders.len();
                    turn = turn.wrapping_add(1);
                    if used_up[k] {
                        continue;
                    }
                    match streams.next_of(senders[k]) {
                        Some(tx) => break tx,
                        None => used_up[k] = true,
                    }
                };
                let t0 = Instant::now();
                match sender.send(tx).await {
                    Ok(seq) => {
                        let _ = sent_tx.send((seq, t0));
                    }
                    Err(_) => break, // the stream ended; the reader says why
                }
            }
            // Dropping the sender half-closes: the node answers what it has, then ends.
        })
    };
    let mut sent: std::collections::HashMap<u64, Instant> = std::collections::HashMap::new();
    loop {
        let answer = match answers.next().await {
            Ok(Some(a)) => a,
            Ok(None) => break,
            Err(e) => {
                stats.fail(format!("submit stream ended: {e}"));
                break;
            }
        };
        while let Ok((seq, t0)) = sent_rx.try_recv() {
            sent.insert(seq, t0);
        }
        let t0 = sent.remove(&answer.seq);
        let outcome = match answer.outcome {
            Ok(r) if r.status == v1::TxStatus::Ok as i32 => {
                Outcome::Ok(t0.map_or(Duration::ZERO, |t| t.elapsed()))
            }
            Ok(r) => Outcome::Failed(format!(
                "committed with status {:?}: {}",
                v1::TxStatus::try_from(r.status).unwrap_or(v1::TxStatus::Unspecified),
                r.error
            )),
            Err(e) => Outcome::Failed(e.to_string()),
        };
        record(stats, outcome);
        room.add_permits(1);
    }
    // A stream that ended early stops its pusher too.
    room.close();
    let _ = pusher.await;
}

/// Runs one closing stage by stage; records each step's latency and, when it settles, the
/// closing's. Returns false if a step failed (the lane's later nonces are then unusable).
async fn run_closing(client: &Client, closing: &Closing, stats: &Stats) -> bool {
    stats.submitted.fetch_add(1, Ordering::Relaxed);
    let t0 = Instant::now();
    for stage in &closing.stages {
        let outcomes: Vec<Outcome> = match stage.as_slice() {
            [a] => vec![submit(client, a).await],
            [a, b] => {
                let (x, y) = tokio::join!(submit(client, a), submit(client, b));
                vec![x, y]
            }
            txs => {
                let mut v = Vec::with_capacity(txs.len());
                for t in txs {
                    v.push(submit(client, t).await);
                }
                v
            }
        };
        let mut ok = true;
        for o in outcomes {
            match o {
                Outcome::Ok(d) => {
                    stats.tx_ok.fetch_add(1, Ordering::Relaxed);
                    stats.sample(d);
                }
                Outcome::Failed(why) => {
                    ok = false;
                    stats.fail(why);
                }
            }
        }
        if !ok {
            stats.failed.fetch_add(1, Ordering::Relaxed);
            return false;
        }
    }
    stats.committed.fetch_add(1, Ordering::Relaxed);
    lock(&stats.closing_latency).push(t0.elapsed().as_micros() as u64);
    true
}

/// Closing lanes: in concurrency mode every lane runs its closings back to back until `end`;
/// in rate mode a ticker starts closings on idle lanes (skipped when none is idle).
async fn closings(
    lanes: Vec<Lane>,
    clients: &[Client],
    load: Load,
    start: Instant,
    end: Instant,
    stats: Arc<Stats>,
) {
    let lanes: Vec<Arc<(Lane, AtomicUsize)>> = lanes
        .into_iter()
        .map(|l| Arc::new((l, AtomicUsize::new(0))))
        .collect();
    let mut set = JoinSet::new();
    match load {
        Load::Concurrency(_) => {
            for (i, lane) in lanes.iter().enumerate() {
                let (lane, client, stats) = (
                    lane.clone(),
                    clients[i % clients.len()].clone(),
                    stats.clone(),
                );
                set.spawn(async move {
                    for closing in &lane.0.closings {
                        if Instant::now() >= end {
                            return;
                        }
                        if !run_closing(&client, closing, &stats).await {
                            return;
                        }
                    }
                    if Instant::now() < end {
                        stats.exhausted.store(true, Ordering::Relaxed);
                    }
                });
            }
        }
        Load::Rate(rate) => {
            // Idle lanes in FIFO order, so every lane takes its turn and none runs out early.
            let idle = Arc::new(Mutex::new((0..lanes.len()).collect::<VecDeque<usize>>()));
            let mut tick = tokio::time::interval(Duration::from_millis(1));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            let mut launched: u64 = 0;
            loop {
                tick.tick().await;
                let now = Instant::now();
                if now >= end {
                    break;
                }
                let due = (now.duration_since(start).as_secs_f64() * rate) as u64;
                while launched < due {
                    launched += 1;
                    loop {
                        let Some(i) = lock(&idle).pop_front() else {
                            stats.skipped.fetch_add(1, Ordering::Relaxed);
                            break;
                        };
                        let lane = lanes[i].clone();
                        let k = lane.1.fetch_add(1, Ordering::Relaxed);
                        if k >= lane.0.closings.len() {
                            // This lane has used its pre-signed closings: drop it, try the next.
                            stats.exhausted.store(true, Ordering::Relaxed);
                            continue;
                        }
                        let (client, stats, idle) = (
                            clients[i % clients.len()].clone(),
                            stats.clone(),
                            idle.clone(),
                        );
                        set.spawn(async move {
                            if run_closing(&client, &lane.0.closings[k], &stats).await {
                                lock(&idle).push_back(i);
                            }
                        });
                        break;
                    }
                }
                while set.try_join_next().is_some() {}
            }
        }
    }
    while set.join_next().await.is_some() {}
}

/// The progress bar: the window's elapsed time, committed so far and the rate.
fn progress(show: bool, duration: Duration, stats: Arc<Stats>, unit: &'static str) -> ProgressBar {
    let pb = if show {
        ProgressBar::with_draw_target(
            Some(duration.as_millis() as u64),
            ProgressDrawTarget::stderr_with_hz(4),
        )
    } else {
        ProgressBar::hidden()
    };
    pb.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {wide_bar} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let bar = pb.clone();
    let started = Instant::now();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        while !bar.is_finished() {
            tick.tick().await;
            let secs = started.elapsed().as_secs_f64().max(1e-3);
            let ok = stats.committed.load(Ordering::Relaxed);
            let failed = stats.failed.load(Ordering::Relaxed);
            bar.set_position(
                (started.elapsed().as_millis() as u64).min(duration.as_millis() as u64),
            );
            bar.set_message(format!(
                "{ok} {unit} ({:.0}/s), {failed} failed",
                ok as f64 / secs
            ));
        }
    });
    pb
}

/// Runs the plan for `duration` (then drains what is in flight); returns the stats and the
/// instant the window started.
pub(crate) async fn drive(
    plan: Plan,
    clients: &[Client],
    load: Load,
    duration: Duration,
    show_progress: bool,
    stream: bool,
) -> (Arc<Stats>, Instant) {
    let stats = Arc::new(Stats::default());
    let unit = match &plan {
        Plan::Txs { .. } => "txs committed",
        Plan::Query { .. } => "queries",
        Plan::Closing { .. } => "closings settled",
    };
    let pb = progress(show_progress, duration, stats.clone(), unit);
    let start = Instant::now();
    let end = start + duration;
    match plan {
        Plan::Txs { streams, .. } => match (load, stream) {
            (Load::Concurrency(n), true) => streamed(streams, clients, n, end, stats.clone()).await,
            (Load::Concurrency(n), false) => {
                closed_loop(tx_op(streams), clients, n, end, stats.clone()).await;
            }
            (Load::Rate(r), _) => {
                open_loop(tx_op(streams), clients, r, start, end, stats.clone()).await;
            }
        },
        Plan::Query { contract, msgs } => {
            let op = query_op(contract, msgs);
            match load {
                Load::Concurrency(n) => closed_loop(op, clients, n, end, stats.clone()).await,
                Load::Rate(r) => open_loop(op, clients, r, start, end, stats.clone()).await,
            }
        }
        Plan::Closing { lanes, .. } => {
            closings(lanes, clients, load, start, end, stats.clone()).await;
        }
    }
    pb.finish_and_clear();
    (stats, start)
}

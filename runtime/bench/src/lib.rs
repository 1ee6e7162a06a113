//! `hanok-bench`: `hanok bench`, a load generator over real gRPC.
//!
//! A run: measure how many k256 signature verifications one core does per second (the
//! calibration the throughput figures are read against); start an in-process dev node on a
//! temporary data dir (or connect to `--endpoint`); set up the workload with batched setup
//! transactions (fresh accounts enrolled by the dev authority, contracts, parcels, balances);
//! measure each transaction's gas by dry run and sign every measured transaction before the
//! clock starts, so signing is not part of the measured cost; then drive the workload for the
//! duration at a fixed concurrency (closed loop) or a fixed offered rate (open loop), timing
//! each request from submit to committed receipt (`SubmitAndWait`; with `--stream`, one
//! `SubmitStream` per connection instead, each keeping its share of the concurrency in
//! flight), with a progress bar; read
//! the node's CPU and RSS from `/proc` and its data dir's bytes on disk by component (block log,
//! sled, other stores: [`DiskUsage`]) at the start and end of the window, when the data dir is
//! known (in-process, or `--data-dir`); return a [`Report`] (table and JSON).
//!
//! Workloads ([`Workload`]):
//! - `transfer`: registry `transfer_title`. Only the registry's configured `deal` address may
//!   send it, so the run instantiates one registry per operator account from the uploaded
//!   registry code (`deal` = that operator, the dev identity contract, the dev officials'
//!   policy), the dev official registers parcels in each, and every operator moves its parcels'
//!   titles between two enrolled owners. Many operators so that the mempool's per-account nonce
//!   window does not serialise the load.
//! - `closing`: the acceptance story's 13 transactions per deal (register + lien, mint, open,
//!   accept + attach mortgage + payoff statement, fund, sign ×2, approve ×2, settle) in 7
//!   dependent stages, on lanes that each own 7 accounts and a registry/escrow/deal instance
//!   (see [`workloads`] for why); "committed" counts settled closings; transactions per second are reported too.
//! - `token`: KRW `transfer` between accounts a dev bank funded.
//! - `query`: registry `parcel` queries over the Query RPC.
//! - `settle`: settlements alone. Setup makes approved deals on the system contracts, each on
//!   a parcel of its own with bank A's lien, funded, signed and approved (as many as
//!   `max_tps` × duration, or the offered rate × duration), batching many calls per setup
//!   transaction; the measured load is only their `settle` transactions (pay off the lien, pay
//!   the seller, move the title, record the new mortgage), sent by many brokers so that nonces
//!   do not serialise them (see [`workloads`]).
//!
//! The load generator runs on its own runtime (threads `bench-client*`) and the in-process node
//! on another (`hanok-node*`), so the client's CPU can be told apart from the process total.
//!
//! ```no_run
//! # async fn demo() -> Result<(), hanok_bench::BenchError> {
//! use hanok_bench::{BenchOptions, Load, Workload};
//! let report = hanok_bench::run(BenchOptions {
//!     workload: Workload::Token,
//!     duration: std::time::Duration::from_secs(5),
//!     load: Some(Load::Concurrency(64)),
//!     ..BenchOptions::default()
//! })
//! .await?;
//! println!("{}", report.table());
//! # Ok(()) }
//! ```

mod disk;
mod drive;
mod error;
mod options;
mod procfs;
mod report;
mod setup;
pub mod workloads;

pub use disk::{DiskGrowth, DiskReport, DiskUsage};
pub use error::BenchError;
pub use options::{BenchArgs, BenchOptions, Load, Workload};
pub use report::{NodeInfo, Percentiles, Report};

use hanok_node::{NodeConfig, NodeHandle};
use procfs::Proc;
use setup::Ctx;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use workloads::{Plan, CLOSING_STEPS};

/// Thread-name prefix of the load generator's runtime.
const CLIENT_THREADS: &str = "bench-client";

/// The in-process node: its own runtime, handle and data dir.
struct InProcess {
    rt: tokio::runtime::Runtime,
    handle: NodeHandle,
    _dir: tempfile::TempDir,
}

impl InProcess {
    async fn start(opts: &BenchOptions) -> Result<(InProcess, NodeConfig), BenchError> {
        let dir = tempfile::Builder::new().prefix("hanok-bench-").tempdir()?;
        let mut config = NodeConfig::dev(dir.path());
        config.listen = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
        if let Some(ms) = opts.block_interval_ms {
            config.block_interval_ms = ms;
        }
        if let Some(n) = opts.max_block_txs {
            config.max_block_txs = n;
        }
        let rt = hanok_node::runtime("hanok-node")?;
        let cfg = config.clone();
        let handle = rt
            .spawn(async move { hanok_node::start(cfg, hanok_node::dev::dev_genesis()).await })
            .await??;
        Ok((
            InProcess {
                rt,
                handle,
                _dir: dir,
            },
            config,
        ))
    }

    async fn stop(self) -> Result<(), BenchError> {
        let InProcess { rt, handle, _dir } = self;
        let stopped = rt.spawn(handle.shutdown()).await;
        rt.shutdown_background();
        stopped??;
        Ok(())
    }
}

/// Runs a benchmark and returns its report. The load generator gets its own runtime; the
/// caller's only awaits it.
///
/// # Errors
/// [`BenchError`] if the options are invalid, the node cannot be started or reached, or setup
/// fails. Requests that fail during the measured window are counted, not errors.
pub async fn run(opts: BenchOptions) -> Result<Report, BenchError> {
    opts.validate()?;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .thread_name(CLIENT_THREADS)
        .enable_all()
        .build()?;
    let result = rt.spawn(run_inner(opts)).await;
    rt.shutdown_background();
    result?
}

async fn run_inner(opts: BenchOptions) -> Result<Report, BenchError> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    // Calibrate first, on an idle machine, on one thread.
    let calibration = opts.calibration;
    let verify_per_sec_1core =
        tokio::task::spawn_blocking(move || procfs::verify_per_sec(calibration)).await?;

    let (node, url, mut info) = match &opts.endpoint {
        Some(url) => (
            None,
            url.clone(),
            NodeInfo {
                target: url.clone(),
                data_dir: opts.data_dir.clone(),
                ..NodeInfo::default()
            },
        ),
        None => {
            let (node, cfg) = InProcess::start(&opts).await?;
            let url = format!("http://{}", node.handle.local_addr);
            let info = NodeInfo {
                target: "in-process (temporary data dir)".into(),
                in_process: true,
                block_interval_ms: Some(cfg.block_interval_ms),
                max_block_txs: Some(cfg.max_block_txs),
                mempool_per_account: Some(cfg.mempool_per_account),
                data_dir: Some(cfg.data_dir.clone()),
                ..NodeInfo::default()
            };
            (Some(node), url, info)
        }
    };
    let result = bench(&opts, &url, &mut info, cores, verify_per_sec_1core).await;
    if let Some(node) = node {
        let stopped = node.stop().await;
        if result.is_ok() {
            stopped?;
        }
    }
    result
}

/// Sending accounts for a load: the asked number, or enough that each has at most ~16
/// requests in flight (the mempool lets an account have 64 waiting).
fn senders(opts: &BenchOptions, load: Load) -> usize {
    let in_flight = match load {
        Load::Concurrency(n) => n as f64,
        // About half a second of requests in flight.
        Load::Rate(r) => r * 0.5,
    };
    opts.accounts
        .unwrap_or_else(|| ((in_flight / 16.0).ceil() as usize).max(64))
}

/// Connections to open: the node serves at most 256 concurrent streams per connection.
fn connections(load: Load) -> usize {
    let in_flight = match load {
        Load::Concurrency(n) => n as f64,
        Load::Rate(r) => r * 0.5,
    };
    ((in_flight / 64.0).ceil() as usize).clamp(1, 32)
}

async fn bench(
    opts: &BenchOptions,
    url: &str,
    info: &mut NodeInfo,
    cores: usize,
    verify_per_sec_1core: f64,
) -> Result<Report, BenchError> {
    let load = opts.load();
    let setup_started = Instant::now();
    let ctx = Ctx::connect(url, opts.tls.as_ref(), connections(load), opts.progress).await?;
    let secs = opts.duration.as_secs_f64();
    // How many transactions the window may use, to size the pre-signed pool.
    let budget = opts.budget();
    let (plan, accounts) = match opts.workload {
        Workload::Transfer => workloads::transfer(&ctx, senders(opts, load), budget).await?,
        Workload::Token => workloads::token(&ctx, senders(opts, load), budget).await?,
        Workload::Query => workloads::query(&ctx, opts.accounts.unwrap_or(64)).await?,
        Workload::Settle => {
            workloads::settle(&ctx, senders(opts, load), budget.ceil() as usize).await?
        }
        Workload::Closing => {
            // A closing is 7 dependent stages, each waiting for a block: at least 7 block
            // intervals (unknown for an endpoint: assume 50 ms).
            let closing_s = 7.0 * info.block_interval_ms.unwrap_or(50) as f64 / 1000.0;
            let (lanes, per_lane) = match load {
                Load::Concurrency(n) => (n, (secs / closing_s).ceil() as usize + 2),
                // Lanes for ~4 s of closings in progress.
                Load::Rate(r) => {
                    let lanes = ((r * 4.0).ceil() as usize).max(2);
                    (lanes, ((r * secs * 1.1) / lanes as f64).ceil() as usize + 2)
                }
            };
            workloads::closing(&ctx, lanes, per_lane).await?
        }
    };
    let (presigned, gas) = match &plan {
        Plan::Txs { streams, gas, .. } => (streams.total() as u64, Some(*gas)),
        Plan::Query { .. } => (0, None),
        Plan::Closing { lanes, gas } => (
            lanes
                .iter()
                .map(|l| l.closings.len() * CLOSING_STEPS)
                .sum::<usize>() as u64,
            Some(*gas),
        ),
    };
    let mut warnings = Vec::new();
    if let (Plan::Txs { .. }, Load::Concurrency(n)) = (&plan, load) {
        if n.div_ceil(accounts.max(1)) > 48 {
            warnings.push(format!(
                "{n} in flight over {accounts} accounts is more than 48 per account; the mempool lets an account have 64 waiting, so expect refusals (raise --accounts)"
            ));
        }
    }
    let setup_s = setup_started.elapsed().as_secs_f64();
    ctx.say(&format!(
        "done in {setup_s:.1} s; running {} for {secs} s",
        opts.workload.as_str()
    ));

    // Resources: the node's process (in-process: this one).
    let node_proc = match (info.in_process, opts.node_pid) {
        (true, _) => Some(Proc::this()),
        (false, Some(pid)) => Some(Proc::pid(pid)).filter(Proc::available),
        (false, None) => None,
    };
    let me = Proc::this();
    let height0 = ctx.client().status().await?.height;
    // Bytes on disk when the window starts: the data dir must be readable, or the option is
    // wrong, so this one fails the run.
    let disk0 = match &info.data_dir {
        Some(dir) => Some(
            DiskUsage::measure(dir).map_err(|source| BenchError::DataDir {
                path: dir.clone(),
                source,
            })?,
        ),
        None => None,
    };
    let cpu0 = (
        node_proc.as_ref().and_then(|p| p.cpu(CLIENT_THREADS)),
        me.cpu(CLIENT_THREADS),
    );
    let rss_max = std::sync::Arc::new(std::sync::Mutex::new(0.0f64));
    let sampler = node_proc.clone().map(|p| {
        let rss_max = rss_max.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(250));
            loop {
                tick.tick().await;
                if let Some(r) = p.rss_mib() {
                    let mut m = rss_max.lock().unwrap_or_else(|e| e.into_inner());
                    *m = m.max(r);
                }
            }
        })
    });

    let (stats, start) = drive::drive(
        plan,
        &ctx.clients,
        load,
        opts.duration,
        opts.progress,
        opts.stream,
    )
    .await;
    let elapsed = start.elapsed().as_secs_f64().max(1e-9);
    let cpu1 = (
        node_proc.as_ref().and_then(|p| p.cpu(CLIENT_THREADS)),
        me.cpu(CLIENT_THREADS),
    );
    if let Some(s) = sampler {
        s.abort();
    }
    if let Some(r) = node_proc.as_ref().and_then(Proc::rss_mib) {
        let mut m = rss_max.lock().unwrap_or_else(|e| e.into_inner());
        *m = m.max(r);
    }
    let height1 = ctx.client().status().await?.height;
    let tx_committed = stats.tx_ok.load(Ordering::Relaxed);
    // ...and when it ends (a failure here only loses these figures, not the run's).
    let disk = match (&info.data_dir, disk0) {
        (Some(dir), Some(start)) => match DiskUsage::measure(dir) {
            Ok(end) => Some(DiskReport::new(dir, start, end, tx_committed)),
            Err(e) => {
                warnings.push(format!("data dir {} not measured: {e}", dir.display()));
                None
            }
        },
        _ => None,
    };

    let (node_cpu_percent, client_cpu_percent, cpu_note) = match (cpu0, cpu1) {
        ((Some(a), Some(_)), (Some(b), Some(_))) if info.in_process => {
            let (total, client) = procfs::cpu_percent(&a, &b);
            (
                Some(total),
                Some(client),
                "in-process node: node_cpu_percent and node_rss_mib are this whole process, \
                 load generator included; client_cpu_percent is the load generator's runtime \
                 threads"
                    .to_string(),
            )
        }
        ((Some(a), Some(ma)), (Some(b), Some(mb))) => {
            let (node, _) = procfs::cpu_percent(&a, &b);
            let (client, _) = procfs::cpu_percent(&ma, &mb);
            (
                Some(node),
                Some(client),
                "node process from /proc/<node-pid>; client_cpu_percent is this bench process"
                    .to_string(),
            )
        }
        _ => (
            None,
            None,
            "node CPU and RSS unknown: pass --node-pid with --endpoint".to_string(),
        ),
    };

    let latency = {
        let v = std::mem::take(&mut *stats.latency.lock().unwrap_or_else(|e| e.into_inner()));
        Percentiles::from_micros(v)
    };
    let closing_latency = (opts.workload == Workload::Closing).then(|| {
        let v = std::mem::take(
            &mut *stats
                .closing_latency
                .lock()
                .unwrap_or_else(|e| e.into_inner()),
        );
        Percentiles::from_micros(v)
    });
    let committed = stats.committed.load(Ordering::Relaxed);
    let blocks = height1.saturating_sub(height0);
    info.blocks = blocks;
    info.txs_per_block = if blocks == 0 || opts.workload == Workload::Query {
        0.0
    } else {
        tx_committed as f64 / blocks as f64
    };
    if stats.exhausted.load(Ordering::Relaxed) {
        warnings.push(format!(
            "the {presigned} pre-signed transactions ran out before the window ended, so it was cut short; in concurrency mode raise --max-tps (the pool is sized as max_tps × duration)"
        ));
    }
    if !info.in_process && node_proc.is_none() {
        warnings.push("node CPU/RSS not measured (no --node-pid)".into());
    }
    let (concurrency, offered_rate, mode) = match load {
        Load::Concurrency(n) => (Some(n), None, "concurrency"),
        Load::Rate(r) => (None, Some(r), "rate"),
    };
    let failures = stats
        .failures
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    Ok(Report {
        workload: opts.workload.as_str().to_string(),
        mode: mode.to_string(),
        streams: opts.stream.then_some(ctx.clients.len()),
        concurrency,
        offered_rate,
        accounts,
        gas_limit_per_tx: gas,
        duration_s: elapsed,
        submitted: stats.submitted.load(Ordering::Relaxed),
        committed,
        failed: stats.failed.load(Ordering::Relaxed),
        skipped: stats.skipped.load(Ordering::Relaxed),
        committed_tps: committed as f64 / elapsed,
        p50_ms: latency.p50_ms,
        p90_ms: latency.p90_ms,
        p99_ms: latency.p99_ms,
        max_ms: latency.max_ms,
        mean_ms: latency.mean_ms,
        tx_committed,
        tx_per_sec: tx_committed as f64 / elapsed,
        closings_per_hour: (opts.workload == Workload::Closing)
            .then(|| committed as f64 / elapsed * 3600.0),
        closing_latency,
        node_cpu_percent,
        node_rss_mib: node_proc
            .is_some()
            .then(|| *rss_max.lock().unwrap_or_else(|e| e.into_inner())),
        client_cpu_percent,
        cpu_note,
        verify_per_sec_1core,
        cores,
        node: info.clone(),
        presigned,
        setup_s,
        disk,
        failures,
        warnings,
    })
}

/// `hanok bench`: runs the benchmark on a runtime of its own, prints the table on stdout and
/// writes the JSON report if asked.
///
/// # Errors
/// As [`run`]; [`BenchError::Io`] if the JSON file cannot be written.
pub fn run_cli(args: BenchArgs) -> Result<Report, BenchError> {
    let opts = args.options()?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let report = rt.block_on(run(opts))?;
    println!("{}", report.table());
    if let Some(path) = &args.json {
        std::fs::write(path, report.to_json()? + "\n")?;
        println!("JSON report written to {}", path.display());
    }
    Ok(report)
}

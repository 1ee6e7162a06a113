//! [`BenchOptions`] (the library's input) and [`BenchArgs`] (the `hanok bench` flags).

use crate::error::BenchError;
use serde::Serialize;
use std::path::PathBuf;
use std::time::Duration;

/// What the load generator sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Workload {
    /// Registry `transfer_title`, sent by the registry's configured `deal` address: one extra
    /// registry instance per operator account (see the crate docs for why).
    Transfer,
    /// The acceptance story's full closing (register + lien, mint, open, accept, attach
    /// mortgage, fund, sign ×2, approve ×2, atomic settle) per deal, many deals in parallel.
    Closing,
    /// KRW deposit-token `transfer` between accounts funded by a dev bank.
    Token,
    /// Registry `parcel` queries over the Query RPC.
    Query,
    /// Settlements alone: deals on mortgaged parcels made approved and funded before the clock
    /// starts, then only their atomic `settle` transactions (pay off the lien, pay the seller,
    /// move the title, record the new mortgage), sent by the deals' brokers.
    Settle,
}

impl Workload {
    /// The name as on the command line and in the JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Workload::Transfer => "transfer",
            Workload::Closing => "closing",
            Workload::Token => "token",
            Workload::Query => "query",
            Workload::Settle => "settle",
        }
    }

    /// Closed-loop workers (closing: parallel deal lanes) when neither a concurrency nor a rate
    /// is given.
    pub fn default_concurrency(self) -> usize {
        match self {
            Workload::Transfer | Workload::Token => 512,
            Workload::Closing => 128,
            Workload::Query => 32,
            Workload::Settle => SETTLE_CONCURRENCY,
        }
    }

    /// The committed rate the pre-signed pool is sized for in concurrency mode when
    /// `--max-tps` is not given: 5,000 tx/s, or for `settle` (every settlement needs a deal
    /// made in setup) 1,000 settlements/s.
    pub fn default_max_tps(self) -> f64 {
        match self {
            Workload::Settle => 1_000.0,
            _ => 5_000.0,
        }
    }
}

/// Default concurrency of `settle`.
const SETTLE_CONCURRENCY: usize = 256;

/// Most deals the `settle` workload makes: each takes about ten setup calls and stays in
/// memory as a pre-signed settlement until the run ends.
const MAX_SETTLE_DEALS: usize = 100_000;

/// How the load is offered.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Load {
    /// N workers, each submitting its next request as soon as the previous one is answered
    /// (closed loop). For `closing`, N deals run in parallel, each stage after the previous.
    Concurrency(usize),
    /// An interval ticker launches this many requests per second whatever the answers (open
    /// loop). For `closing`, closings started per second.
    Rate(f64),
}

/// Everything a run needs. [`Default`] is a 20 s `transfer` run on an in-process node.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// The workload.
    pub workload: Workload,
    /// Length of the measured window (setup and pre-signing come before it).
    pub duration: Duration,
    /// Concurrency or offered rate; `None`: [`Workload::default_concurrency`].
    pub load: Option<Load>,
    /// Sending accounts (`transfer`: operators, each with its registry instance; `token`:
    /// senders; `query`: parcels queried; `settle`: brokers, each settling its share of the
    /// deals; `closing`: ignored, 7 accounts per lane).
    /// `None`: 64, or more when the load needs them to stay inside the mempool's per-account
    /// nonce window.
    pub accounts: Option<usize>,
    /// A running node's gRPC URL; `None`: an in-process dev node on a temporary data dir.
    pub endpoint: Option<String>,
    /// With `endpoint`, the node's process id, to read its CPU and RSS from `/proc`.
    pub node_pid: Option<u32>,
    /// With `endpoint`, the node's data dir, to report its bytes on disk by component (the
    /// in-process node's is always reported).
    pub data_dir: Option<PathBuf>,
    /// TLS material for an `https://` endpoint.
    pub tls: Option<hanok_client::Tls>,
    /// In-process node only: `block_interval_ms` (`None`: the node's default).
    pub block_interval_ms: Option<u64>,
    /// In-process node only: `max_block_txs` (`None`: the node's default).
    pub max_block_txs: Option<usize>,
    /// Upper bound on committed tx/s, used only to size the pool of pre-signed transactions in
    /// concurrency mode (the run stops early, with a warning, if the pool runs out); for
    /// `settle`, how many deals are made. `None`: [`Workload::default_max_tps`].
    pub max_tps: Option<f64>,
    /// How long the signature-verification calibration runs.
    pub calibration: Duration,
    /// Show a progress bar and setup messages on stderr.
    pub progress: bool,
    /// `transfer` and `token`, concurrency mode: submit over `SubmitStream` (one stream per
    /// client connection, each keeping its share of the concurrency in flight) instead of one
    /// `SubmitAndWait` call per transaction.
    pub stream: bool,
}

impl Default for BenchOptions {
    fn default() -> Self {
        BenchOptions {
            workload: Workload::Transfer,
            duration: Duration::from_secs(20),
            load: None,
            accounts: None,
            endpoint: None,
            node_pid: None,
            data_dir: None,
            tls: None,
            block_interval_ms: None,
            max_block_txs: None,
            max_tps: None,
            calibration: Duration::from_secs(1),
            progress: false,
            stream: false,
        }
    }
}

impl BenchOptions {
    /// The load, with the workload's default concurrency when none was given.
    pub fn load(&self) -> Load {
        self.load
            .unwrap_or(Load::Concurrency(self.workload.default_concurrency()))
    }

    /// `--max-tps`, or the workload's default.
    pub fn max_tps(&self) -> f64 {
        self.max_tps.unwrap_or(self.workload.default_max_tps())
    }

    /// How many transactions the measured window may use, to size the pre-signed pool
    /// (`settle`: the deals to make): `max_tps` × duration in concurrency mode, the offered
    /// rate × duration (+5 %, +16) in rate mode.
    pub fn budget(&self) -> f64 {
        let secs = self.duration.as_secs_f64();
        match self.load() {
            Load::Concurrency(_) => self.max_tps() * secs,
            Load::Rate(r) => r * secs * 1.05 + 16.0,
        }
    }

    /// Checks the options make sense together.
    ///
    /// # Errors
    /// [`BenchError::Options`] naming the bad option.
    pub fn validate(&self) -> Result<(), BenchError> {
        let bad = |m: &str| Err(BenchError::Options(m.to_string()));
        if self.duration.is_zero() {
            return bad("--duration must be positive");
        }
        match self.load() {
            Load::Concurrency(0) => return bad("--concurrency must be at least 1"),
            Load::Rate(r) if !(r.is_finite() && r > 0.0) => {
                return bad("--rate must be a positive number")
            }
            _ => {}
        }
        if self.accounts == Some(0) {
            return bad("--accounts must be at least 1");
        }
        if self.endpoint.is_some()
            && (self.block_interval_ms.is_some() || self.max_block_txs.is_some())
        {
            return bad("--block-interval-ms and --max-block-txs configure the in-process node; a node at --endpoint has its own config");
        }
        if self.endpoint.is_none() && self.data_dir.is_some() {
            return bad("--data-dir is for a node at --endpoint; the in-process node's data dir is measured anyway");
        }
        if self.endpoint.is_none() && self.node_pid.is_some() {
            return bad(
                "--node-pid is for a node at --endpoint; the in-process node is this process",
            );
        }
        if !(self.max_tps().is_finite() && self.max_tps() > 0.0) {
            return bad("--max-tps must be a positive number");
        }
        if self.stream {
            if !matches!(self.workload, Workload::Transfer | Workload::Token) {
                return bad("--stream applies to the transfer and token workloads (those that submit pre-signed transactions independently of each other)");
            }
            if matches!(self.load(), Load::Rate(_)) {
                return bad("--stream runs in concurrency mode only (each stream keeps its share of --concurrency in flight); drop --rate");
            }
        }
        if self.workload == Workload::Settle && self.budget() > MAX_SETTLE_DEALS as f64 {
            return Err(BenchError::Options(format!(
                "settle makes a deal for every settlement before the clock starts, and this run \
                 asks for {:.0} (at most {MAX_SETTLE_DEALS}): lower --duration, --rate or --max-tps",
                self.budget()
            )));
        }
        Ok(())
    }
}

/// `hanok bench` flags.
#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    /// What to send.
    #[arg(long, value_enum, default_value_t = Workload::Transfer)]
    pub workload: Workload,
    /// Seconds of measured load (after setup and pre-signing).
    #[arg(long, default_value_t = 20.0)]
    pub duration: f64,
    /// Closed loop: this many requests in flight (closing: deals in parallel). Default: 512
    /// for transfer and token, 128 for closing, 32 for query, 256 for settle.
    #[arg(long, conflicts_with = "rate")]
    pub concurrency: Option<usize>,
    /// Open loop: offer this many requests per second (closing: closings started per second).
    #[arg(long)]
    pub rate: Option<f64>,
    /// Sending accounts (transfer: operators with a registry each; token: senders; query:
    /// parcels; settle: brokers, each settling its share of the deals). Default: 64, more if
    /// the load needs them.
    #[arg(long)]
    pub accounts: Option<usize>,
    /// gRPC URL of a running node (default: an in-process dev node on a temporary data dir).
    #[arg(long)]
    pub endpoint: Option<String>,
    /// With --endpoint: the node's process id, to read its CPU and RSS from /proc.
    #[arg(long, requires = "endpoint")]
    pub node_pid: Option<u32>,
    /// With --endpoint: the node's data dir (readable from here), to report its bytes on disk
    /// by component at the start and end of the window and per 100,000 transactions.
    #[arg(long, requires = "endpoint", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// With an https:// --endpoint: the CA that issued the node's certificate (PEM).
    #[arg(long, env = "HANOK_CA", value_name = "FILE", requires = "endpoint")]
    pub ca: Option<PathBuf>,
    /// With a node that requires mutual TLS: this client's certificate (PEM).
    #[arg(long, env = "HANOK_CERT", value_name = "FILE", requires = "key")]
    pub cert: Option<PathBuf>,
    /// The private key of --cert (PEM).
    #[arg(long, env = "HANOK_TLS_KEY", value_name = "FILE", requires = "cert")]
    pub key: Option<PathBuf>,
    /// Write the report as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// In-process node: block interval in ms (default: the node's default).
    #[arg(long, conflicts_with = "endpoint")]
    pub block_interval_ms: Option<u64>,
    /// In-process node: most transactions per block (default: the node's default).
    #[arg(long, conflicts_with = "endpoint")]
    pub max_block_txs: Option<usize>,
    /// Concurrency mode: pre-sign enough transactions for this many tx/s over the duration
    /// (settle: make that many deals per second of duration). Default: 5,000; settle: 1,000.
    #[arg(long)]
    pub max_tps: Option<f64>,
    /// No progress bar or setup messages.
    #[arg(long)]
    pub quiet: bool,
    /// transfer and token: submit over Ledger.SubmitStream, one stream per connection each
    /// keeping its share of --concurrency in flight, instead of one SubmitAndWait per
    /// transaction (concurrency mode only).
    #[arg(long, conflicts_with = "rate")]
    pub stream: bool,
}

impl BenchArgs {
    /// The library options.
    ///
    /// # Errors
    /// [`BenchError::Options`] if the duration is not a positive number of seconds.
    pub fn options(&self) -> Result<BenchOptions, BenchError> {
        let duration = Duration::try_from_secs_f64(self.duration)
            .map_err(|_| BenchError::Options("--duration must be a positive number".into()))?;
        let load = match (self.concurrency, self.rate) {
            (Some(n), _) => Some(Load::Concurrency(n)),
            (None, Some(r)) => Some(Load::Rate(r)),
            (None, None) => None,
        };
        let opts = BenchOptions {
            workload: self.workload,
            duration,
            load,
            accounts: self.accounts,
            endpoint: self.endpoint.clone(),
            node_pid: self.node_pid,
            data_dir: self.data_dir.clone(),
            tls: if self.ca.is_some() || self.cert.is_some() {
                Some(hanok_client::Tls::from_files(
                    self.ca.as_deref(),
                    self.cert.as_deref(),
                    self.key.as_deref(),
                )?)
            } else {
                None
            },
            block_interval_ms: self.block_interval_ms,
            max_block_txs: self.max_block_txs,
            max_tps: self.max_tps,
            calibration: Duration::from_secs(1),
            progress: !self.quiet,
            stream: self.stream,
        };
        opts.validate()?;
        Ok(opts)
    }
}

//! [`Report`]: what a run measured, as a table for people and JSON for scripts.

use crate::disk::{mb, DiskReport};
use serde::Serialize;
use std::fmt::Write as _;
use std::path::PathBuf;

/// Latency percentiles in milliseconds (nearest rank over every sample).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Percentiles {
    /// Samples.
    pub count: u64,
    /// Median.
    pub p50_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Largest.
    pub max_ms: f64,
    /// Mean.
    pub mean_ms: f64,
}

impl Percentiles {
    /// From samples in microseconds (sorted here).
    pub fn from_micros(mut samples: Vec<u64>) -> Percentiles {
        if samples.is_empty() {
            return Percentiles::default();
        }
        samples.sort_unstable();
        let n = samples.len();
        let at = |q: f64| {
            // Nearest rank: the smallest sample with at least q of the samples at or below it.
            let rank = ((q * n as f64).ceil() as usize).clamp(1, n);
            samples[rank - 1] as f64 / 1000.0
        };
        let sum: u128 = samples.iter().map(|&s| u128::from(s)).sum();
        Percentiles {
            count: n as u64,
            p50_ms: at(0.50),
            p90_ms: at(0.90),
            p99_ms: at(0.99),
            max_ms: samples[n - 1] as f64 / 1000.0,
            mean_ms: sum as f64 / n as f64 / 1000.0,
        }
    }
}

/// The node's settings that shape the figures.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct NodeInfo {
    /// `in-process` or the endpoint URL.
    pub target: String,
    /// Whether the node ran inside this process (its CPU and RSS then include the load
    /// generator's).
    pub in_process: bool,
    /// Block interval, ms (known for the in-process node only).
    pub block_interval_ms: Option<u64>,
    /// Most transactions per block (known for the in-process node only).
    pub max_block_txs: Option<usize>,
    /// Most transactions one account may have waiting in the mempool.
    pub mempool_per_account: Option<usize>,
    /// Blocks committed during the measured window.
    pub blocks: u64,
    /// Transactions per block during the window (all senders, any status).
    pub txs_per_block: f64,
    /// The node's data dir, when known (in-process, or `--data-dir`); in the JSON as
    /// `disk.data_dir`.
    #[serde(skip)]
    pub data_dir: Option<PathBuf>,
}

/// Everything a run measured. The JSON holds every field under these names.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Report {
    /// `transfer`, `closing`, `token`, `query` or `settle`.
    pub workload: String,
    /// `concurrency` (closed loop) or `rate` (open loop).
    pub mode: String,
    /// Workers in flight (closing: parallel deal lanes), in concurrency mode.
    pub concurrency: Option<usize>,
    /// Offered requests per second (closing: closings started per second), in rate mode.
    pub offered_rate: Option<f64>,
    /// With `--stream`: the `SubmitStream`s the transactions went over (one per connection,
    /// each keeping its share of `concurrency` unanswered); `null`: one `SubmitAndWait` call
    /// per transaction.
    pub streams: Option<usize>,
    /// Sending accounts used by the measured load (query: parcels queried).
    pub accounts: usize,
    /// Gas limit each measured transaction carries (measured in setup, doubled); closing:
    /// the largest of its steps.
    pub gas_limit_per_tx: Option<u64>,
    /// Seconds from the first submit to the last answer (the window plus the drain of what
    /// was in flight at its end).
    pub duration_s: f64,
    /// Requests sent (closing: closings started).
    pub submitted: u64,
    /// Requests that succeeded: transactions committed with status OK, queries answered
    /// (closing: closings whose settlement committed).
    pub committed: u64,
    /// Requests that failed (refused, timed out, or committed with an error status).
    pub failed: u64,
    /// Rate mode: ticks dropped because too many requests were already in flight.
    pub skipped: u64,
    /// `committed / duration_s` (closing: closings per second).
    pub committed_tps: f64,
    /// Submit → committed latency of each successful transaction (query: request → answer),
    /// median, ms.
    pub p50_ms: f64,
    /// 90th percentile, ms.
    pub p90_ms: f64,
    /// 99th percentile, ms.
    pub p99_ms: f64,
    /// Largest, ms.
    pub max_ms: f64,
    /// Mean, ms.
    pub mean_ms: f64,
    /// Transactions committed with status OK (closing: all 13 of each closing's steps).
    pub tx_committed: u64,
    /// `tx_committed / duration_s`.
    pub tx_per_sec: f64,
    /// Closing only: settled closings per hour.
    pub closings_per_hour: Option<f64>,
    /// Closing only: first submit of a deal → its settlement committed.
    pub closing_latency: Option<Percentiles>,
    /// CPU of the node process in percent of one core (200 = two cores) over the window;
    /// in-process: the whole process, load generator included (see `cpu_note`). `null` if
    /// unknown (an endpoint without `--node-pid`).
    pub node_cpu_percent: Option<f64>,
    /// Largest resident set of the node process during the window, MiB (in-process: load
    /// generator included).
    pub node_rss_mib: Option<f64>,
    /// In-process: CPU of the load generator's own runtime threads (`bench-client*`), percent
    /// of one core; subtract it from `node_cpu_percent` for an estimate of the node alone.
    pub client_cpu_percent: Option<f64>,
    /// How the CPU figures were measured.
    pub cpu_note: String,
    /// Signature verifications per second on one core of this machine, measured in this run
    /// (k256, prehashed, exactly the node's check).
    pub verify_per_sec_1core: f64,
    /// Cores of this machine.
    pub cores: usize,
    /// The node's settings.
    pub node: NodeInfo,
    /// Transactions signed before the clock started.
    pub presigned: u64,
    /// Seconds spent on setup (enrolment, contracts, parcels, funding, pre-signing).
    pub setup_s: f64,
    /// The node's data dir in bytes on disk by component, at the start and end of the window
    /// and per 100,000 transactions; `null` for an endpoint without `--data-dir`.
    pub disk: Option<DiskReport>,
    /// Up to 10 distinct failure messages.
    pub failures: Vec<String>,
    /// Anything that makes the figures less than they seem (e.g. the pre-signed pool ran out).
    pub warnings: Vec<String>,
}

fn opt(v: Option<f64>, unit: &str) -> String {
    v.map_or_else(|| "n/a".to_string(), |v| format!("{v:.1}{unit}"))
}

impl Report {
    /// The JSON object, pretty-printed.
    ///
    /// # Errors
    /// [`serde_json::Error`] (not expected for this type).
    pub fn to_json(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string_pretty(self)
    }

    /// A table for a terminal.
    pub fn table(&self) -> String {
        let mut rows: Vec<(String, String)> = Vec::new();
        let mut row = |k: &str, v: String| rows.push((k.to_string(), v));
        let load = match (self.concurrency, self.offered_rate) {
            (Some(c), _) if self.workload == "closing" => format!("{c} deals in parallel"),
            (Some(c), _) => match self.streams {
                Some(s) => format!("concurrency {c}, over {s} SubmitStreams"),
                None => format!("concurrency {c}"),
            },
            (None, Some(r)) if self.workload == "closing" => format!("{r} closings/s offered"),
            (None, Some(r)) => format!("{r} req/s offered"),
            _ => "-".into(),
        };
        row("workload", format!("{} ({load})", self.workload));
        row("accounts", self.accounts.to_string());
        row("cores", self.cores.to_string());
        row(
            "node",
            format!(
                "{}; block interval {}, max block txs {}, mempool per account {}",
                self.node.target,
                self.node
                    .block_interval_ms
                    .map_or("unknown".into(), |v| format!("{v} ms")),
                self.node
                    .max_block_txs
                    .map_or("unknown".into(), |v| v.to_string()),
                self.node
                    .mempool_per_account
                    .map_or("unknown".into(), |v| v.to_string()),
            ),
        );
        if let Some(g) = self.gas_limit_per_tx {
            row("gas limit per tx", g.to_string());
        }
        row(
            "setup",
            format!("{:.1} s ({} txs pre-signed)", self.setup_s, self.presigned),
        );
        row("duration", format!("{:.2} s", self.duration_s));
        let what = match self.workload.as_str() {
            "closing" => "closings",
            "query" => "queries",
            "settle" => "settlements",
            _ => "txs",
        };
        row(
            &format!("{what} submitted"),
            format!(
                "{} (committed {}, failed {}, skipped {})",
                self.submitted, self.committed, self.failed, self.skipped
            ),
        );
        let per = match self.workload.as_str() {
            "query" => "queries/s",
            "closing" => "closings/s",
            "settle" => "settlements/s",
            _ => "tx/s",
        };
        row("committed", format!("{:.1} {per}", self.committed_tps));
        if self.verify_per_sec_1core > 0.0 {
            row(
                "  ÷ verify/s, 1 core",
                format!("{:.3}", self.committed_tps / self.verify_per_sec_1core),
            );
        }
        if self.workload == "closing" {
            row(
                "transactions",
                format!(
                    "{} committed, {:.1} tx/s",
                    self.tx_committed, self.tx_per_sec
                ),
            );
            row(
                "closings per hour",
                opt(self.closings_per_hour.map(f64::round), ""),
            );
        }
        let lat = if self.workload == "query" {
            "query latency"
        } else {
            "submit → committed"
        };
        row(
            lat,
            format!(
                "p50 {:.1} ms  p90 {:.1} ms  p99 {:.1} ms  max {:.1} ms  mean {:.1} ms",
                self.p50_ms, self.p90_ms, self.p99_ms, self.max_ms, self.mean_ms
            ),
        );
        if let Some(c) = &self.closing_latency {
            row(
                "closing latency",
                format!(
                    "p50 {:.0} ms  p90 {:.0} ms  p99 {:.0} ms  max {:.0} ms",
                    c.p50_ms, c.p90_ms, c.p99_ms, c.max_ms
                ),
            );
        }
        row(
            "blocks",
            format!(
                "{} ({:.1} per second, {:.1} txs per block)",
                self.node.blocks,
                self.node.blocks as f64 / self.duration_s.max(1e-9),
                self.node.txs_per_block
            ),
        );
        row("node CPU", opt(self.node_cpu_percent, " % of one core"));
        if self.client_cpu_percent.is_some() {
            if self.node.in_process {
                row(
                    "  of which client",
                    opt(self.client_cpu_percent, " % (bench-client threads)"),
                );
            } else {
                row(
                    "bench process CPU",
                    opt(self.client_cpu_percent, " % of one core"),
                );
            }
        }
        row("node RSS", opt(self.node_rss_mib, " MiB"));
        row("cpu note", self.cpu_note.clone());
        if let Some(d) = &self.disk {
            let e = &d.end;
            row(
                "disk at the end",
                format!(
                    "log {}, sled {}, node file {}, other chain files {}, module cache {}, other \
                     {}; total {} ({})",
                    mb(e.block_log as f64),
                    mb(e.state as f64),
                    mb(e.node_file as f64),
                    mb(e.chain_other as f64),
                    mb(e.module_cache as f64),
                    mb(e.other as f64),
                    mb(e.total() as f64),
                    d.data_dir
                ),
            );
            row(
                "  derived ÷ log",
                d.derived_to_log.map_or_else(
                    || "n/a".into(),
                    |r| format!("{r:.2} (sled + node file + other chain files)"),
                ),
            );
            match &d.per_100k_txs {
                Some(g) => {
                    row(
                        "disk per 100k txs",
                        format!(
                            "log {}, sled {}, node file {}, other chain files {}, other {} \
                             (growth in the window)",
                            mb(g.block_log),
                            mb(g.state),
                            mb(g.node_file),
                            mb(g.chain_other),
                            mb(g.module_cache + g.other),
                        ),
                    );
                    row(
                        "  derived ÷ log",
                        d.derived_to_log_growth
                            .map_or_else(|| "n/a".into(), |r| format!("{r:.2}")),
                    );
                }
                None => row("disk per 100k txs", "n/a (nothing committed)".into()),
            }
        }
        row(
            "verify/s, 1 core",
            format!("{:.0} k256 verifications", self.verify_per_sec_1core),
        );
        let width = rows
            .iter()
            .map(|(k, _)| k.chars().count())
            .max()
            .unwrap_or(0);
        let mut out = String::new();
        for (k, v) in &rows {
            let pad = width - k.chars().count();
            let _ = writeln!(out, "  {k}{} │ {v}", " ".repeat(pad));
        }
        for f in &self.failures {
            let _ = writeln!(out, "  failure: {f}");
        }
        for w in &self.warnings {
            let _ = writeln!(out, "  warning: {w}");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let p = Percentiles::from_micros((1..=100).map(|i| i * 1000).collect());
        assert_eq!(p.count, 100);
        assert_eq!(p.p50_ms, 50.0);
        assert_eq!(p.p90_ms, 90.0);
        assert_eq!(p.p99_ms, 99.0);
        assert_eq!(p.max_ms, 100.0);
        assert_eq!(Percentiles::from_micros(vec![7000]).p99_ms, 7.0);
        assert_eq!(Percentiles::from_micros(Vec::new()).count, 0);
    }
}

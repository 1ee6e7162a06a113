//! Each workload for ~2 s with few accounts on an in-process node: it commits, nothing fails,
//! the percentiles are ordered and the JSON carries every field. Correctness only, never speed.

use hanok_bench::{BenchOptions, Load, Report, Workload};
use std::time::Duration;

const FIELDS: &[&str] = &[
    "workload",
    "duration_s",
    "submitted",
    "committed",
    "committed_tps",
    "p50_ms",
    "p90_ms",
    "p99_ms",
    "max_ms",
    "node_cpu_percent",
    "node_rss_mib",
    "verify_per_sec_1core",
];

fn options(workload: Workload, load: Load, accounts: Option<usize>) -> BenchOptions {
    BenchOptions {
        workload,
        duration: Duration::from_secs(2),
        load: Some(load),
        accounts,
        block_interval_ms: Some(50),
        max_tps: 2_000.0,
        calibration: Duration::from_millis(100),
        ..BenchOptions::default()
    }
}

async fn run(opts: BenchOptions) -> Report {
    let workload = opts.workload;
    let report = hanok_bench::run(opts).await.expect("the run completes");
    check(&report, workload);
    report
}

async fn bench(workload: Workload, load: Load, accounts: Option<usize>) -> Report {
    run(options(workload, load, accounts)).await
}

fn check(r: &Report, workload: Workload) {
    let ctx = r.table();
    assert_eq!(r.workload, workload.as_str());
    assert!(r.committed > 0, "nothing committed:\n{ctx}");
    assert_eq!(r.failed, 0, "failures:\n{ctx}");
    assert!(r.failures.is_empty(), "failures:\n{ctx}");
    assert!(r.submitted >= r.committed);
    assert!(r.tx_committed >= r.committed);
    assert!(r.duration_s > 0.0 && r.committed_tps > 0.0);
    assert!(
        0.0 < r.p50_ms && r.p50_ms <= r.p90_ms && r.p90_ms <= r.p99_ms && r.p99_ms <= r.max_ms,
        "percentiles out of order:\n{ctx}"
    );
    assert!(r.warnings.is_empty(), "warnings:\n{ctx}");
    assert!(r.verify_per_sec_1core > 0.0);
    assert!(r.node_cpu_percent.is_some() && r.node_rss_mib.is_some_and(|m| m > 0.0));
    if let Some(c) = &r.closing_latency {
        assert!(c.p50_ms <= c.p90_ms && c.p90_ms <= c.p99_ms && c.p99_ms <= c.max_ms);
    }
    let json: serde_json::Value =
        serde_json::from_str(&r.to_json().expect("serialises")).expect("valid JSON");
    for f in FIELDS {
        assert!(json.get(f).is_some(), "JSON lacks `{f}`: {json}");
    }
    assert_eq!(json["workload"], workload.as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transfer() {
    bench(Workload::Transfer, Load::Concurrency(16), Some(4)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transfer_at_a_fixed_rate() {
    let r = bench(Workload::Transfer, Load::Rate(100.0), Some(4)).await;
    assert_eq!(r.mode, "rate");
    assert_eq!(r.skipped, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transfer_over_submit_streams() {
    let r = run(BenchOptions {
        stream: true,
        ..options(Workload::Transfer, Load::Concurrency(16), Some(4))
    })
    .await;
    assert_eq!(r.streams, Some(1));
    assert!(r.table().contains("over 1 SubmitStreams"), "{}", r.table());
    // Only where transactions are submitted independently, and in a closed loop.
    for (workload, load) in [
        (Workload::Query, Load::Concurrency(4)),
        (Workload::Transfer, Load::Rate(100.0)),
    ] {
        let bad = BenchOptions {
            stream: true,
            ..options(workload, load, None)
        };
        assert!(bad.validate().is_err());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token() {
    bench(Workload::Token, Load::Concurrency(16), Some(4)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query() {
    bench(Workload::Query, Load::Concurrency(4), Some(8)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing() {
    let r = bench(Workload::Closing, Load::Concurrency(3), None).await;
    // Every settled closing committed all 11 of its transactions.
    assert!(r.tx_committed >= 11 * r.committed);
    assert!(r.closings_per_hour.is_some_and(|c| c > 0.0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_at_a_fixed_rate() {
    let r = bench(Workload::Closing, Load::Rate(4.0), None).await;
    assert_eq!(r.mode, "rate");
    assert!(r.tx_committed >= 11 * r.committed);
}

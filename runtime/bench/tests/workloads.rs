//! Each workload for ~2 s with few accounts on an in-process node: it commits, nothing fails,
//! the percentiles are ordered and the JSON carries every field; `settle` runs against a node of
//! the test's own, so that the chain can be read afterwards. Correctness only, never speed.

use hanok_bench::{BenchOptions, DiskUsage, Load, Report, Workload};
use hanok_client::messages::deal::Status;
use hanok_client::messages::registry::{self, EncumbranceKind, Owner};
use hanok_client::Client;
use hanok_node::dev::{DevKeys, SystemContracts};
use hanok_node::NodeConfig;
use std::collections::HashMap;
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
    "disk",
];

fn options(workload: Workload, load: Load, accounts: Option<usize>) -> BenchOptions {
    BenchOptions {
        workload,
        duration: Duration::from_secs(2),
        load: Some(load),
        accounts,
        block_interval_ms: Some(50),
        max_tps: Some(2_000.0),
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

/// The data dir's bytes on disk are reported and plausible: the block log holds something,
/// grew in the window with what committed (a transfer is a few hundred bytes in the log), and
/// the per-100,000 figures are that growth scaled. Sizes only, never timings.
fn check_disk(r: &Report) {
    let ctx = r.table();
    let d = r.disk.as_ref().expect("the data dir was measured");
    assert!(d.end.block_log > 0 && d.end.state > 0, "{ctx}");
    assert!(
        d.end.block_log > d.start.block_log,
        "the log did not grow:\n{ctx}"
    );
    let per_tx = (d.end.block_log - d.start.block_log) as f64 / r.tx_committed as f64;
    assert!(
        (50.0..65_536.0).contains(&per_tx),
        "{per_tx} log bytes per committed tx:\n{ctx}"
    );
    let g = d.per_100k_txs.expect("per 100k");
    assert!(
        (g.block_log / 100_000.0 - per_tx).abs() < 1e-6 * per_tx,
        "{ctx}"
    );
    assert!(d.derived_to_log.is_some_and(|x| x > 0.0), "{ctx}");
    assert!(ctx.contains("disk per 100k txs"), "{ctx}");
    let json: serde_json::Value =
        serde_json::from_str(&r.to_json().expect("serialises")).expect("valid JSON");
    assert!(
        json["disk"]["end"]["block_log"]
            .as_u64()
            .is_some_and(|b| b > 0),
        "{json}"
    );
    assert!(json["disk"]["per_100k_txs"]["state"].is_number(), "{json}");
    // A node's state directory holds the tree's node file, counted apart from sled.
    assert!(
        json["disk"]["end"]["node_file"]
            .as_u64()
            .is_some_and(|b| b > 0),
        "{json}"
    );
}

#[test]
fn disk_usage_is_counted_by_component() {
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    std::fs::create_dir_all(d.join("chain/state/blobs")).expect("dirs");
    std::fs::create_dir_all(d.join("module-cache/abc")).expect("dirs");
    std::fs::write(d.join("chain/blocks.log"), vec![1u8; 10_000]).expect("log");
    std::fs::write(d.join("chain/state/db"), vec![1u8; 50_000]).expect("db");
    std::fs::write(d.join("chain/state/blobs/1"), vec![1u8; 5_000]).expect("blob");
    std::fs::write(d.join("chain/state/tree.nodes"), vec![1u8; 20_000]).expect("node file");
    std::fs::write(d.join("chain/nodes.dat"), vec![1u8; 3_000]).expect("nodes");
    std::fs::write(d.join("module-cache/abc/m"), vec![1u8; 7_000]).expect("module");
    std::fs::write(d.join("node.key"), vec![1u8; 100]).expect("key");
    let u = DiskUsage::measure(d).expect("measured");
    // Allocated bytes, so at least what was written, rounded up to blocks.
    assert!((10_000..20_000).contains(&u.block_log), "{u:?}");
    assert!((55_000..70_000).contains(&u.state), "{u:?}");
    assert!((20_000..30_000).contains(&u.node_file), "{u:?}");
    assert!((3_000..10_000).contains(&u.chain_other), "{u:?}");
    assert!(u.module_cache >= 7_000, "{u:?}");
    assert!(u.other >= 100, "{u:?}");
    assert_eq!(u.derived(), u.state + u.node_file + u.chain_other);
    assert!(DiskUsage::measure(&d.join("missing")).is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transfer() {
    let r = bench(Workload::Transfer, Load::Concurrency(16), Some(4)).await;
    check_disk(&r);
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
    // --data-dir is for a node at --endpoint.
    let bad = BenchOptions {
        data_dir: Some(std::env::temp_dir()),
        ..options(Workload::Transfer, Load::Concurrency(4), None)
    };
    assert!(bad.validate().is_err());
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
    // Every settled closing committed all 13 of its transactions.
    assert!(r.tx_committed >= 13 * r.committed);
    assert!(r.closings_per_hour.is_some_and(|c| c > 0.0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_at_a_fixed_rate() {
    let r = bench(Workload::Closing, Load::Rate(4.0), None).await;
    assert_eq!(r.mode, "rate");
    assert!(r.tx_committed >= 13 * r.committed);
}

/// The settle workload's amounts: bank A's lien, the price, bank B's new mortgage.
const LIEN: u128 = 300_000_000;
const PRICE: u128 = 900_000_000;
const MORTGAGE: u128 = 600_000_000;

/// A mortgage held by `holder` for `amount`, without a payoff statement.
fn mortgage(holder: hanok_types::Address, amount: u128) -> EncumbranceKind {
    EncumbranceKind::Mortgage {
        holder,
        amount: hanok_client::Amount(amount),
        payoff: None,
    }
}

/// Holder, registered amount and stated payoff of a mortgage (`None` for other kinds).
fn stated(kind: &EncumbranceKind) -> Option<(hanok_types::Address, u128, Option<u128>)> {
    match kind {
        EncumbranceKind::Mortgage {
            holder,
            amount,
            payoff,
        } => Some((*holder, amount.0, payoff.map(|p| p.amount.0))),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settle() {
    // A node of the test's own (the bench's in-process node stops with the run), in this
    // process: --node-pid is this process.
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = NodeConfig::dev(dir.path());
    config.listen = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    config.block_interval_ms = 50;
    let node = hanok_node::start(config, hanok_node::dev::dev_genesis())
        .await
        .expect("the node starts");
    let url = format!("http://{}", node.local_addr);
    // 50 settlements/s offered for 2 s: 121 deals made, 4 brokers, 31 deals each.
    let opts = BenchOptions {
        workload: Workload::Settle,
        duration: Duration::from_secs(2),
        load: Some(Load::Rate(50.0)),
        accounts: Some(4),
        endpoint: Some(url.clone()),
        node_pid: Some(std::process::id()),
        data_dir: Some(dir.path().to_path_buf()),
        calibration: Duration::from_millis(100),
        ..BenchOptions::default()
    };
    let r = hanok_bench::run(opts).await.expect("the run completes");
    check(&r, Workload::Settle);
    assert_eq!(r.skipped, 0);
    assert_eq!(r.tx_committed, r.committed);
    assert!(r.presigned >= 121, "{} settlements pre-signed", r.presigned);
    check_disk(&r);

    // Read every deal back: each is settled or still approved, and a settlement did all of its
    // work.
    let client = Client::connect(url).await.expect("connects");
    let keys = DevKeys::new();
    let sys = SystemContracts::of(&keys.authority().address);
    let dev = |n: &str| keys.get(n).expect("a dev account").address;
    let (bank_a, bank_b) = (dev("bank-a"), dev("bank-b"));
    let (deals, registry, krw) = (
        client.deal(sys.deal),
        client.registry(sys.registry),
        client.krw(sys.krw),
    );
    let (mut settled, mut approved) = (0u64, 0u64);
    let mut seller_sales: HashMap<hanok_types::Address, u128> = HashMap::new();
    let mut id = 1;
    while let Ok(d) = deals.deal(id).await {
        let parcel = registry.parcel(&d.parcel_id).await.expect("the parcel");
        let active: Vec<EncumbranceKind> =
            parcel.encumbrances.iter().map(|e| e.kind.clone()).collect();
        let past = registry
            .past_encumbrances(&d.parcel_id, None, None)
            .await
            .expect("past encumbrances")
            .encumbrances;
        match d.status {
            Status::Settled => {
                settled += 1;
                *seller_sales.entry(d.seller).or_default() += 1;
                assert!(d.settled_height.is_some());
                // The title moved to the buyer...
                let sole_buyer = vec![Owner {
                    owner: d.buyer,
                    share_bps: registry::FULL_SHARE_BPS,
                }];
                assert_eq!(parcel.owners, sole_buyer, "deal {id}");
                // ...bank A's lien was discharged and bank B's mortgage recorded.
                assert_eq!(active, vec![mortgage(bank_b, MORTGAGE)], "deal {id}");
                assert_eq!(past.len(), 1, "deal {id}: {past:?}");
                // Paid off on bank A's statement, which the discharged lien keeps.
                assert_eq!(
                    stated(&past[0].kind),
                    Some((bank_a, LIEN, Some(LIEN))),
                    "deal {id}"
                );
                assert!(!past[0].active);
            }
            Status::Approved => {
                approved += 1;
                assert_eq!(parcel.owners[0].owner, d.seller, "deal {id}");
                let active: Vec<_> = active.iter().map(stated).collect();
                assert_eq!(active, vec![Some((bank_a, LIEN, Some(LIEN)))], "deal {id}");
                assert!(past.is_empty());
            }
            other => panic!("deal {id} is {other}"),
        }
        id += 1;
    }
    assert_eq!(
        settled + approved,
        r.presigned,
        "a deal per pre-signed settlement"
    );
    assert_eq!(
        settled, r.committed,
        "every counted settlement, and only those, settled"
    );
    // The money: bank A was paid its lien once per settlement, each seller the price less the
    // lien per sale, and the escrow holds the prices of the deals not settled.
    let balance = |a| {
        let krw = &krw;
        async move { krw.balance(a).await.expect("a balance") }
    };
    assert_eq!(balance(bank_a).await, LIEN * u128::from(settled));
    for (seller, sales) in &seller_sales {
        assert_eq!(balance(*seller).await, (PRICE - LIEN) * sales);
    }
    assert_eq!(balance(sys.escrow).await, PRICE * u128::from(approved));
    node.shutdown().await.expect("the node stops");
}

//! The acceptance story through the client SDK against a real node over loopback gRPC: real
//! sled on disk, the real system contracts as wasm, a title proof checked on the client; and
//! the deal rules of issue 15 over the same path (`it/rules.rs`).

// Under `it/` so that cargo does not take it for a test binary of its own.
#[path = "it/rules.rs"]
mod rules;

use hanok_client::{Client, TitleProof};
use hanok_closing::{run, Terms};
use hanok_node::{dev::dev_genesis, NodeConfig};
use hanok_proto::v1;
use std::time::Duration;

pub(crate) type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error>>;

pub(crate) async fn dev_node(dir: &std::path::Path) -> Result<hanok_node::NodeHandle> {
    let mut config = NodeConfig::dev(dir);
    config.listen = "127.0.0.1:0".parse()?;
    config.block_interval_ms = 50;
    Ok(hanok_node::start(config, dev_genesis()).await?)
}

fn terms() -> Terms {
    Terms {
        failure_deadline: Duration::from_secs(6),
        ..Terms::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_story_closes_over_grpc_and_the_title_proof_checks() -> Result {
    let dir = tempfile::tempdir()?;
    let node = dev_node(dir.path()).await?;
    let endpoint = format!("http://{}", node.local_addr);
    let mut lines: Vec<String> = Vec::new();
    let o = run(&endpoint, &terms(), &mut lines).await?;
    for n in 1..=9 {
        assert!(
            lines.iter().any(|l| l.starts_with(&format!("[{n}] "))),
            "step {n} not narrated:\n{}",
            lines.join("\n")
        );
    }

    // Settlement was one successful transaction that moved the title.
    assert_eq!(o.settlement.status, v1::TxStatus::Ok as i32);
    assert!(o
        .settlement
        .events
        .iter()
        .any(|e| e.r#type == "title_transferred"));
    // The dry run showed writes in the registry (the parcel) and the token (balances).
    for contract in [o.system.registry, o.system.krw, o.system.deal] {
        assert!(
            o.simulated_diff
                .iter()
                .any(|w| w.contract.as_slice() == contract.0.as_slice()),
            "no simulated write in {contract}"
        );
    }
    assert!(o.refused.contains("payoff"), "refusal: {}", o.refused);
    // The acquisition tax: on a fresh node the buyer's first home gets the first-home relief
    // (₩2,000,000 off the 3 % on 9억); the same person's second home, bought with a new key,
    // pays the full rate.
    use hanok_client::messages::tax::ReliefStatus;
    assert_eq!(
        o.tax.relief_status,
        ReliefStatus::Applied,
        "{}",
        o.tax.reason
    );
    assert_eq!((o.tax.full_tax.0, o.tax.tax.0), (27_000_000, 25_000_000));
    assert_eq!(
        o.second_home_tax.relief_status,
        ReliefStatus::AlreadyClaimed
    );
    assert_eq!(o.second_home_tax.tax.0, 5_000_000, "1 % of 5억, no relief");

    // The proof: owner is the buyer, proven at a committed block; anyone can re-check the JSON.
    let buyer = hanok_closing::Actors::dev().buyer.address();
    let parcel = o.verified.parcel.as_ref().ok_or("no parcel in the proof")?;
    assert_eq!(parcel.owners[0].owner, buyer);
    let json = o.title.to_json()?;
    let again = TitleProof::from_json(&json)?.verify()?;
    assert_eq!(again, o.verified);
    // A proof whose stored value was edited (the seller as owner again) must not check.
    let mut forged = o.title.clone();
    let seller = hanok_closing::Actors::dev().seller.address();
    let stored = hex::decode(forged.value.as_deref().ok_or("no value")?)?;
    let edited = String::from_utf8(stored)?.replace(&buyer.to_string(), &seller.to_string());
    forged.value = Some(hex::encode(edited));
    assert!(forged.verify().is_err(), "a forged title verified");
    // The absent parcel is proven absent.
    assert!(o.absent.1.parcel.is_none());

    // The node keeps every header it proved against.
    let client = Client::connect(endpoint.clone()).await?;
    let (_, hash) = client.block(o.verified.height).await?;
    assert_eq!(hash, o.verified.header_hash);
    // The settlement is one committed transaction, fetchable by its hash.
    let tx_hash = hanok_types::Hash::from_slice(&o.settlement.tx_hash).ok_or("tx hash")?;
    let (tx, height, _) = client.transaction(&tx_hash).await?;
    assert_eq!(height, o.settlement.height);
    assert_eq!(tx.hash(), tx_hash);
    assert_eq!(client.receipt(&tx_hash).await?, o.settlement);

    // The story can run again on the same node: new parcel, new deal.
    let mut quiet: Vec<String> = Vec::new();
    let second = run(&endpoint, &terms(), &mut quiet).await?;
    assert_ne!(second.parcel_id, o.parcel_id);
    assert_ne!(second.deal_id, o.deal_id);
    assert_eq!(
        second.tax.relief_status,
        ReliefStatus::AlreadyClaimed,
        "the buyer's relief was claimed by the first run"
    );

    node.shutdown().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_endpoint_is_a_clear_error() -> Result {
    // Bind then drop a listener: nothing listens on that port any more.
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let mut lines: Vec<String> = Vec::new();
    let err = run(&format!("http://127.0.0.1:{port}"), &terms(), &mut lines)
        .await
        .err()
        .ok_or("connecting to a closed port succeeded")?;
    assert!(err.to_string().contains("cannot reach the node"), "{err}");
    Ok(())
}

//! Node integration tests: a real node on loopback with the real dev genesis and sled in a
//! tempdir, driven by the generated tonic clients and `hanok-types` signing.

use anyhow::{bail, Context, Result};
use hanok_node::dev::{dev_genesis, roles_key, DevKeys, SystemContracts, DEV_CHAIN_ID};
use hanok_node::{start, NodeConfig, NodeHandle};
use hanok_proto::v1::{
    self, contracts_client::ContractsClient, ledger_client::LedgerClient,
    proofs_client::ProofsClient,
};
use hanok_types::{sign_body, Address, SecretKey};
use prost::Message;
use serde_json::{json, Value};
use std::path::Path;
use std::time::{Duration, Instant};
use tonic::transport::Channel;
use tonic::Code;

mod submit_stream;

struct Node {
    handle: NodeHandle,
    ledger: LedgerClient<Channel>,
    contracts: ContractsClient<Channel>,
    proofs: ProofsClient<Channel>,
    keys: DevKeys,
    sys: SystemContracts,
}

async fn node(dir: &Path) -> Result<Node> {
    let mut config = NodeConfig::dev(dir);
    config.listen = "127.0.0.1:0".parse()?;
    config.block_interval_ms = 20;
    config.request_timeout_ms = 5_000;
    connect(start(config, dev_genesis()).await?).await
}

/// Clients of a started node.
async fn connect(handle: NodeHandle) -> Result<Node> {
    let url = format!("http://{}", handle.local_addr);
    let channel = Channel::from_shared(url)?.connect().await?;
    let keys = DevKeys::new();
    let sys = SystemContracts::of(&keys.authority().address);
    Ok(Node {
        handle,
        ledger: LedgerClient::new(channel.clone()).max_encoding_message_size(64 << 20),
        contracts: ContractsClient::new(channel.clone()),
        proofs: ProofsClient::new(channel),
        keys,
        sys,
    })
}

fn body(key: &SecretKey, nonce: u64, contract: Address, msg: &Value) -> v1::TxBody {
    v1::TxBody {
        chain_id: DEV_CHAIN_ID.into(),
        sender: key.address().0.to_vec(),
        sender_pubkey: key.public_key().to_bytes().to_vec(),
        nonce,
        expiry_height: 1_000_000,
        gas_limit: 100_000_000,
        calls: vec![v1::Call {
            kind: Some(v1::call::Kind::Execute(v1::Execute {
                contract: contract.0.to_vec(),
                msg: msg.to_string().into_bytes(),
            })),
        }],
        memo: String::new(),
    }
}

fn register(id: &str, owner: Address) -> Value {
    json!({"register_parcel": {
        "parcel_id": id,
        "lot_number": "대치동 123",
        "address": "서울특별시 강남구 대치동 123",
        "area_m2_hundredths": 8_497,
        "land_use": "residential",
        "owners": [{"owner": owner, "share_bps": 10_000}],
    }})
}

fn req(tx: v1::SignedTx) -> v1::SubmitRequest {
    v1::SubmitRequest { tx: Some(tx) }
}

impl Node {
    fn key(&self, name: &str) -> Result<SecretKey> {
        Ok(self.keys.get(name).context("dev key")?.key.clone())
    }

    async fn nonce(&mut self, key: &SecretKey) -> Result<u64> {
        let r = self
            .contracts
            .get_account(v1::GetAccountRequest {
                address: key.address().0.to_vec(),
            })
            .await?;
        Ok(r.into_inner().next_nonce)
    }

    async fn status(&mut self) -> Result<v1::GetStatusResponse> {
        Ok(self
            .ledger
            .get_status(v1::GetStatusRequest {})
            .await?
            .into_inner())
    }

    /// Signs `msg` to `contract` as `name` with its next nonce and waits for the receipt.
    async fn send(&mut self, name: &str, contract: Address, msg: &Value) -> Result<v1::Receipt> {
        let key = self.key(name)?;
        let nonce = self.nonce(&key).await?;
        let tx = sign_body(&key, &body(&key, nonce, contract, msg));
        let r = self.ledger.submit_and_wait(req(tx)).await?.into_inner();
        r.receipt.context("receipt")
    }
}

fn expect_code<T: std::fmt::Debug>(
    r: std::result::Result<T, tonic::Status>,
    code: Code,
    words: &str,
) -> Result<()> {
    match r {
        Ok(v) => bail!("expected {code:?}, got OK {v:?}"),
        Err(s) if s.code() == code && s.message().contains(words) => Ok(()),
        Err(s) => bail!(
            "expected {code:?} containing `{words}`, got {:?}: {}",
            s.code(),
            s.message()
        ),
    }
}

/// secp256k1 group order, big-endian.
const N: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe,
    0xba, 0xae, 0xdc, 0xe6, 0xaf, 0x48, 0xa0, 0x3b, 0xbf, 0xd2, 0x5e, 0x8c, 0xd0, 0x36, 0x41, 0x41,
];

/// The same signature with s replaced by n - s (valid, but high-S).
fn high_s(sig: &[u8]) -> Vec<u8> {
    let mut out = sig.to_vec();
    let mut borrow = 0i16;
    for i in (0..32).rev() {
        let d = i16::from(N[i]) - i16::from(sig[32 + i]) - borrow;
        borrow = i16::from(d < 0);
        out[32 + i] = (d + if d < 0 { 256 } else { 0 }) as u8;
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_tx_commits_and_everything_about_it_is_fetchable() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let mut n = node(dir.path()).await?;
    let seller = n.keys.get("seller").context("seller")?.address;
    let registry = n.sys.registry;
    let receipt = n
        .send("official-1", registry, &register("P-1", seller))
        .await?;
    assert_eq!(receipt.status, v1::TxStatus::Ok as i32, "{}", receipt.error);
    assert!(receipt.height >= 2, "block 1 is the bootstrap block");

    let got = n
        .ledger
        .get_receipt(v1::GetReceiptRequest {
            tx_hash: receipt.tx_hash.clone(),
        })
        .await?
        .into_inner();
    assert_eq!(got.receipt.as_ref(), Some(&receipt));
    let tx = n
        .ledger
        .get_transaction(v1::GetTransactionRequest {
            tx_hash: receipt.tx_hash.clone(),
        })
        .await?
        .into_inner();
    assert_eq!(tx.height, receipt.height);
    let block = n
        .ledger
        .get_block(v1::GetBlockRequest {
            height: Some(receipt.height),
            hash: Vec::new(),
        })
        .await?
        .into_inner();
    let by_hash = n
        .ledger
        .get_block(v1::GetBlockRequest {
            height: None,
            hash: block.hash.clone(),
        })
        .await?
        .into_inner();
    assert_eq!(by_hash, block, "the same block by height and by hash");
    assert_eq!(
        block.block.context("block")?.txs[tx.index as usize],
        tx.tx.context("tx")?
    );
    let unknown = n
        .ledger
        .get_block(v1::GetBlockRequest {
            height: None,
            hash: vec![7; 32],
        })
        .await;
    expect_code(unknown, Code::NotFound, "no committed block")?;
    let status = n.status().await?;
    assert_eq!(status.chain_id, DEV_CHAIN_ID);
    assert!(status.height >= receipt.height);
    assert_eq!(status.state_root.len(), 32);

    let q = n
        .contracts
        .query(v1::QueryRequest {
            contract: registry.0.to_vec(),
            msg: json!({"parcel": {"parcel_id": "P-1"}})
                .to_string()
                .into_bytes(),
        })
        .await?
        .into_inner();
    let parcel: Value = serde_json::from_slice(&q.data)?;
    assert!(parcel.to_string().contains("P-1"), "{parcel}");

    let official = n.key("official-1")?;
    let acct = n
        .contracts
        .get_account(v1::GetAccountRequest {
            address: official.address().0.to_vec(),
        })
        .await?;
    let acct = acct.into_inner();
    assert_eq!(acct.next_nonce, 1);
    assert_eq!(acct.roles, vec!["official".to_string()]);
    assert!(acct.enrolled);
    assert_eq!(acct.did, official.public_key().did());

    let list = n
        .contracts
        .list_contracts(v1::ListContractsRequest::default())
        .await?
        .into_inner();
    // The six system contracts of the dev genesis.
    assert_eq!(list.contracts.len(), 6);
    let code = n
        .contracts
        .get_code(v1::GetCodeRequest {
            code_hash: list.contracts[0].code_hash.clone(),
        })
        .await?
        .into_inner();
    assert!(code.wasm.starts_with(b"\0asm"));
    n.handle.shutdown().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_inputs_get_the_right_code_and_the_next_good_request_succeeds() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let mut n = node(dir.path()).await?;
    let official = n.key("official-1")?;
    let seller = n.keys.get("seller").context("seller")?.address;
    let registry = n.sys.registry;
    let good = |n: u64| body(&official, n, registry, &register(&format!("G-{n}"), seller));

    // Malformed protobuf in SignedTx.body.
    let r = n
        .ledger
        .submit(req(v1::SignedTx {
            body: vec![0xff, 0xff, 0xff],
            signature: vec![0; 64],
        }))
        .await;
    expect_code(r, Code::InvalidArgument, "TxBody")?;

    // Bad signature: a signature over other bytes.
    let mut tx = sign_body(&official, &good(0));
    tx.signature = sign_body(&official, &good(1)).signature;
    expect_code(
        n.ledger.submit(req(tx)).await,
        Code::InvalidArgument,
        "does not verify",
    )?;

    // High-S.
    let mut tx = sign_body(&official, &good(0));
    tx.signature = high_s(&tx.signature);
    expect_code(
        n.ledger.submit(req(tx)).await,
        Code::InvalidArgument,
        "high-S",
    )?;

    // Wrong chain id.
    let mut b = good(0);
    b.chain_id = "other-chain".into();
    let r = n.ledger.submit(req(sign_body(&official, &b))).await;
    expect_code(r, Code::InvalidArgument, DEV_CHAIN_ID)?;

    // Unknown sender.
    let stranger = SecretKey::from_seed(b"not enrolled");
    let b = body(&stranger, 0, registry, &register("X", seller));
    let r = n.ledger.submit(req(sign_body(&stranger, &b))).await;
    expect_code(r, Code::PermissionDenied, "not enrolled")?;

    // Enrolled, but adding code needs the `deployer` role.
    let broker = n.key("broker")?;
    let mut b = body(&broker, 0, registry, &register("X", seller));
    b.calls = vec![v1::Call {
        kind: Some(v1::call::Kind::Upload(v1::Upload {
            wasm: hanok_contracts::FIRST_HOME.to_vec(),
        })),
    }];
    let r = n.ledger.submit(req(sign_body(&broker, &b))).await;
    expect_code(r, Code::PermissionDenied, "needs the `deployer` role")?;

    // Expired.
    let mut b = good(0);
    b.expiry_height = 1;
    let r = n.ledger.submit(req(sign_body(&official, &b))).await;
    expect_code(r, Code::FailedPrecondition, "expired")?;

    // A good one commits; replaying it is ALREADY_EXISTS; another tx with its nonce names the
    // expected nonce.
    let tx = sign_body(&official, &good(0));
    let ok = n
        .ledger
        .submit_and_wait(req(tx.clone()))
        .await?
        .into_inner();
    assert_eq!(
        ok.receipt.context("receipt")?.status,
        v1::TxStatus::Ok as i32
    );
    expect_code(
        n.ledger.submit(req(tx)).await,
        Code::AlreadyExists,
        "already committed",
    )?;
    let mut b = good(0);
    b.memo = "other bytes".into();
    let r = n.ledger.submit(req(sign_body(&official, &b))).await;
    expect_code(r, Code::FailedPrecondition, "next nonce is 1")?;

    // A nonce gap beyond the per-account window.
    let r = n
        .ledger
        .submit(req(sign_body(&official, &good(1_000))))
        .await;
    expect_code(r, Code::FailedPrecondition, "too far ahead")?;

    // A transaction over the chain's tx size limit, and a message over the gRPC limit.
    let mut b = good(1);
    b.memo = "x".repeat(1024 * 1024);
    let r = n.ledger.submit(req(sign_body(&official, &b))).await;
    expect_code(r, Code::InvalidArgument, "above the limit")?;
    b.memo = "x".repeat(5 * 1024 * 1024);
    let r = n.ledger.submit(req(sign_body(&official, &b))).await;
    expect_code(r, Code::OutOfRange, "too large")?;

    // Unknown contract.
    let r = n
        .contracts
        .query(v1::QueryRequest {
            contract: vec![7; 20],
            msg: b"{}".to_vec(),
        })
        .await;
    expect_code(r, Code::NotFound, "no contract")?;
    let r = n
        .contracts
        .query(v1::QueryRequest {
            contract: vec![7; 3],
            msg: b"{}".to_vec(),
        })
        .await;
    expect_code(r, Code::InvalidArgument, "20-byte")?;

    // A contract error is a committed receipt, not a status.
    let dup = n
        .send("official-1", registry, &register("G-0", seller))
        .await?;
    assert_eq!(dup.status, v1::TxStatus::ContractError as i32);
    assert!(!dup.error.is_empty());

    // And the node still takes good requests.
    let next = n
        .send("official-2", registry, &register("G-next", seller))
        .await?;
    assert_eq!(next.status, v1::TxStatus::Ok as i32, "{}", next.error);
    n.handle.shutdown().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulate_shows_a_diff_and_commits_nothing() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let mut n = node(dir.path()).await?;
    let official = n.key("official-1")?;
    let seller = n.keys.get("seller").context("seller")?.address;
    let before = n.status().await?;
    let b = body(&official, 0, n.sys.registry, &register("S-1", seller));
    for tx in [
        sign_body(&official, &b),
        v1::SignedTx {
            body: b.encode_to_vec(),
            signature: Vec::new(),
        },
    ] {
        let r = n
            .contracts
            .simulate(v1::SimulateRequest {
                tx: Some(tx),
                then: Vec::new(),
            })
            .await?;
        let r = r.into_inner();
        let receipt = r.receipt.context("receipt")?;
        assert_eq!(receipt.status, v1::TxStatus::Ok as i32, "{}", receipt.error);
        assert!(receipt.gas_used > 0);
        // The new parcel is written under the registry's storage, readable as JSON.
        let parcel = r
            .diff
            .iter()
            .filter(|w| w.contract == n.sys.registry.0.to_vec())
            .filter_map(|w| w.value.as_deref())
            .find(|v| v.windows(3).any(|x| x == b"S-1"))
            .context("the diff has no write of parcel S-1 in the registry")?;
        let parcel: Value = serde_json::from_slice(parcel)?;
        assert_eq!(parcel["owners"][0]["owner"], seller.to_string(), "{parcel}");
        assert!(r.diff.windows(2).all(|w| w[0].key < w[1].key), "key order");
    }
    // A sequence: each transaction sees the writes of those before it. Registering S-2 twice
    // fails the second time only because the first ran; the third still runs.
    let unsigned = |parcel: &str| v1::SignedTx {
        body: body(&official, 0, n.sys.registry, &register(parcel, seller)).encode_to_vec(),
        signature: Vec::new(),
    };
    let r = n
        .contracts
        .simulate(v1::SimulateRequest {
            tx: Some(unsigned("S-2")),
            then: vec![unsigned("S-2"), unsigned("S-3")],
        })
        .await?
        .into_inner();
    let first = r.receipt.context("receipt")?;
    assert_eq!(first.status, v1::TxStatus::Ok as i32, "{}", first.error);
    let [again, other] = r.then_receipts.as_slice() else {
        anyhow::bail!(
            "expected two receipts after the first: {:?}",
            r.then_receipts
        );
    };
    assert_eq!(again.status, v1::TxStatus::ContractError as i32);
    assert!(again.error.contains("S-2"), "{}", again.error);
    assert_eq!(other.status, v1::TxStatus::Ok as i32, "{}", other.error);
    let written = |id: &str| {
        r.diff
            .iter()
            .filter_map(|w| w.value.as_deref())
            .any(|v| v.windows(id.len()).any(|x| x == id.as_bytes()))
    };
    assert!(written("S-2") && written("S-3"));
    // Bounded: 16 transactions at most.
    let too_many = n
        .contracts
        .simulate(v1::SimulateRequest {
            tx: Some(unsigned("S-4")),
            then: (0..16).map(|_| unsigned("S-4")).collect(),
        })
        .await
        .err()
        .context("17 transactions in one dry run were accepted")?;
    assert_eq!(too_many.code(), tonic::Code::InvalidArgument);
    assert!(
        too_many.message().contains("then"),
        "{}",
        too_many.message()
    );

    let after = n.status().await?;
    assert_eq!(after.height, before.height);
    assert_eq!(after.state_root, before.state_root);
    assert_eq!(n.nonce(&official).await?, 0);
    n.handle.shutdown().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_proofs_verify_for_present_and_absent_keys() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let mut n = node(dir.path()).await?;
    let official = n.keys.get("official-1").context("official")?.address;
    for (key, present) in [
        (roles_key(&official), true),
        (roles_key(&Address([9; 20])), false),
    ] {
        let r = n
            .proofs
            .get_state_proof(v1::GetStateProofRequest {
                key: Vec::new(),
                contract: n.sys.identity.0.to_vec(),
                contract_key: key,
            })
            .await?
            .into_inner();
        assert_eq!(r.value.is_some(), present);
        let header = r.header.context("header")?;
        let root = hanok_proof::Hash(header.state_root.as_slice().try_into()?);
        let proof = hanok_proof::Proof::from_bytes(&r.proof).map_err(|e| anyhow::anyhow!("{e}"))?;
        proof
            .verify(&root, &r.key, r.value.as_deref())
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        // The proof does not verify for another value.
        assert!(proof.verify(&root, &r.key, Some(b"forged")).is_err());
        // The header is a committed block.
        let b = n
            .ledger
            .get_block(v1::GetBlockRequest {
                height: Some(header.height),
                hash: Vec::new(),
            })
            .await?
            .into_inner();
        assert_eq!(b.block.context("block")?.header, Some(header));
    }
    n.handle.shutdown().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_replay_then_follow_live_blocks() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let mut n = node(dir.path()).await?;
    let mut blocks = n
        .ledger
        .stream_blocks(v1::StreamBlocksRequest { from_height: 0 })
        .await?
        .into_inner();
    let mut events = n
        .ledger
        .stream_events(v1::StreamEventsRequest {
            from_height: 0,
            contract: n.sys.identity.0.to_vec(),
            r#type: "enrolled".into(),
        })
        .await?
        .into_inner();
    let deadline = Duration::from_secs(10);
    for want in 0..2u64 {
        let b = tokio::time::timeout(deadline, blocks.message())
            .await??
            .context("block")?;
        assert_eq!(b.header.context("header")?.height, want);
    }
    // The bootstrap block enrolled eight accounts.
    for _ in 0..8 {
        let e = tokio::time::timeout(deadline, events.message())
            .await??
            .context("event")?;
        assert_eq!(e.height, 1);
    }
    let seller = n.keys.get("seller").context("seller")?.address;
    let registry = n.sys.registry;
    let r = n
        .send("official-1", registry, &register("L-1", seller))
        .await?;
    let start = Instant::now();
    loop {
        let b = tokio::time::timeout(deadline, blocks.message())
            .await??
            .context("block")?;
        if b.header.context("header")?.height == r.height {
            break;
        }
        if start.elapsed() > deadline {
            bail!("live block {} never streamed", r.height);
        }
    }
    n.handle.shutdown().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_on_the_same_data_dir_keeps_height_and_root() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let mut n = node(dir.path()).await?;
    let seller = n.keys.get("seller").context("seller")?.address;
    let registry = n.sys.registry;
    n.send("official-1", registry, &register("R-1", seller))
        .await?;
    let before = n.status().await?;
    n.handle.shutdown().await?;

    let mut n = node(dir.path()).await?;
    let after = n.status().await?;
    assert_eq!(after.height, before.height);
    assert_eq!(after.state_root, before.state_root);
    assert_eq!(after.latest_block_hash, before.latest_block_hash);
    let official = n.key("official-1")?;
    assert_eq!(n.nonce(&official).await?, 1);
    n.handle.shutdown().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_reports_serving() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let n = node(dir.path()).await?;
    let channel = Channel::from_shared(format!("http://{}", n.handle.local_addr))?
        .connect()
        .await?;
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
    let r = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: "hanok.v1.Ledger".into(),
        })
        .await?
        .into_inner();
    assert_eq!(
        r.status,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );
    n.handle.shutdown().await?;
    Ok(())
}

fn health_req(service: &str) -> tonic_health::pb::HealthCheckRequest {
    tonic_health::pb::HealthCheckRequest {
        service: service.into(),
    }
}

/// Health's answer for the whole server and its `hanok-status` metadata.
async fn health_of(channel: &Channel) -> Result<(i32, String)> {
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel.clone());
    let r = health.check(health_req("")).await?;
    let phase = r
        .metadata()
        .get("hanok-status")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    Ok((r.into_inner().status, phase))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_port_answers_not_serving_with_replay_progress_until_the_node_serves() -> Result<()> {
    use tonic_health::pb::health_check_response::ServingStatus;
    let dir = tempfile::tempdir()?;
    let mut n = node(dir.path()).await?;
    let seller = n.keys.get("seller").context("seller")?.address;
    let registry = n.sys.registry;
    for i in 0..3 {
        n.send(
            "official-1",
            registry,
            &register(&format!("RP-{i}"), seller),
        )
        .await?;
    }
    let height = n.status().await?.height;
    n.handle.shutdown().await?;
    // Without its state database the node rebuilds it by replaying every block of the log.
    std::fs::remove_dir_all(dir.path().join("chain").join("state"))?;

    let mut config = NodeConfig::dev(dir.path());
    config.listen = "127.0.0.1:0".parse()?;
    let starting = hanok_node::launch(config, dev_genesis()).await?;
    let channel = Channel::from_shared(format!("http://{}", starting.local_addr))?
        .connect()
        .await?;
    // The node serves only once `ready` is awaited: until then, deterministically, health says
    // NOT_SERVING with how far the replay got, and other calls UNAVAILABLE.
    let want = format!("replaying: block {height} of {height}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, phase) = health_of(&channel).await?;
        assert_eq!(status, ServingStatus::NotServing as i32, "{phase}");
        assert!(phase.starts_with("replaying: block "), "{phase}");
        if phase == want {
            break;
        }
        if Instant::now() > deadline {
            bail!("replay progress stuck at `{phase}`, want `{want}`");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let r = LedgerClient::new(channel.clone())
        .get_status(v1::GetStatusRequest {})
        .await;
    expect_code(r, Code::Unavailable, &want)?;

    let handle = starting.ready().await?;
    let (status, phase) = health_of(&channel).await?;
    assert_eq!(
        (status, phase.as_str()),
        (ServingStatus::Serving as i32, "serving")
    );
    let s = LedgerClient::new(channel.clone())
        .get_status(v1::GetStatusRequest {})
        .await?
        .into_inner();
    assert_eq!(s.height, height);
    handle.shutdown().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_answers_calls_in_flight_unavailable_and_ends_in_seconds() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let mut n = node(dir.path()).await?;
    let height = n.status().await?.height;
    // A subscriber at the tip, and a SubmitAndWait whose transaction waits for a nonce gap.
    let mut blocks = n
        .ledger
        .stream_blocks(v1::StreamBlocksRequest { from_height: 0 })
        .await?
        .into_inner();
    loop {
        let b = tokio::time::timeout(Duration::from_secs(10), blocks.message())
            .await??
            .context("block")?;
        if b.header.context("header")?.height == height {
            break;
        }
    }
    let official = n.key("official-1")?;
    let seller = n.keys.get("seller").context("seller")?.address;
    let ahead = n.nonce(&official).await? + 1;
    let tx = sign_body(
        &official,
        &body(&official, ahead, n.sys.registry, &register("GAP", seller)),
    );
    let mut waiting_client = n.ledger.clone();
    let wait_tx = tx.clone();
    let waiting = tokio::spawn(async move { waiting_client.submit_and_wait(req(wait_tx)).await });
    // And a submit stream, left open, with the next nonce after it.
    let streamed = sign_body(
        &official,
        &body(
            &official,
            ahead + 1,
            n.sys.registry,
            &register("GAP2", seller),
        ),
    );
    let (to_stream, requests) = tokio::sync::mpsc::channel(4);
    let mut stream = n
        .ledger
        .submit_stream(tokio_stream::wrappers::ReceiverStream::new(requests))
        .await?
        .into_inner();
    to_stream.send(req(streamed.clone())).await?;
    // Admitted once the node says they wait in the mempool (a second submission of the same
    // bytes would race the SubmitAndWait above for admission).
    for tx in [&tx, &streamed] {
        let hash = hanok_types::Hash::sha256(&tx.encode_to_vec()).0.to_vec();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let asked = n
                .ledger
                .get_receipt(v1::GetReceiptRequest {
                    tx_hash: hash.clone(),
                })
                .await;
            match asked {
                Err(s) if s.code() == Code::NotFound && s.message().contains("in the mempool") => {
                    break
                }
                other => {
                    if Instant::now() > deadline {
                        bail!("the waiting transaction was never admitted: {other:?}");
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        }
    }
    let started = Instant::now();
    let stopping = tokio::spawn(n.handle.shutdown());
    let r = tokio::time::timeout(Duration::from_secs(10), waiting).await??;
    expect_code(r, Code::Unavailable, "shutting down")?;
    let next = tokio::time::timeout(Duration::from_secs(10), blocks.message()).await?;
    expect_code(next, Code::Unavailable, "shutting down")?;
    // The stream answers its transaction (not committed), then ends: it was not half-closed.
    let answer = tokio::time::timeout(Duration::from_secs(10), stream.message())
        .await??
        .context("an answer")?;
    match answer.outcome {
        Some(v1::submit_stream_response::Outcome::Refused(r))
            if r.code == Code::Unavailable as i32 && r.message.contains("was not committed") => {}
        other => bail!("expected UNAVAILABLE for the streamed transaction, got {other:?}"),
    }
    let end = tokio::time::timeout(Duration::from_secs(10), stream.message()).await?;
    expect_code(end, Code::Unavailable, "shutting down")?;
    drop(to_stream);
    tokio::time::timeout(Duration::from_secs(10), stopping).await???;
    assert!(started.elapsed() < Duration::from_secs(10));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriptions_per_connection_and_per_node_are_capped() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let mut config = NodeConfig::dev(dir.path());
    config.listen = "127.0.0.1:0".parse()?;
    config.max_subscriptions_per_connection = 2;
    config.max_subscriptions = 3;
    let handle = start(config, dev_genesis()).await?;
    let url = format!("http://{}", handle.local_addr);
    let mut one = LedgerClient::new(Channel::from_shared(url.clone())?.connect().await?);
    let from0 = || v1::StreamBlocksRequest { from_height: 0 };
    let a = one.stream_blocks(from0()).await?;
    let b = one.stream_blocks(from0()).await?;
    expect_code(
        one.stream_blocks(from0()).await,
        Code::ResourceExhausted,
        "max_subscriptions_per_connection",
    )?;
    let mut two = LedgerClient::new(Channel::from_shared(url.clone())?.connect().await?);
    let c = two.stream_blocks(from0()).await?;
    expect_code(
        two.stream_blocks(from0()).await,
        Code::ResourceExhausted,
        "max_subscriptions",
    )?;
    // A closed subscription gives its place back (its feeder notices the client went away).
    drop(a);
    let deadline = Instant::now() + Duration::from_secs(10);
    let d = loop {
        match one.stream_blocks(from0()).await {
            Ok(d) => break d,
            Err(s) if s.code() == Code::ResourceExhausted && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(s) => bail!("the place never came back: {s}"),
        }
    };
    drop((b, c, d));
    handle.shutdown().await?;
    Ok(())
}

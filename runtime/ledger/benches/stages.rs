//! Per-stage costs of the block pipeline, per transaction, on the dev genesis with the real
//! system contracts: signature check, tx decode + checks, block execution (KRW transfers), state
//! commit + root update, block log append + fsync. `hanok bench` measures the whole pipeline
//! over gRPC; these figures say where its time goes (docs/PERFORMANCE.md).
//!
//! `cargo bench -p hanok-ledger --bench stages`

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use hanok_chain::{Chain, Proposal};
use hanok_ledger::dev::{dev_genesis, DevKeys, SystemContracts, DEV_CHAIN_ID};
use hanok_proto::v1;
use hanok_storage::{BlockLog, IndexWrite, StateStore};
use hanok_types::{sign_body, Address, CheckedTx, Hash, SecretKey, TxLimits};
use hanok_vm::{Vm, VmConfig};
use std::collections::BTreeMap;
use std::hint::black_box;

/// Transactions per block in the block-level benches.
const BLOCK: usize = 500;

struct Setup {
    _dir: tempfile::TempDir,
    chain: Chain,
    proposer: SecretKey,
    buyer: SecretKey,
    seller: Address,
    krw: Address,
    time: u64,
}

fn check(tx: v1::SignedTx) -> CheckedTx {
    CheckedTx::check_signed(tx, DEV_CHAIN_ID, &TxLimits::default()).expect("a valid tx")
}

fn commit(chain: &mut Chain, txs: Vec<CheckedTx>, time: u64, proposer: &SecretKey) {
    let p = chain.propose(txs, time, proposer).expect("propose");
    assert!(
        p.output()
            .receipts
            .iter()
            .all(|r| r.status == hanok_chain::TxStatus::Ok),
        "setup tx failed"
    );
    chain.commit_proposal(p).expect("commit");
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().expect("tempdir");
    let g = dev_genesis();
    let vm = Vm::new(VmConfig {
        cache_dir: Some(dir.path().join("module-cache")),
        ..VmConfig::default()
    })
    .expect("vm");
    let time = g.genesis.time;
    let auth = g.genesis.authority.address();
    let (mut chain, _) =
        Chain::open(dir.path().join("chain"), g.genesis, vm, g.chain).expect("chain");
    let boot = g.bootstrap.into_iter().map(check).collect();
    commit(&mut chain, boot, time, &g.proposer);
    let keys = DevKeys::new();
    let key = |n: &str| keys.get(n).expect("dev key").key.clone();
    let krw = SystemContracts::of(&auth).krw;
    let buyer = key("buyer");
    let mint = transfer_body(&key("bank-b"), 0, krw, &{
        serde_json::json!({"mint": {"to": buyer.address(), "amount": "1000000000000"}})
    });
    commit(&mut chain, vec![check(mint)], time, &g.proposer);
    Setup {
        _dir: dir,
        chain,
        proposer: g.proposer,
        seller: key("seller").address(),
        buyer,
        krw,
        time,
    }
}

fn transfer_body(
    key: &SecretKey,
    nonce: u64,
    contract: Address,
    msg: &serde_json::Value,
) -> v1::SignedTx {
    let body = v1::TxBody {
        chain_id: DEV_CHAIN_ID.into(),
        sender: key.address().0.to_vec(),
        sender_pubkey: key.public_key().to_bytes().to_vec(),
        nonce,
        expiry_height: u64::MAX,
        gas_limit: 2_000_000,
        calls: vec![v1::Call {
            kind: Some(v1::call::Kind::Execute(v1::Execute {
                contract: contract.0.to_vec(),
                msg: msg.to_string().into_bytes(),
            })),
        }],
        memo: String::new(),
    };
    sign_body(key, &body)
}

impl Setup {
    /// `BLOCK` signed KRW transfers buyer → seller from the buyer's next nonce.
    fn transfers(&self) -> Vec<CheckedTx> {
        let next = self.chain.next_nonce(&self.buyer.address()).expect("nonce");
        let msg = serde_json::json!({"transfer": {"to": self.seller, "amount": "1"}});
        (0..BLOCK as u64)
            .map(|i| check(transfer_body(&self.buyer, next + i, self.krw, &msg)))
            .collect()
    }

    fn propose(&self, txs: Vec<CheckedTx>) -> Proposal {
        self.chain
            .propose(txs, self.time, &self.proposer)
            .expect("propose")
    }
}

fn signatures(c: &mut Criterion) {
    let key = SecretKey::from_seed(b"bench");
    let signed = transfer_body(
        &key,
        0,
        Address([7; 20]),
        &serde_json::json!({"transfer": {"to": Address([8; 20]), "amount": "1"}}),
    );
    let h = Hash::sha256(&signed.body);
    let pk = key.public_key();
    let mut g = c.benchmark_group("tx");
    g.throughput(Throughput::Elements(1));
    g.bench_function("k256 verify (prehashed, low-S)", |b| {
        b.iter(|| black_box(pk.verify_prehash(&h, &signed.signature)))
    });
    g.bench_function("check_signed: decode + chain id + key + verify", |b| {
        b.iter_batched(
            || signed.clone(),
            |t| {
                black_box(CheckedTx::check_signed(
                    t,
                    DEV_CHAIN_ID,
                    &TxLimits::default(),
                ))
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

fn blocks(c: &mut Criterion) {
    let s = std::cell::RefCell::new(setup());
    let mut g = c.benchmark_group("block");
    g.sample_size(10);
    g.throughput(Throughput::Elements(BLOCK as u64));
    let txs = s.borrow().transfers();
    g.bench_function("execute 500 KRW transfers (propose, no commit)", |b| {
        b.iter(|| black_box(s.borrow().propose(txs.clone())))
    });
    g.bench_function(
        "commit 500 KRW transfers (log + fsync, state, root, indexes)",
        |b| {
            b.iter_batched(
                || {
                    let s = s.borrow();
                    s.propose(s.transfers())
                },
                |p| black_box(s.borrow_mut().chain.commit_proposal(p).expect("commit")),
                BatchSize::PerIteration,
            )
        },
    );
    g.finish();
}

fn storage(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut g = c.benchmark_group("storage");
    g.sample_size(10);

    // The log: one record the size of a 500-transfer block, synced.
    let (mut log, _) = BlockLog::open(dir.path().join("blocks.log")).expect("log");
    let payload = vec![0x5a; 500 * 420];
    let mut height = 0u64;
    g.throughput(Throughput::Elements(BLOCK as u64));
    g.bench_function("log append + fsync, 210 KB (a 500-tx block)", |b| {
        b.iter(|| {
            log.append(height, &payload).expect("append");
            height += 1;
        })
    });

    // State: 3 writes per tx (nonce, two balances) over a tree of ~100k keys, + its receipt.
    let mut store = StateStore::open(dir.path().join("state")).expect("state");
    let mut n = 0u64;
    let mut h = 0u64;
    let warm = writes_for(&mut n, 100_000);
    store.commit_block(h, &warm, &[]).expect("warm");
    let index: Vec<IndexWrite> = (0..BLOCK)
        .map(|i| IndexWrite {
            index: hanok_storage::Index::Receipts,
            key: Hash::sha256(&(i as u64).to_be_bytes()).0.to_vec(),
            value: vec![0x22; 160],
        })
        .collect();
    g.bench_function("state commit: 1500 writes + root + 500 receipts", |b| {
        b.iter_batched(
            || writes_for(&mut n, BLOCK * 3),
            |w| {
                h += 1;
                black_box(store.commit_block(h, &w, &index).expect("commit"))
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

/// `count` fresh random-looking keys with 48-byte values.
fn writes_for(n: &mut u64, count: usize) -> BTreeMap<Vec<u8>, Option<Vec<u8>>> {
    (0..count)
        .map(|_| {
            *n += 1;
            let k = Hash::sha256(&n.to_be_bytes()).0.to_vec();
            (k, Some(vec![0x11; 48]))
        })
        .collect()
}

criterion_group!(benches, signatures, blocks, storage);
criterion_main!(benches);

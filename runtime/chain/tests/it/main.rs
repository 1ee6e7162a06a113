//! Block-level tests of hanok-chain on real sled, the real VM and a WAT counter contract.

use anyhow::{Context, Result};
use hanok_chain::{
    Chain, ChainConfig, ChainError, Genesis, GenesisContract, OpenReport, StorageKeyAdmission,
    TxStatus,
};
use hanok_proto::v1;
use hanok_types::{sign_body, Address, CheckedTx, SecretKey, TxLimits};
use hanok_vm::{Vm, VmConfig};
use prost::Message;
use std::sync::Arc;

const CHAIN: &str = "hanok-test-1";

/// Counter: `{` increments, `"` returns a contract error, `[` traps; query returns the count.
const COUNTER: &str = r#"(module
  (import "hanok" "input" (func $input (result i32)))
  (import "hanok" "register_read" (func $rr (param i32)))
  (import "hanok" "storage_read" (func $sr (param i32 i32) (result i32)))
  (import "hanok" "storage_write" (func $sw (param i32 i32 i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "c")
  (data (i32.const 16) "\00")
  (data (i32.const 32) "\01boom")
  (func $load (result i64)
    (if (result i64) (i32.eq (call $sr (i32.const 0) (i32.const 1)) (i32.const 8))
      (then (call $rr (i32.const 100)) (i64.load (i32.const 100)))
      (else (i64.const 0))))
  (func (export "instantiate") (result i64) (i64.const 0x1000000001))
  (func (export "query") (result i64)
    (i64.store (i32.const 100) (call $load))
    (i32.store8 (i32.const 99) (i32.const 0))
    (i64.const 0x6300000009))
  (func (export "execute") (result i64)
    (drop (call $input))
    (call $rr (i32.const 200))
    (if (i32.eq (i32.load8_u (i32.const 200)) (i32.const 34))
      (then (return (i64.const 0x2000000005))))
    (if (i32.eq (i32.load8_u (i32.const 200)) (i32.const 91)) (then unreachable))
    (i64.store (i32.const 100) (i64.add (call $load) (i64.const 1)))
    (call $sw (i32.const 0) (i32.const 1) (i32.const 100) (i32.const 8))
    (i64.const 0x1000000001)))"#;

fn authority() -> SecretKey {
    SecretKey::from_seed(b"authority")
}

fn genesis() -> Result<Genesis> {
    Ok(Genesis {
        chain_id: CHAIN.into(),
        time: 1_700_000_000,
        authority: authority().public_key(),
        contracts: vec![GenesisContract {
            label: "counter".into(),
            wasm: wat::parse_str(COUNTER)?,
            msg: b"{}".to_vec(),
        }],
    })
}

fn open(dir: &std::path::Path, config: ChainConfig) -> Result<Chain> {
    Ok(reopen(dir, config)?.0)
}

fn reopen(dir: &std::path::Path, config: ChainConfig) -> Result<(Chain, OpenReport)> {
    let vm = Vm::new(VmConfig::default())?;
    Ok(Chain::open(dir, genesis()?, vm, config)?)
}

fn tx(key: &SecretKey, nonce: u64, expiry: u64, msgs: &[&[u8]]) -> Result<CheckedTx> {
    let contract = genesis()?.contract_address("counter");
    let body = v1::TxBody {
        chain_id: CHAIN.into(),
        sender: key.address().0.to_vec(),
        sender_pubkey: key.public_key().to_bytes().to_vec(),
        nonce,
        expiry_height: expiry,
        gas_limit: 10_000_000,
        calls: msgs
            .iter()
            .map(|m| v1::Call {
                kind: Some(v1::call::Kind::Execute(v1::Execute {
                    contract: contract.0.to_vec(),
                    msg: m.to_vec(),
                })),
            })
            .collect(),
        memo: String::new(),
    };
    let raw = sign_body(key, &body).encode_to_vec();
    Ok(CheckedTx::check(&raw, CHAIN, &TxLimits::default())?)
}

fn count(chain: &Chain) -> Result<u64> {
    let data = chain.query(genesis()?.contract_address("counter"), b"{}", 1_000_000)?;
    Ok(u64::from_le_bytes(
        data.as_slice().try_into().context("8 bytes")?,
    ))
}

/// Opens a chain in `dir`, commits two blocks of one increment each from `key`, and closes it:
/// its height and state root.
fn two_increments(dir: &std::path::Path, key: &SecretKey) -> Result<(u64, hanok_types::Hash)> {
    let mut chain = open(dir, ChainConfig::default())?;
    produce(&mut chain, vec![tx(key, 0, 10, &[b"{}"])?])?;
    produce(&mut chain, vec![tx(key, 1, 10, &[b"{}"])?])?;
    Ok((chain.height(), chain.state_root()))
}

fn produce(chain: &mut Chain, txs: Vec<CheckedTx>) -> Result<hanok_chain::Committed> {
    let time = chain.last_header().time + 5;
    let p = chain.propose(txs, time, &authority())?;
    Ok(chain.commit_proposal(p)?)
}

#[test]
fn blocks_commit_deterministically_and_replay_on_a_second_node() -> Result<()> {
    let (a, b) = (tempfile::tempdir()?, tempfile::tempdir()?);
    let mut na = open(a.path(), ChainConfig::default())?;
    let mut nb = open(b.path(), ChainConfig::default())?;
    assert_eq!(na.state_root(), nb.state_root());
    let alice = SecretKey::from_seed(b"alice");
    let root0 = na.state_root();
    let c1 = produce(
        &mut na,
        vec![tx(&alice, 0, 10, &[b"{}"])?, tx(&alice, 1, 10, &[b"{}"])?],
    )?;
    assert!(c1.receipts.iter().all(|r| r.status == TxStatus::Ok));
    assert_ne!(c1.state_root, root0);
    assert_eq!(count(&na)?, 2);
    assert_eq!(na.next_nonce(&alice.address())?, 2);
    // The second node checks and re-executes the same block and reaches the same root.
    let block = na.block(1)?.context("block 1")?;
    let cb = nb.commit(block)?;
    assert_eq!(cb.state_root, c1.state_root);
    assert_eq!(cb.block_hash, c1.block_hash);
    assert_eq!(
        na.receipt(&c1.receipts[0].tx_hash)?,
        Some(c1.receipts[0].to_proto())
    );
    // A tampered block is refused.
    let p2 = na.propose(
        vec![tx(&alice, 2, 10, &[b"{}"])?],
        1_800_000_000,
        &authority(),
    )?;
    let mut bad = p2.block().clone();
    if let Some(h) = bad.header.as_mut() {
        h.gas_used += 1;
    }
    assert!(nb.commit(bad).is_err());
    Ok(())
}

/// A header commits to the state after its block: a block whose header carries another root
/// (here the root before it, as headers once did) is refused by a re-executing node, signed or
/// not, with both roots named, and nothing of it is written.
#[test]
fn a_header_commits_to_its_post_state_and_a_wrong_root_is_refused() -> Result<()> {
    let (a, b) = (tempfile::tempdir()?, tempfile::tempdir()?);
    let mut na = open(a.path(), ChainConfig::default())?;
    let mut nb = open(b.path(), ChainConfig::default())?;
    let alice = SecretKey::from_seed(b"alice");
    // Block 0 commits to the state genesis sets up.
    assert_eq!(na.last_header().state_root, na.state_root().0);
    let before = na.state_root();
    let c1 = produce(&mut na, vec![tx(&alice, 0, 10, &[b"{}"])?])?;
    assert_ne!(c1.state_root, before);
    let header = c1.block.header.clone().context("header")?;
    assert_eq!(
        header.state_root, c1.state_root.0,
        "the header names the root after it"
    );
    assert_eq!(na.last_header().state_root, na.state_root().0);

    let mut bad = c1.block.clone();
    let h = bad.header.as_mut().context("header")?;
    h.state_root = before.0.to_vec();
    bad.signature = authority()
        .sign_prehash(&hanok_chain::header_hash(h))
        .to_vec();
    let (height_b, root_b) = (nb.height(), nb.state_root());
    match nb.commit(bad) {
        Err(ChainError::Diverged(d)) => {
            assert_eq!(d.height, 1);
            assert_eq!(d.header_state_root, before.to_hex());
            assert_eq!(d.state_root, c1.state_root.to_hex());
            assert_eq!(d.receipts.len(), 1);
        }
        other => anyhow::bail!("expected Diverged, got {other:?}"),
    }
    assert_eq!((nb.height(), nb.state_root()), (height_b, root_b));
    assert!(nb.block(1)?.is_none(), "nothing reached the log");
    // The true block applies, and reaches the same root.
    let good = na.block(1)?.context("block 1")?;
    assert_eq!(nb.commit(good)?.state_root, c1.state_root);
    Ok(())
}

#[test]
fn stateful_checks_reject_without_changing_state() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let alice = SecretKey::from_seed(b"alice");
    let contract = genesis()?.contract_address("counter");
    // Only accounts with a storage key in the counter are enrolled: nobody.
    let config = ChainConfig {
        rules: hanok_chain::Rules {
            admission: Arc::new(StorageKeyAdmission::with_prefix(
                contract,
                b"enrolled/".to_vec(),
            )),
            max_block_gas: 10_000_000_000,
            membership: None,
        },
        ..ChainConfig::default()
    };
    let mut chain = open(dir.path(), config)?;
    let c = produce(&mut chain, vec![tx(&alice, 0, 10, &[b"{}"])?])?;
    assert_eq!(c.receipts[0].status, TxStatus::Rejected);
    assert!(matches!(
        c.receipts[0].rejection,
        Some(hanok_types::TxError::NotEnrolled { .. })
    ));
    drop(chain);

    let dir = tempfile::tempdir()?;
    let mut chain = open(dir.path(), ChainConfig::default())?;
    let c = produce(
        &mut chain,
        vec![tx(&alice, 5, 10, &[b"{}"])?, tx(&alice, 0, 0, &[b"{}"])?],
    )?;
    assert!(matches!(
        c.receipts[0].rejection,
        Some(hanok_types::TxError::WrongNonce {
            expected: 0,
            got: 5
        })
    ));
    assert!(matches!(
        c.receipts[1].rejection,
        Some(hanok_types::TxError::Expired { .. })
    ));
    assert_eq!(c.receipts[1].gas_used, 0);
    assert_eq!(chain.next_nonce(&alice.address())?, 0);
    assert_eq!(count(&chain)?, 0);
    Ok(())
}

#[test]
fn a_failing_call_reverts_the_whole_tx_but_uses_the_nonce() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let mut chain = open(dir.path(), ChainConfig::default())?;
    let alice = SecretKey::from_seed(b"alice");
    let c = produce(
        &mut chain,
        vec![
            tx(&alice, 0, 10, &[b"{}", b"\"fail\""])?,
            tx(&alice, 1, 10, &[b"{}", b"[]"])?,
        ],
    )?;
    assert_eq!(c.receipts[0].status, TxStatus::ContractError);
    assert_eq!(c.receipts[0].failed_call, Some(1));
    assert_eq!(c.receipts[0].gas_used, 10_000_000);
    assert!(c.receipts[0].events.is_empty());
    assert_eq!(c.receipts[1].status, TxStatus::VmError);
    assert_eq!(count(&chain)?, 0);
    assert_eq!(chain.next_nonce(&alice.address())?, 2);
    Ok(())
}

#[test]
fn reopen_and_torn_tail_recover_the_last_committed_block() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let alice = SecretKey::from_seed(b"alice");
    let (height, root) = two_increments(dir.path(), &alice)?;
    let chain = open(dir.path(), ChainConfig::default())?;
    assert_eq!((chain.height(), chain.state_root()), (height, root));
    assert_eq!(count(&chain)?, 2);
    drop(chain);

    // A torn append after the last commit: half a record at the end of the log.
    let log = dir.path().join("blocks.log");
    let mut bytes = std::fs::read(&log)?;
    bytes.extend_from_slice(&[0x40, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3]);
    std::fs::write(&log, &bytes)?;
    let (chain, report) = Chain::open(
        dir.path(),
        genesis()?,
        Vm::new(VmConfig::default())?,
        ChainConfig::default(),
    )?;
    assert_eq!(report.truncated_bytes, 15);
    assert_eq!(report.torn.map(|t| t.height), Some(Some(height + 1)));
    assert_eq!((chain.height(), chain.state_root()), (height, root));
    assert_eq!(count(&chain)?, 2);
    drop(chain);

    // The log lost: the state store is ahead of it, so the node refuses to start.
    std::fs::remove_file(&log)?;
    let err = Chain::open(
        dir.path(),
        genesis()?,
        Vm::new(VmConfig::default())?,
        ChainConfig::default(),
    );
    assert!(matches!(
        err,
        Err(hanok_chain::ChainError::StateAheadOfLog(_))
    ));
    Ok(())
}

#[test]
fn a_state_store_in_the_old_tree_format_is_rebuilt_from_the_log() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let alice = SecretKey::from_seed(b"alice");
    let (height, root) = two_increments(dir.path(), &alice)?;
    {
        // What the binary-record format left: a root, but no root reference.
        // sled drops its directory lock from a background thread: retry briefly.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let db = loop {
            match sled::open(dir.path().join("state")) {
                Ok(db) => break db,
                Err(_) if std::time::Instant::now() < deadline => std::thread::yield_now(),
                Err(e) => return Err(e.into()),
            }
        };
        db.open_tree("state")?.remove(b"mtop")?;
        db.flush()?;
    }
    let (chain, report) = reopen(dir.path(), ChainConfig::default())?;
    let rebuilt = report.rebuilt.context("rebuilt")?;
    assert_eq!(
        rebuilt.moved_to, None,
        "an older layout is deleted, not kept"
    );
    assert_eq!(
        report.replayed,
        height + 1,
        "genesis and every block replayed"
    );
    assert_eq!((chain.height(), chain.state_root()), (height, root));
    assert_eq!(count(&chain)?, 2);
    assert_eq!(chain.next_nonce(&alice.address())?, 2);
    drop(chain);
    let (_, again) = reopen(dir.path(), ChainConfig::default())?;
    assert!(again.rebuilt.is_none() && again.replayed == 0);
    Ok(())
}

#[test]
fn a_logged_but_unapplied_block_is_replayed_on_open() -> Result<()> {
    let (a, b) = (tempfile::tempdir()?, tempfile::tempdir()?);
    let alice = SecretKey::from_seed(b"alice");
    let mut na = open(a.path(), ChainConfig::default())?;
    let c = produce(&mut na, vec![tx(&alice, 0, 10, &[b"{}"])?])?;
    let block = na.block(1)?.context("block 1")?;
    // Node b has only genesis applied; simulate a crash after its log append of block 1.
    drop(open(b.path(), ChainConfig::default())?);
    {
        let (mut log, _) = hanok_storage::BlockLog::open(b.path().join("blocks.log"))?;
        log.append(1, &block.encode_to_vec())?;
    }
    let (nb, report) = Chain::open(
        b.path(),
        genesis()?,
        Vm::new(VmConfig::default())?,
        ChainConfig::default(),
    )?;
    assert_eq!(report.replayed, 1);
    assert_eq!(nb.state_root(), c.state_root);
    let _: Address = alice.address();
    Ok(())
}

/// `Chain::open` with its own error type, to match on.
fn try_open(
    dir: &std::path::Path,
) -> Result<std::result::Result<(Chain, OpenReport), hanok_chain::ChainError>> {
    let vm = Vm::new(VmConfig::default())?;
    Ok(Chain::open(dir, genesis()?, vm, ChainConfig::default()))
}

/// The log file's bytes and the byte offset where its last record starts.
fn log_and_last_record(dir: &std::path::Path) -> Result<(Vec<u8>, usize)> {
    let (log, _) = hanok_storage::BlockLog::open(dir.join("blocks.log"))?;
    let last = log.last_height().context("empty log")?;
    let (start, _) = log.record_span(last).context("span")?;
    drop(log);
    Ok((
        std::fs::read(dir.join("blocks.log"))?,
        usize::try_from(start)?,
    ))
}

#[test]
fn a_torn_last_record_the_state_applied_is_refused_and_left_in_place() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let alice = SecretKey::from_seed(b"alice");
    let (height, _) = two_increments(dir.path(), &alice)?;
    let (bytes, last) = log_and_last_record(dir.path())?;
    // The state applied block `height` (flushed when the chain closed); its record loses its end.
    let cut = &bytes[..(last + bytes.len()) / 2];
    std::fs::write(dir.path().join("blocks.log"), cut)?;
    let err = try_open(dir.path())?.err().context("opened")?;
    let msg = err.to_string();
    assert!(
        matches!(&err, hanok_chain::ChainError::StateAheadOfLog(a)
            if a.applied == height && a.log_last == Some(height - 1) && a.torn.is_some()),
        "{msg}"
    );
    assert!(msg.contains(&format!("has lost block {height},")), "{msg}");
    assert_eq!(
        std::fs::read(dir.path().join("blocks.log"))?,
        cut,
        "the log was changed"
    );
    Ok(())
}

#[test]
fn a_damaged_log_record_is_refused_before_anything_changes() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let alice = SecretKey::from_seed(b"alice");
    let (height, root) = two_increments(dir.path(), &alice)?;
    let (bytes, last) = log_and_last_record(dir.path())?;
    let mut flipped = bytes.clone();
    flipped[(last + bytes.len()) / 2] ^= 0x10;
    std::fs::write(dir.path().join("blocks.log"), &flipped)?;
    let err = try_open(dir.path())?.err().context("opened")?;
    assert!(
        matches!(
            &err,
            hanok_chain::ChainError::Store(hanok_storage::Error::DamagedRecord { height: Some(h), .. })
                if *h == height
        ),
        "{err}"
    );
    assert_eq!(std::fs::read(dir.path().join("blocks.log"))?, flipped);
    // Restored from a copy, the record is whole and the chain opens where it was.
    std::fs::write(dir.path().join("blocks.log"), &bytes)?;
    let (chain, report) = reopen(dir.path(), ChainConfig::default())?;
    assert_eq!((chain.height(), chain.state_root()), (height, root));
    assert_eq!((report.truncated_bytes, report.replayed), (0, 0));
    Ok(())
}

#[test]
fn a_damaged_state_store_is_moved_aside_and_rebuilt() -> Result<()> {
    use std::os::unix::fs::FileExt;
    let dir = tempfile::tempdir()?;
    let alice = SecretKey::from_seed(b"alice");
    let (height, root) = two_increments(dir.path(), &alice)?;
    // Wait until sled's background thread let go of the closed store, then garble it.
    drop(reopen_settled(dir.path())?);
    std::thread::sleep(std::time::Duration::from_millis(100));
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(dir.path().join("state").join("db"))?;
    f.write_all_at(&[0xab; 4096], 0)?;
    drop(f);
    let (chain, report) = reopen(dir.path(), ChainConfig::default())?;
    let rebuilt = report.rebuilt.context("not rebuilt")?;
    let moved = rebuilt.moved_to.context("not moved aside")?;
    assert!(moved.join("db").exists(), "{}", moved.display());
    assert!(
        moved
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("state.damaged-")),
        "{}",
        moved.display()
    );
    assert!(rebuilt.reason.contains("damaged"), "{}", rebuilt.reason);
    assert_eq!(report.replayed, height + 1);
    assert_eq!((chain.height(), chain.state_root()), (height, root));
    assert_eq!(count(&chain)?, 2);
    Ok(())
}

/// Reopens, retrying while sled still holds the lock of a store closed a moment ago.
fn reopen_settled(dir: &std::path::Path) -> Result<Chain> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        match reopen(dir, ChainConfig::default()) {
            Ok((c, _)) => return Ok(c),
            Err(_) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(20))
            }
            Err(e) => return Err(e),
        }
    }
}

#[test]
fn a_state_store_built_from_another_block_is_refused() -> Result<()> {
    let (a, b) = (tempfile::tempdir()?, tempfile::tempdir()?);
    let (alice, bob) = (SecretKey::from_seed(b"alice"), SecretKey::from_seed(b"bob"));
    let mut na = open(a.path(), ChainConfig::default())?;
    produce(&mut na, vec![tx(&alice, 0, 10, &[b"{}"])?])?;
    drop(na);
    let mut nb = open(b.path(), ChainConfig::default())?;
    produce(&mut nb, vec![tx(&bob, 0, 10, &[b"{}"])?])?;
    drop(nb);
    // b's state applied its own block 1; give it a's log, whose block 1 differs.
    std::fs::copy(a.path().join("blocks.log"), b.path().join("blocks.log"))?;
    let err = try_open(b.path())?.err().context("opened")?;
    assert!(
        matches!(
            err,
            hanok_chain::ChainError::StateMismatch { height: 1, .. }
        ),
        "{err}"
    );
    Ok(())
}

/// A signed transaction of `key` calling the consortium's membership address with `msg`.
fn member_tx(key: &SecretKey, nonce: u64, msg: &str) -> Result<CheckedTx> {
    let body = v1::TxBody {
        chain_id: CHAIN.into(),
        sender: key.address().0.to_vec(),
        sender_pubkey: key.public_key().to_bytes().to_vec(),
        nonce,
        expiry_height: 100,
        gas_limit: 10_000_000,
        calls: vec![v1::Call {
            kind: Some(v1::call::Kind::Execute(v1::Execute {
                contract: hanok_chain::members::CONSORTIUM_ADDRESS.0.to_vec(),
                msg: msg.as_bytes().to_vec(),
            })),
        }],
        memo: String::new(),
    };
    let raw = sign_body(key, &body).encode_to_vec();
    Ok(CheckedTx::check(&raw, CHAIN, &TxLimits::default())?)
}

fn add_member_msg(id: u64, name: &str, node: &SecretKey) -> String {
    format!(
        r#"{{"add_member": {{"id": {id}, "name": "{name}", "addr": "127.0.0.1:7304", "node_key": "{}"}}}}"#,
        node.public_key().did()
    )
}

#[test]
fn the_authority_adds_a_member_whose_node_key_then_signs_blocks() -> Result<()> {
    let config = ChainConfig {
        proposers: Some(vec![authority().public_key()]),
        ..ChainConfig::default()
    };
    let (a, b) = (tempfile::tempdir()?, tempfile::tempdir()?);
    let mut na = open(a.path(), config.clone())?;
    let mut nb = open(b.path(), config)?;
    let newcomer = SecretKey::from_seed(b"bank-c node");
    let alice = SecretKey::from_seed(b"alice");

    // Before it is a member, a block its node key signs is refused everywhere.
    let early = na.propose(Vec::new(), na.last_header().time + 1, &newcomer)?;
    match nb.commit(early.block().clone()) {
        Err(ChainError::InvalidBlock { reason, .. }) => {
            anyhow::ensure!(reason.contains("neither a genesis proposer"), "{reason}");
        }
        other => anyhow::bail!("expected InvalidBlock, got {other:?}"),
    }

    let c = produce(
        &mut na,
        vec![
            member_tx(&alice, 0, &add_member_msg(4, "bank-c", &newcomer))?,
            member_tx(&authority(), 0, &add_member_msg(4, "bank-c", &authority()))?,
            member_tx(&authority(), 1, r#"{"remove_member": {"id": 1}}"#)?,
            member_tx(&authority(), 2, &add_member_msg(4, "bank-c", &newcomer))?,
            member_tx(&authority(), 3, &add_member_msg(5, "bank-c", &alice))?,
        ],
    )?;
    let outcome: Vec<(TxStatus, String)> = c
        .receipts
        .iter()
        .map(|r| (r.status, r.error.clone().unwrap_or_default()))
        .collect();
    let refused = |i: usize, words: &str| {
        outcome[i].0 == TxStatus::ContractError && outcome[i].1.contains(words)
    };
    assert!(refused(0, "only the genesis authority"), "{outcome:?}");
    assert!(refused(1, "founding member"), "{outcome:?}");
    assert!(refused(2, "add_member"), "{outcome:?}");
    assert_eq!(outcome[3].0, TxStatus::Ok, "{outcome:?}");
    assert!(refused(4, "already added"), "{outcome:?}");
    let added = &c.receipts[3].events[0];
    assert_eq!(added.ty, "member_added");
    assert_eq!(added.attr("name"), Some("bank-c"));
    assert_eq!(
        added.attr("node_key"),
        Some(newcomer.public_key().did().as_str())
    );

    // Every node re-executes the change to the same state, and records the same member.
    let block1 = na.block(1)?.context("block 1")?;
    assert_eq!(nb.commit(block1)?.state_root, na.state_root());
    let members = hanok_chain::members::members(nb.backend().as_ref())?;
    assert_eq!(members.len(), 1);
    assert_eq!(
        (members[0].id, members[0].name.as_str(), members[0].node_key),
        (4, "bank-c", newcomer.public_key())
    );

    // From the next block on, the newcomer's node key signs blocks the others accept.
    let p = na.propose(
        vec![tx(&alice, 1, 100, &[b"{}"])?],
        na.last_header().time + 1,
        &newcomer,
    )?;
    na.commit_proposal(p)?;
    let block2 = na.block(2)?.context("block 2")?;
    assert_eq!(nb.commit(block2)?.state_root, na.state_root());
    assert_eq!(count(&nb)?, 1);
    Ok(())
}

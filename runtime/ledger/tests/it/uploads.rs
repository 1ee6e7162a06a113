//! Uploads off the critical path: an admitted upload is compiled while it waits in the mempool,
//! and a block from elsewhere has its uploads compiled before it executes.

use crate::{admit, body, open, World, T};
use anyhow::{ensure, Context, Result};
use hanok_proto::v1;
use hanok_types::{sign_body, Hash};
use std::time::{Duration, Instant};

fn upload(wasm: &[u8]) -> v1::Call {
    v1::Call {
        kind: Some(v1::call::Kind::Upload(v1::Upload {
            wasm: wasm.to_vec(),
        })),
    }
}

/// `wasm` with a custom section appended: the same code under another code hash.
fn variant(wasm: &[u8], tag: u8) -> Vec<u8> {
    let mut out = wasm.to_vec();
    out.extend_from_slice(&[0, 6, 4, b't', b'e', b's', b't', tag]);
    out
}

fn wait_until(what: &str, mut done: impl FnMut() -> Result<bool>) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done()? {
        ensure!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(())
}

#[test]
fn an_admitted_upload_is_compiled_before_its_block_runs() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let ledger = open(dir.path())?;
    let w = World::new();
    let key = w.keys.authority().key.clone();
    let wasm = variant(hanok_contracts::FIRST_HOME, 1);
    let code = Hash::sha256(&wasm);
    ensure!(!ledger.is_compiled(&code)?);

    let nonce = ledger.account(key.address())?.next_nonce;
    let upload_tx = sign_body(&key, &body(&key, nonce, vec![upload(&wasm)]));
    admit(&ledger, upload_tx)?;
    wait_until("the precompiler", || Ok(ledger.is_compiled(&code)?))?;
    ensure!(ledger.precompile_stats().compiled >= 1);

    let commit = ledger.produce_block(T)?.context("a block")?;
    let receipt = commit.block.receipts.first().context("a receipt")?;
    ensure!(
        receipt.status == v1::TxStatus::Ok as i32,
        "upload failed: {receipt:?}"
    );
    Ok(())
}

#[test]
fn a_block_from_elsewhere_has_its_uploads_compiled_and_applies() -> Result<()> {
    let (dir_a, dir_b) = (tempfile::tempdir()?, tempfile::tempdir()?);
    let a = open(dir_a.path())?;
    let b = open(dir_b.path())?;
    let w = World::new();
    let key = w.keys.authority().key.clone();
    let wasms: Vec<Vec<u8>> = (2..5)
        .map(|t| variant(hanok_contracts::FIRST_HOME, t))
        .collect();
    // Two transactions, one with two uploads: three modules for the follower to compile.
    let calls = vec![
        vec![upload(&wasms[0]), upload(&wasms[1])],
        vec![upload(&wasms[2])],
    ];
    let first = a.account(key.address())?.next_nonce;
    for (nonce, c) in (first..).zip(calls) {
        admit(&a, sign_body(&key, &body(&key, nonce, c)))?;
    }
    let proposal = a.propose_block(T)?.context("a proposal")?;
    let block = proposal.block().clone();
    a.commit_proposal(proposal)?;

    for wasm in &wasms {
        ensure!(!b.is_compiled(&Hash::sha256(wasm))?, "b never saw it");
    }
    let commit = b.apply_block(block)?;
    ensure!(commit
        .block
        .receipts
        .iter()
        .all(|r| r.status == v1::TxStatus::Ok as i32));
    for wasm in &wasms {
        ensure!(b.is_compiled(&Hash::sha256(wasm))?);
    }
    ensure!(a.status()? == b.status()?, "both ledgers agree");
    Ok(())
}

//! The ledger core on its own, without a network: admission, block production, dry runs and
//! the consensus seam (a block proposed by one ledger applied by another), on real sled, the
//! real VM and the real system contracts of the dev genesis.

use anyhow::{bail, Context, Result};
use hanok_ledger::dev::{dev_genesis, DevKeys, SystemContracts, DEV_CHAIN_ID, GENESIS_TIME};
use hanok_ledger::{Ledger, LedgerConfig, LedgerError};
use hanok_proto::v1;
use hanok_types::{sign_body, Address, Hash, SecretKey, TxError};
use prost::Message;
use serde_json::{json, Value};

/// Block time of the blocks these tests produce: fixed, so two ledgers agree byte for byte.
const T: u64 = GENESIS_TIME + 60;

mod messages;
mod uploads;

fn open(dir: &std::path::Path) -> Result<Ledger> {
    Ok(Ledger::open(LedgerConfig::new(dir), dev_genesis())?.0)
}

fn call(contract: Address, msg: &Value) -> v1::Call {
    v1::Call {
        kind: Some(v1::call::Kind::Execute(v1::Execute {
            contract: contract.0.to_vec(),
            msg: msg.to_string().into_bytes(),
        })),
    }
}

fn body(key: &SecretKey, nonce: u64, calls: Vec<v1::Call>) -> v1::TxBody {
    v1::TxBody {
        chain_id: DEV_CHAIN_ID.into(),
        sender: key.address().0.to_vec(),
        sender_pubkey: key.public_key().to_bytes().to_vec(),
        nonce,
        expiry_height: 1_000,
        gas_limit: 50_000_000,
        calls,
        memo: String::new(),
    }
}

struct World {
    keys: DevKeys,
    sys: SystemContracts,
}

impl World {
    fn new() -> World {
        let keys = DevKeys::new();
        let sys = SystemContracts::of(&keys.authority().address);
        World { keys, sys }
    }

    fn key(&self, name: &str) -> Result<SecretKey> {
        Ok(self.keys.get(name).context("dev account")?.key.clone())
    }

    /// Bank B mints `amount` to the buyer, with `nonce`.
    fn mint(&self, nonce: u64, amount: u64) -> Result<v1::SignedTx> {
        let buyer = self.key("buyer")?.address();
        let msg = json!({"mint": {"to": buyer, "amount": amount.to_string()}});
        Ok(sign_body(
            &self.key("bank-b")?,
            &body(&self.key("bank-b")?, nonce, vec![call(self.sys.krw, &msg)]),
        ))
    }
}

fn admit(ledger: &Ledger, signed: v1::SignedTx) -> Result<Hash, LedgerError> {
    let checked = ledger.check(signed)?;
    ledger.admit(checked)
}

#[test]
fn admitted_txs_become_a_block_with_receipts() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let ledger = open(dir.path())?;
    let w = World::new();
    let start = ledger.height()?;
    let a = admit(&ledger, w.mint(0, 5)?)?;
    let b = admit(&ledger, w.mint(1, 7)?)?;
    assert!(ledger.is_pending(&a) && ledger.has_ready());

    let commit = ledger.produce_block(T)?.context("a block")?;
    assert_eq!(commit.block.height(), start + 1);
    assert_eq!(commit.block.receipts.len(), 2);
    assert!(commit.evicted.is_empty());
    assert!(
        ledger.produce_block(T)?.is_none(),
        "nothing left to produce"
    );
    for h in [a, b] {
        assert_eq!(ledger.receipt(h)?.status, v1::TxStatus::Ok as i32);
        let (_, height, _) = ledger.transaction(h)?;
        assert_eq!(height, start + 1);
    }
    let buyer = w.key("buyer")?.address();
    let (answer, _) = ledger.query(
        w.sys.krw,
        json!({"balance": {"address": buyer}})
            .to_string()
            .as_bytes(),
    )?;
    let v: Value = serde_json::from_slice(&answer)?;
    assert_eq!(v["balance"], "12");
    Ok(())
}

#[test]
fn admission_refuses_what_a_block_would_reject() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let ledger = open(dir.path())?;
    let w = World::new();
    let first = w.mint(0, 5)?;
    admit(&ledger, first.clone())?;
    ledger.produce_block(T)?.context("a block")?;

    // Committed already.
    match admit(&ledger, first) {
        Err(LedgerError::AlreadyCommitted { .. }) => {}
        other => bail!("expected AlreadyCommitted, got {other:?}"),
    }
    // Not enrolled.
    let stranger = SecretKey::from_seed(b"ledger-test/stranger");
    let signed = sign_body(
        &stranger,
        &body(&stranger, 0, vec![call(w.sys.krw, &json!({"supply": {}}))]),
    );
    match admit(&ledger, signed) {
        Err(LedgerError::Tx(TxError::NotEnrolled { .. })) => {}
        other => bail!("expected NotEnrolled, got {other:?}"),
    }
    // Expired.
    let bank = w.key("bank-b")?;
    let mut b = body(&bank, 1, vec![call(w.sys.krw, &json!({"supply": {}}))]);
    b.expiry_height = 1;
    match admit(&ledger, sign_body(&bank, &b)) {
        Err(LedgerError::Tx(TxError::Expired { .. })) => {}
        other => bail!("expected Expired, got {other:?}"),
    }
    // A used nonce.
    match admit(&ledger, w.mint(0, 9)?) {
        Err(LedgerError::Mempool(_)) => {}
        other => bail!("expected a mempool refusal, got {other:?}"),
    }
    // A bad signature never reaches the mempool.
    let mut bad = w.mint(1, 9)?;
    bad.signature[5] ^= 1;
    assert!(matches!(ledger.check(bad), Err(LedgerError::Tx(_))));
    assert_eq!(ledger.mempool_len(), 0);
    Ok(())
}

#[test]
fn a_dry_run_commits_nothing_signed_or_not() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let ledger = open(dir.path())?;
    let w = World::new();
    let before = ledger.status()?;

    let signed = ledger.simulate(w.mint(0, 5)?, T)?;
    assert_eq!(signed.receipt.status, v1::TxStatus::Ok as i32);
    assert!(!signed.diff.is_empty());

    // Unsigned: the same calls as the sender, no signature.
    let mut unsigned = w.mint(0, 5)?;
    unsigned.signature.clear();
    let dry = ledger.simulate(unsigned, T)?;
    assert_eq!(dry.receipt.status, v1::TxStatus::Ok as i32);
    // The same contract writes, but no nonce: the unsigned run has no stateful part.
    assert_eq!(dry.diff.len() + 1, signed.diff.len());

    // A failing call is charged its whole gas limit and writes nothing.
    let bank = w.key("bank-b")?;
    let mut b = body(
        &bank,
        0,
        vec![call(w.sys.krw, &json!({"burn": {"amount": "1"}}))],
    );
    b.gas_limit = 3_000_000;
    let failed = ledger.simulate(
        v1::SignedTx {
            body: b.encode_to_vec(),
            signature: Vec::new(),
        },
        T,
    )?;
    assert_eq!(failed.receipt.status, v1::TxStatus::ContractError as i32);
    assert_eq!(failed.receipt.gas_used, 3_000_000);
    assert!(failed.diff.is_empty());

    assert_eq!(ledger.status()?, before, "nothing committed");
    Ok(())
}

#[test]
fn a_block_proposed_by_one_ledger_applies_on_another() -> Result<()> {
    let (dir_a, dir_b) = (tempfile::tempdir()?, tempfile::tempdir()?);
    let a = open(dir_a.path())?;
    let b = open(dir_b.path())?;
    assert_eq!(a.status()?, b.status()?, "same genesis, same start");
    let w = World::new();
    admit(&a, w.mint(0, 5)?)?;
    admit(&a, w.mint(1, 6)?)?;
    let proposal = a.propose_block(T)?.context("a proposal")?;
    let block = proposal.block().clone();
    a.commit_proposal(proposal)?;

    // A block whose transaction was altered is refused and changes nothing.
    let mut altered = block.clone();
    altered.txs[0].body[10] ^= 1;
    assert!(b.apply_block(altered).is_err());
    assert_eq!(b.height()?, a.height()? - 1);

    // A block whose header claims other results, even correctly signed by the proposer, is
    // refused: the follower re-executes and compares, and halts: it never applies a block it
    // cannot reproduce, nor anything after it.
    let dir_c = tempfile::tempdir()?;
    let c = open(dir_c.path())?;
    let mut lying = block.clone();
    let header = lying.header.as_mut().context("header")?;
    header.gas_used += 1;
    lying.signature = w
        .keys
        .authority()
        .key
        .sign_prehash(&hanok_chain::header_hash(header))
        .to_vec();
    match c.apply_block(lying) {
        Err(LedgerError::Chain(hanok_chain::ChainError::Diverged(d))) => {
            assert_eq!(d.header_gas_used, d.gas_used + 1, "{d}");
            assert_eq!(d.header_state_root, d.state_root, "{d}");
        }
        other => bail!("expected a re-execution mismatch, got {other:?}"),
    }
    assert!(c.halted().is_some(), "a ledger that diverged must halt");
    assert_eq!(
        c.height()?,
        a.height()? - 1,
        "nothing of the lying block was applied"
    );

    // The block itself applies, and both ledgers agree byte for byte.
    let commit = b.apply_block(block)?;
    assert_eq!(commit.block.receipts.len(), 2);
    assert_eq!(a.status()?, b.status()?);
    Ok(())
}

#[test]
fn a_closed_ledger_answers_closed_and_frees_its_directory() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let ledger = open(dir.path())?;
    ledger.close();
    assert!(matches!(ledger.status(), Err(LedgerError::Closed)));
    // The sled lock is released: the same directory opens again at once.
    let again = open(dir.path())?;
    assert!(again.height()? >= 1);
    Ok(())
}

#[test]
fn only_deployers_add_code_and_a_revoked_one_is_rejected_in_its_block() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let ledger = open(dir.path())?;
    let w = World::new();
    let broker = w.key("broker")?;
    let authority = w.key("authority")?;
    let upload = |key: &SecretKey, nonce: u64| {
        let calls = vec![v1::Call {
            kind: Some(v1::call::Kind::Upload(v1::Upload {
                wasm: hanok_contracts::FIRST_HOME.to_vec(),
            })),
        }];
        sign_body(key, &body(key, nonce, calls))
    };
    let enrol_broker = |nonce: u64, roles: &[&str]| {
        let msg = json!({"enrol": {"address": broker.address(), "roles": roles}});
        sign_body(
            &authority,
            &body(&authority, nonce, vec![call(w.sys.identity, &msg)]),
        )
    };

    // An enrolled broker may send, but not add code.
    match admit(&ledger, upload(&broker, 0)) {
        Err(LedgerError::Tx(e @ TxError::NotDeployer { .. })) => {
            assert!(e.to_string().contains("`deployer` role"), "{e}")
        }
        other => bail!("expected NotDeployer, got {other:?}"),
    }
    // The authority grants `deployer` (its nonce 0 was the bootstrap block's); then it may.
    admit(&ledger, enrol_broker(1, &["broker", "deployer"]))?;
    ledger.produce_block(T)?.context("a block")?;
    let uploaded = admit(&ledger, upload(&broker, 0))?;
    ledger.produce_block(T)?.context("a block")?;
    assert_eq!(ledger.receipt(uploaded)?.status, v1::TxStatus::Ok as i32);

    // Admitted while it was a deployer, included after the authority took the role back in
    // the same block: every node rejects it the same way, and nothing changes.
    admit(&ledger, enrol_broker(2, &["broker"]))?;
    let late = admit(&ledger, upload(&broker, 1))?;
    let commit = ledger.produce_block(T)?.context("a block")?;
    let statuses: Vec<i32> = commit.block.receipts.iter().map(|r| r.status).collect();
    assert_eq!(
        statuses,
        vec![v1::TxStatus::Ok as i32, v1::TxStatus::Rejected as i32]
    );
    let receipt = ledger.receipt(late)?;
    assert!(receipt.error.contains("may not upload code"), "{receipt:?}");
    Ok(())
}

#[test]
fn the_short_road_answers_short_queries_and_hands_long_ones_back() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let ledger = open(dir.path())?;
    let w = World::new();
    let msg = json!({"supply": {}}).to_string().into_bytes();
    let full = ledger.query(w.sys.krw, &msg)?;
    let now = ledger
        .try_query_now(w.sys.krw, &msg, 1_000_000)
        .context("the chain is free and the query short")??;
    assert_eq!(now, full, "the same answer at the same height");
    // Within 10 gas no call finishes: the query is handed back for the blocking pool, where
    // it gets the whole query gas limit, rather than failing for want of gas it would have had.
    assert!(ledger.try_query_now(w.sys.krw, &msg, 10).is_none());
    // A contract's own refusal is an answer, given at once.
    let bad = json!({"no_such_query": {}}).to_string().into_bytes();
    match ledger.try_query_now(w.sys.krw, &bad, 1_000_000) {
        Some(Err(LedgerError::Call { error, .. })) => {
            assert!(error.contract_message().is_some(), "{error}")
        }
        other => bail!("expected the contract's refusal, got {other:?}"),
    }
    Ok(())
}

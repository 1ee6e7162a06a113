//! A native mock host, so contract logic can be unit-tested with `cargo test` (no wasm, no VM).
//!
//! State is thread-local (each test thread gets its own chain): storage per contract address,
//! the block height/time, captured events, and native handlers registered by address so that
//! `call`/`query` between contracts work. Semantics follow the VM closely enough for logic tests:
//! a top-level [`execute`] is a transaction (all writes and events revert on error), a nested
//! call that fails reverts only its own writes, re-entry into a contract already on the call
//! stack is refused, and writes/events/calls inside a query panic (the VM traps).
//!
//! ```
//! use hanok_sdk::{mock, Address};
//! mock::reset();
//! mock::set_block(10, 1_700_000_000);
//! assert_eq!(mock::block(), (10, 1_700_000_000));
//! ```

use crate::{ContractError, EntryPoints};
use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::cell::RefCell;
use hanok_abi::{Address, Env, Event};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// Deepest nesting of calls, as the VM bounds call depth.
const MAX_DEPTH: usize = 16;

type Store = BTreeMap<Address, BTreeMap<Vec<u8>, Vec<u8>>>;

struct Frame {
    env: Env,
    read_only: bool,
}

struct Chain {
    height: u64,
    time: u64,
    chain_id: String,
    storage: Store,
    events: Vec<(Address, Event)>,
    frames: Vec<Frame>,
    contracts: BTreeMap<Address, EntryPoints>,
}

impl Default for Chain {
    fn default() -> Self {
        Chain {
            height: 1,
            time: 1_700_000_000,
            chain_id: String::from("hanok-mock"),
            storage: Store::new(),
            events: Vec::new(),
            frames: Vec::new(),
            contracts: BTreeMap::new(),
        }
    }
}

std::thread_local! {
    static CHAIN: RefCell<Chain> = RefCell::new(Chain::default());
}

// Every borrow below is short and never spans a call into contract code, which may re-enter.
fn with<R>(f: impl FnOnce(&mut Chain) -> R) -> R {
    CHAIN.with(|c| f(&mut c.borrow_mut()))
}

/// Forgets all state, contracts and events of this thread's mock chain.
pub fn reset() {
    with(|c| *c = Chain::default());
}

/// Sets the height and time of the block that the next calls execute in.
pub fn set_block(height: u64, time: u64) {
    with(|c| {
        c.height = height;
        c.time = time;
    });
}

/// The current `(height, time)`.
pub fn block() -> (u64, u64) {
    with(|c| (c.height, c.time))
}

/// Registers a contract's native entry points (the `ENTRY_POINTS` constant that
/// [`entry_points!`](crate::entry_points) generates) at an address.
pub fn register(contract: Address, entry: EntryPoints) {
    with(|c| {
        c.contracts.insert(contract, entry);
    });
}

/// Every event emitted so far, with the emitting contract.
pub fn events() -> Vec<(Address, Event)> {
    with(|c| c.events.clone())
}

/// Returns and clears the captured events.
pub fn take_events() -> Vec<(Address, Event)> {
    with(|c| core::mem::take(&mut c.events))
}

/// A raw storage value of a contract, for tests that check the layout.
pub fn raw_get(contract: Address, key: &[u8]) -> Option<Vec<u8>> {
    with(|c| c.storage.get(&contract).and_then(|s| s.get(key).cloned()))
}

#[derive(Clone, Copy)]
enum Entry {
    Instantiate,
    Execute,
    Query,
    Migrate,
}

/// Runs an entry point as a transaction signed by `sender`: on error every write and event
/// since the start is reverted, as the VM does.
fn run_tx(contract: Address, sender: Address, entry: Entry, msg: &[u8]) -> Result<Vec<u8>, String> {
    let snapshot = with(|c| (c.storage.clone(), c.events.len()));
    let result = invoke(contract, sender, sender, entry, msg);
    if result.is_err() {
        with(|c| {
            c.storage = snapshot.0;
            c.events.truncate(snapshot.1);
        });
    }
    result
}

fn invoke(
    contract: Address,
    sender: Address,
    origin: Address,
    entry: Entry,
    msg: &[u8],
) -> Result<Vec<u8>, String> {
    let (handler, env) = with(|c| {
        let Some(eps) = c.contracts.get(&contract) else {
            return Err(format!("no contract at {contract}"));
        };
        if c.frames.iter().any(|f| f.env.contract == contract) {
            return Err(format!("re-entry into {contract} refused"));
        }
        if c.frames.len() >= MAX_DEPTH {
            return Err(String::from("call depth exceeded"));
        }
        let handler = match entry {
            Entry::Instantiate => eps.instantiate,
            Entry::Execute => eps.execute,
            Entry::Query => eps.query,
            Entry::Migrate => eps
                .migrate
                .ok_or_else(|| format!("{contract} has no migrate"))?,
        };
        let env = Env {
            height: c.height,
            time: c.time,
            chain_id: c.chain_id.clone(),
            sender,
            origin,
            contract,
        };
        let read_only =
            matches!(entry, Entry::Query) || c.frames.last().is_some_and(|f| f.read_only);
        c.frames.push(Frame {
            env: env.clone(),
            read_only,
        });
        Ok((handler, env))
    })?;
    let result = handler(&env, msg);
    with(|c| c.frames.pop());
    result
}

fn to_json<M: Serialize>(msg: &M) -> Vec<u8> {
    serde_json::to_vec(msg).unwrap_or_default()
}

/// Runs `instantiate` of a registered contract as a transaction from `sender`.
///
/// # Errors
/// The contract's error message, after reverting the transaction.
pub fn instantiate<M: Serialize>(
    contract: Address,
    sender: Address,
    msg: &M,
) -> Result<Vec<u8>, ContractError> {
    run_tx(contract, sender, Entry::Instantiate, &to_json(msg)).map_err(ContractError::from)
}

/// Runs `execute` of a registered contract as a transaction from `sender`; returns the
/// response data.
///
/// # Errors
/// The contract's error message, after reverting the transaction.
pub fn execute<M: Serialize>(
    contract: Address,
    sender: Address,
    msg: &M,
) -> Result<Vec<u8>, ContractError> {
    run_tx(contract, sender, Entry::Execute, &to_json(msg)).map_err(ContractError::from)
}

/// Runs `migrate` of a registered contract as a transaction from `sender`.
///
/// # Errors
/// The contract's error message, after reverting the transaction.
pub fn migrate<M: Serialize>(
    contract: Address,
    sender: Address,
    msg: &M,
) -> Result<Vec<u8>, ContractError> {
    run_tx(contract, sender, Entry::Migrate, &to_json(msg)).map_err(ContractError::from)
}

/// Runs `query` of a registered contract and decodes its JSON answer.
///
/// # Errors
/// The contract's error message, or a decoding error.
pub fn query<M: Serialize, R: DeserializeOwned>(
    contract: Address,
    msg: &M,
) -> Result<R, ContractError> {
    let data = invoke(
        contract,
        Address::default(),
        Address::default(),
        Entry::Query,
        &to_json(msg),
    )?;
    crate::from_json(&data)
}

/// The host functions as the SDK calls them, served from the thread-local chain.
pub(crate) mod host {
    use super::*;

    fn current<R>(f: impl FnOnce(&mut Chain, &Frame) -> R) -> R {
        with(|c| {
            let Some(frame) = c.frames.pop() else {
                panic!("hanok mock: no contract call in progress (use hanok_sdk::mock::execute)");
            };
            let r = f(c, &frame);
            c.frames.push(frame);
            r
        })
    }

    fn writable(frame: &Frame, what: &str) {
        if frame.read_only {
            panic!("hanok mock: {what} inside a query traps");
        }
    }

    pub(crate) fn env() -> Env {
        current(|_, f| f.env.clone())
    }

    pub(crate) fn read(key: &[u8]) -> Option<Vec<u8>> {
        current(|c, f| {
            c.storage
                .get(&f.env.contract)
                .and_then(|s| s.get(key).cloned())
        })
    }

    pub(crate) fn write(key: &[u8], value: &[u8]) {
        current(|c, f| {
            writable(f, "storage_write");
            c.storage
                .entry(f.env.contract)
                .or_default()
                .insert(key.to_vec(), value.to_vec());
        })
    }

    pub(crate) fn remove(key: &[u8]) {
        current(|c, f| {
            writable(f, "storage_remove");
            if let Some(s) = c.storage.get_mut(&f.env.contract) {
                s.remove(key);
            }
        })
    }

    pub(crate) fn range(start: &[u8], end: Option<&[u8]>, limit: u32) -> Vec<(Vec<u8>, Vec<u8>)> {
        current(|c, f| {
            let Some(s) = c.storage.get(&f.env.contract) else {
                return Vec::new();
            };
            let limit = usize::try_from(limit).unwrap_or(usize::MAX);
            s.range(start.to_vec()..)
                .take_while(|(k, _)| end.is_none_or(|e| k.as_slice() < e))
                .take(limit)
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
    }

    pub(crate) fn emit(event: &Event) {
        current(|c, f| {
            writable(f, "emit_event");
            c.events.push((f.env.contract, event.clone()));
        })
    }

    pub(crate) fn call(contract: &Address, msg: &[u8]) -> Result<Vec<u8>, String> {
        let (caller, origin, snapshot) = current(|c, f| {
            writable(f, "call");
            (
                f.env.contract,
                f.env.origin,
                (c.storage.clone(), c.events.len()),
            )
        });
        let result = invoke(*contract, caller, origin, Entry::Execute, msg);
        if result.is_err() {
            // Only the callee's writes (and its own callees') revert: the snapshot was taken when
            // the call started, so the caller's earlier writes are in it.
            with(|c| {
                c.storage = snapshot.0;
                c.events.truncate(snapshot.1);
            });
        }
        result
    }

    pub(crate) fn query(contract: &Address, msg: &[u8]) -> Result<Vec<u8>, String> {
        let (caller, origin) = current(|_, f| (f.env.contract, f.env.origin));
        invoke(*contract, caller, origin, Entry::Query, msg)
    }

    pub(crate) fn sha256(data: &[u8]) -> [u8; 32] {
        use sha2::Digest;
        sha2::Sha256::digest(data).into()
    }

    pub(crate) fn secp256k1_verify(hash: &[u8; 32], sig: &[u8; 64], pubkey: &[u8]) -> bool {
        use k256::ecdsa::signature::hazmat::PrehashVerifier;
        let Ok(key) = k256::ecdsa::VerifyingKey::from_sec1_bytes(pubkey) else {
            return false;
        };
        // High-S signatures are refused, as on the VM (the one rule, in abi).
        if !hanok_abi::secp256k1::is_low_s(sig) {
            return false;
        }
        let Ok(sig) = k256::ecdsa::Signature::from_slice(sig) else {
            return false;
        };
        key.verify_prehash(hash, &sig).is_ok()
    }
}

/// Runs `f` as if inside a call to `contract` from `contract` itself, e.g. to exercise storage
/// helpers directly in a test. Writes persist; nothing is reverted.
pub fn with_contract<R>(contract: Address, f: impl FnOnce() -> R) -> R {
    with(|c| {
        let env = Env {
            height: c.height,
            time: c.time,
            chain_id: c.chain_id.clone(),
            sender: contract,
            origin: contract,
            contract,
        };
        c.frames.push(Frame {
            env,
            read_only: false,
        });
    });
    let r = f();
    with(|c| c.frames.pop());
    r
}

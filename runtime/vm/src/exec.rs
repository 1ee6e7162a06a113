//! Running calls: a [`Session`] is one transaction's view of state; `run_frame` runs one entry
//! point of one contract on a fresh instance.

use crate::engine::{CodeHash, Inner, Vm};
use crate::error::{CallError, Fault, Result, StorageError, ValidationError};
use crate::host::{ContractEvent, HostCtx, HostTrap, Limiter};
use crate::state::{keys, Backend, Overlay, WriteSet};
use hanok_abi::{decode_result, exports, Address};
use sha2::{Digest, Sha256};
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;
use wasmtime::{Store, Trap};

/// The block a transaction executes in. Contracts see nothing else of the outside world.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockEnv {
    /// Block height.
    pub height: u64,
    /// Block time in unix seconds, set by the proposer.
    pub time: u64,
    /// Chain id.
    pub chain_id: String,
}

/// A contract's metadata, stored at [`keys::info`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ContractInfo {
    /// Hex sha256 of the contract's code.
    pub code_hash: String,
    /// Who instantiated it.
    pub creator: Address,
    /// The label its address was derived from.
    pub label: String,
    /// Who may migrate it, if anyone.
    pub admin: Option<Address>,
}

/// The address of the contract `creator` instantiates with `label`: predictable, so system
/// contracts can be wired to each other before they exist.
pub fn contract_address(creator: &Address, label: &str) -> Address {
    let mut h = Sha256::new();
    h.update(b"hanok/contract/v1");
    h.update(creator.0);
    h.update(label.as_bytes());
    let digest: [u8; 32] = h.finalize().into();
    let mut a = [0u8; 20];
    a.copy_from_slice(&digest[..20]);
    Address(a)
}

/// What a successful call produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The data the contract returned (JSON for the system contracts).
    pub data: Vec<u8>,
    /// Events emitted by this call and every call it made, in order.
    pub events: Vec<ContractEvent>,
    /// Gas this call used.
    pub gas_used: u64,
}

/// Everything a finished session changes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Effects {
    /// State writes, to apply atomically.
    pub writes: WriteSet,
    /// Events, in order.
    pub events: Vec<ContractEvent>,
    /// Gas used by the whole session.
    pub gas_used: u64,
}

/// Code hashes of contracts, as read from a backend's contract metadata, shared by the sessions
/// of one block so that each contract's metadata is read and parsed once per block instead of on
/// every call.
///
/// Sound only while the backend it was filled from changes in no other way than by the writes
/// that [`Session::finish`] of sessions using it hand back: `finish` drops the entry of every
/// contract whose metadata the session wrote, before those writes can reach the backend. Entries
/// are only filled from the backend, never from a session's pending writes, so a write that is
/// reverted, or a session that is dropped, leaves nothing behind; a session reads its own pending
/// metadata writes directly. `hanok-chain` uses one per executed block, over the block's pending
/// state. At most [`ContractCache::CAPACITY`] contracts are kept; further ones are read each
/// time.
///
/// Not `Send`: it lives on the thread that runs the block, as sessions do.
#[derive(Clone, Default)]
pub struct ContractCache {
    code: Rc<RefCell<HashMap<Address, CodeHash>>>,
}

impl std::fmt::Debug for ContractCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ContractCache")
            .field("contracts", &self.code.borrow().len())
            .finish()
    }
}

impl ContractCache {
    /// Most contracts one cache holds.
    pub const CAPACITY: usize = 4096;

    /// An empty cache.
    pub fn new() -> ContractCache {
        ContractCache::default()
    }

    fn get(&self, contract: &Address) -> Option<CodeHash> {
        self.code.borrow().get(contract).copied()
    }

    fn insert(&self, contract: Address, code: CodeHash) {
        let mut map = self.code.borrow_mut();
        if map.len() < Self::CAPACITY {
            map.insert(contract, code);
        }
    }

    /// Forgets every contract whose metadata key is among `writes`.
    fn forget_written(&self, writes: &WriteSet) {
        let mut map = self.code.borrow_mut();
        if map.is_empty() {
            return;
        }
        let start = [keys::CONTRACT_INFO];
        let end = [keys::CONTRACT_INFO.saturating_add(1)];
        for key in writes.range(start.to_vec()..end.to_vec()).map(|(k, _)| k) {
            if let Some(a) = key.get(1..).and_then(Address::from_slice) {
                map.remove(&a);
            }
        }
    }
}

pub(crate) struct TxState {
    pub(crate) backend: Arc<dyn Backend>,
    pub(crate) overlay: Overlay,
    pub(crate) events: Vec<ContractEvent>,
    pub(crate) stack: Vec<Address>,
    pub(crate) block: BlockEnv,
    pub(crate) origin: Address,
    /// Code hashes of contracts read from `backend`, shared with other sessions of the block.
    pub(crate) contracts: Option<ContractCache>,
}

pub(crate) struct Frame {
    pub(crate) contract: Address,
    pub(crate) sender: Address,
    pub(crate) depth: u32,
    pub(crate) read_only: bool,
    pub(crate) entry: &'static str,
    pub(crate) input: Vec<u8>,
}

fn classify(e: wasmtime::Error) -> CallError {
    if let Some(HostTrap(inner)) = e.downcast_ref::<HostTrap>() {
        return inner.clone();
    }
    if let Some(t) = e.downcast_ref::<Trap>() {
        return match t {
            Trap::OutOfFuel => Fault::OutOfGas.into(),
            Trap::StackOverflow => Fault::StackOverflow.into(),
            other => Fault::Trap(other.to_string()).into(),
        };
    }
    if e.downcast_ref::<wasmtime::PoolConcurrencyLimitError>()
        .is_some()
    {
        return Fault::Resources("too many concurrent instances".into()).into();
    }
    // Anything else comes from instantiation; keep the message free of host detail.
    Fault::Trap("instantiation failed".into()).into()
}

fn load_info(tx: &Rc<RefCell<TxState>>, contract: &Address) -> Result<ContractInfo> {
    let raw = {
        let t = tx.borrow();
        t.overlay.get(t.backend.as_ref(), &keys::info(contract))?
    };
    let raw = raw.ok_or(Fault::NoSuchContract(*contract))?;
    parse_info(&raw)
}

fn parse_info(raw: &[u8]) -> Result<ContractInfo> {
    serde_json::from_slice(raw)
        .map_err(|e| StorageError(format!("corrupt contract info: {e}")).into())
}

fn info_code_hash(info: &ContractInfo) -> Result<CodeHash> {
    CodeHash::from_hex(&info.code_hash)
        .ok_or_else(|| StorageError("corrupt code hash in contract info".into()).into())
}

/// The code hash of `contract`: what [`load_info`] and [`info_code_hash`] give, through the
/// session's [`ContractCache`] when it has one and has no pending write to the contract's
/// metadata.
fn load_code_hash(tx: &Rc<RefCell<TxState>>, contract: &Address) -> Result<CodeHash> {
    let t = tx.borrow();
    let key = keys::info(contract);
    let cache = match &t.contracts {
        Some(cache) if !t.overlay.writes().contains_key(&key) => cache,
        _ => return info_code_hash(&load_info(tx, contract)?),
    };
    if let Some(code) = cache.get(contract) {
        return Ok(code);
    }
    let raw = t
        .backend
        .get(&key)?
        .ok_or(Fault::NoSuchContract(*contract))?;
    let code = info_code_hash(&parse_info(&raw)?)?;
    cache.insert(*contract, code);
    Ok(code)
}

fn load_module(
    inner: &Arc<Inner>,
    tx: &Rc<RefCell<TxState>>,
    hash: &CodeHash,
) -> Result<Arc<wasmtime::InstancePre<HostCtx>>> {
    if let Some(pre) = inner.module(hash) {
        return Ok(pre);
    }
    // Only after the disk cache was lost: the code was validated at upload, so this compiles.
    let wasm = {
        let t = tx.borrow();
        t.overlay.get(t.backend.as_ref(), &keys::code(&hash.0))?
    };
    let wasm = wasm.ok_or_else(|| Fault::NoSuchCode(hash.to_hex()))?;
    inner.prepare(&wasm).map_err(Fault::Invalid)?;
    inner
        .cached(hash)
        .ok_or_else(|| Fault::NoSuchCode(hash.to_hex()).into())
}

/// Runs one entry point on a fresh instance with `fuel`; returns the result and the fuel left.
/// On any error the frame's writes and events are undone.
pub(crate) fn run_frame(
    inner: &Arc<Inner>,
    tx: &Rc<RefCell<TxState>>,
    frame: Frame,
    fuel: u64,
) -> (Result<Vec<u8>>, u64) {
    let (cp, events_len) = {
        let t = tx.borrow();
        (t.overlay.checkpoint(), t.events.len())
    };
    let (result, left) = run_frame_inner(inner, tx, frame, fuel);
    if result.is_err() {
        let mut t = tx.borrow_mut();
        t.overlay.revert(cp);
        t.events.truncate(events_len);
    }
    (result, left)
}

fn run_frame_inner(
    inner: &Arc<Inner>,
    tx: &Rc<RefCell<TxState>>,
    frame: Frame,
    fuel: u64,
) -> (Result<Vec<u8>>, u64) {
    if fuel < inner.gas.instantiate {
        return (Err(Fault::OutOfGas.into()), 0);
    }
    let code = match load_code_hash(tx, &frame.contract) {
        Ok(code) => code,
        Err(e) => return (Err(e), fuel),
    };
    let pre = match load_module(inner, tx, &code) {
        Ok(p) => p,
        Err(e) => return (Err(e), fuel),
    };
    let limits = &inner.limits;
    let ctx = HostCtx {
        inner: inner.clone(),
        tx: tx.clone(),
        contract: frame.contract,
        sender: frame.sender,
        depth: frame.depth,
        read_only: frame.read_only,
        input: frame.input,
        register: Vec::new(),
        memory: None,
        limiter: Limiter {
            max_memory_bytes: usize::try_from(limits.max_memory_pages.saturating_mul(65_536))
                .unwrap_or(usize::MAX),
            max_memory_pages: limits.max_memory_pages,
            max_table_elements: usize::try_from(limits.max_table_elements).unwrap_or(usize::MAX),
        },
    };
    let mut store = Store::new(&inner.engine, ctx);
    store.limiter(|c| &mut c.limiter);
    if store
        .set_fuel(fuel.saturating_sub(inner.gas.instantiate))
        .is_err()
    {
        return (
            Err(Fault::Resources("fuel is not enabled".into()).into()),
            0,
        );
    }
    let left = |s: &Store<HostCtx>| s.get_fuel().unwrap_or(0);
    let instance = match pre.instantiate(&mut store) {
        Ok(i) => i,
        Err(e) => {
            let l = left(&store);
            return (Err(classify(e)), l);
        }
    };
    let Some(memory) = instance.get_memory(&mut store, exports::MEMORY) else {
        return (
            Err(Fault::HostMisuse("contract has no exported memory".into()).into()),
            left(&store),
        );
    };
    store.data_mut().memory = Some(memory);
    let Ok(func) = instance.get_typed_func::<(), i64>(&mut store, frame.entry) else {
        return (Err(Fault::NoEntryPoint(frame.entry).into()), left(&store));
    };
    tx.borrow_mut().stack.push(frame.contract);
    let ret = func.call(&mut store, ());
    tx.borrow_mut().stack.pop();
    let fuel_left = left(&store);
    let packed = match ret {
        Ok(p) => p as u64,
        Err(e) => return (Err(classify(e)), fuel_left),
    };
    let (ptr, len) = ((packed >> 32) as usize, (packed & 0xffff_ffff) as usize);
    if len > inner.limits.max_result_bytes.saturating_add(1) {
        return (
            Err(Fault::HostMisuse(format!(
                "result of {len} bytes is above the limit of {}",
                inner.limits.max_result_bytes
            ))
            .into()),
            fuel_left,
        );
    }
    let Some(bytes) = memory.data(&store).get(ptr..ptr.saturating_add(len)) else {
        return (Err(Fault::BadResult.into()), fuel_left);
    };
    let result = match decode_result(bytes) {
        Ok(Ok(data)) => Ok(data),
        Ok(Err(message)) => Err(CallError::Contract {
            contract: frame.contract,
            message,
        }),
        Err(_) => Err(Fault::BadResult.into()),
    };
    (result, fuel_left)
}

/// One transaction's execution: calls run in order against the same pending state, and
/// [`Session::finish`] hands back the writes to commit. Dropping a session discards everything.
///
/// Each top-level call is atomic: if it fails, its writes and events are undone and the session
/// may go on (the chain still fails the whole transaction; tests may keep going).
pub struct Session {
    inner: Arc<Inner>,
    tx: Rc<RefCell<TxState>>,
    gas_limit: u64,
    gas_used: u64,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("gas_limit", &self.gas_limit)
            .field("gas_used", &self.gas_used)
            .finish()
    }
}

impl Vm {
    /// Starts a transaction's session signed by `origin` in `block`, with `gas_limit` for all of
    /// its calls.
    pub fn session(
        &self,
        backend: Arc<dyn Backend>,
        block: BlockEnv,
        origin: Address,
        gas_limit: u64,
    ) -> Session {
        Session {
            inner: self.inner.clone(),
            tx: Rc::new(RefCell::new(TxState {
                backend,
                overlay: Overlay::default(),
                events: Vec::new(),
                stack: Vec::new(),
                block,
                origin,
                contracts: None,
            })),
            gas_limit,
            gas_used: 0,
        }
    }

    /// A read-only query of `contract` against committed state.
    ///
    /// # Errors
    /// [`CallError`]: the contract's error, a fault (e.g. out of gas) or a storage failure.
    pub fn query(
        &self,
        backend: Arc<dyn Backend>,
        block: BlockEnv,
        contract: Address,
        msg: &[u8],
        gas_limit: u64,
    ) -> Result<Vec<u8>> {
        self.session(backend, block, Address::default(), gas_limit)
            .query(contract, msg)
    }
}

impl Session {
    /// Reads contract metadata through `cache`, shared with the other sessions of a block (see
    /// [`ContractCache`] for when that is sound).
    #[must_use]
    pub fn with_contract_cache(self, cache: &ContractCache) -> Session {
        self.tx.borrow_mut().contracts = Some(cache.clone());
        self
    }

    /// Gas left for further calls.
    pub fn gas_remaining(&self) -> u64 {
        self.gas_limit.saturating_sub(self.gas_used)
    }

    /// Gas used so far.
    pub fn gas_used(&self) -> u64 {
        self.gas_used
    }

    fn origin(&self) -> Address {
        self.tx.borrow().origin
    }

    fn top(
        &mut self,
        contract: Address,
        entry: &'static str,
        read_only: bool,
        msg: &[u8],
    ) -> Result<Outcome> {
        if msg.len() > self.inner.limits.max_message_bytes {
            return Err(Fault::HostMisuse(format!(
                "message of {} bytes is above the limit of {}",
                msg.len(),
                self.inner.limits.max_message_bytes
            ))
            .into());
        }
        let events_before = self.tx.borrow().events.len();
        let frame = Frame {
            contract,
            sender: self.origin(),
            depth: 1,
            read_only,
            entry,
            input: msg.to_vec(),
        };
        let fuel = self.gas_remaining();
        let (result, left) = run_frame(&self.inner, &self.tx, frame, fuel);
        let used = fuel.saturating_sub(left);
        match result {
            Ok(data) => {
                self.gas_used = self.gas_used.saturating_add(used);
                let events = self
                    .tx
                    .borrow()
                    .events
                    .get(events_before..)
                    .unwrap_or_default()
                    .to_vec();
                Ok(Outcome {
                    data,
                    events,
                    gas_used: used,
                })
            }
            Err(e) => {
                // A failed execution is charged its full gas limit (DESIGN.md), so nobody can
                // probe cheaply with calls that are meant to fail.
                self.gas_used = self.gas_limit;
                Err(e)
            }
        }
    }

    /// Stores `wasm` as code on chain after validating and compiling it.
    ///
    /// # Errors
    /// [`Fault::Invalid`] naming the limit broken; [`Fault::OutOfGas`] if storing it costs more
    /// than the gas left.
    pub fn upload(&mut self, wasm: &[u8]) -> Result<CodeHash> {
        let max = self.inner.limits.max_code_bytes;
        if wasm.len() > max {
            return Err(Fault::Invalid(ValidationError::CodeTooLarge {
                size: wasm.len(),
                limit: max,
            })
            .into());
        }
        let cost = self.inner.gas.storage_write.saturating_add(
            self.inner
                .gas
                .per_byte_written
                .saturating_mul(wasm.len() as u64),
        );
        if cost > self.gas_remaining() {
            self.gas_used = self.gas_limit;
            return Err(Fault::OutOfGas.into());
        }
        let (hash, _) = self.inner.prepare(wasm).map_err(Fault::Invalid)?;
        self.gas_used = self.gas_used.saturating_add(cost);
        self.tx
            .borrow_mut()
            .overlay
            .put(keys::code(&hash.0), Some(wasm.to_vec()));
        Ok(hash)
    }

    /// Creates a contract from uploaded code and runs its `instantiate`.
    ///
    /// # Errors
    /// A [`CallError`]; nothing of the contract remains on failure.
    pub fn instantiate(
        &mut self,
        code: CodeHash,
        label: &str,
        admin: Option<Address>,
        msg: &[u8],
    ) -> Result<(Address, Outcome)> {
        let creator = self.origin();
        let address = contract_address(&creator, label);
        {
            let t = self.tx.borrow();
            if t.overlay
                .get(t.backend.as_ref(), &keys::info(&address))?
                .is_some()
            {
                return Err(Fault::ContractExists(address).into());
            }
            if t.overlay
                .get(t.backend.as_ref(), &keys::code(&code.0))?
                .is_none()
            {
                return Err(Fault::NoSuchCode(code.to_hex()).into());
            }
        }
        let info = ContractInfo {
            code_hash: code.to_hex(),
            creator,
            label: label.to_string(),
            admin,
        };
        let info = serde_json::to_vec(&info).map_err(|e| StorageError(e.to_string()))?;
        let cp = self.tx.borrow().overlay.checkpoint();
        self.tx
            .borrow_mut()
            .overlay
            .put(keys::info(&address), Some(info));
        match self.top(address, exports::INSTANTIATE, false, msg) {
            Ok(out) => Ok((address, out)),
            Err(e) => {
                self.tx.borrow_mut().overlay.revert(cp);
                Err(e)
            }
        }
    }

    /// Runs `execute` of `contract` with a JSON message.
    ///
    /// # Errors
    /// A [`CallError`]; the call's writes are undone.
    pub fn execute(&mut self, contract: Address, msg: &[u8]) -> Result<Outcome> {
        self.top(contract, exports::EXECUTE, false, msg)
    }

    /// Runs the read-only `query` of `contract`; sees this session's pending writes.
    ///
    /// # Errors
    /// A [`CallError`].
    pub fn query(&mut self, contract: Address, msg: &[u8]) -> Result<Vec<u8>> {
        let before = self.gas_used;
        let r = self
            .top(contract, exports::QUERY, true, msg)
            .map(|o| o.data);
        // Queries are free for the session: they change nothing.
        self.gas_used = before;
        r
    }

    /// Moves `contract` to new code and runs its `migrate`; only its admin may.
    ///
    /// # Errors
    /// [`Fault::NotAdmin`], [`Fault::NoSuchCode`] or the call's error.
    pub fn migrate(&mut self, contract: Address, code: CodeHash, msg: &[u8]) -> Result<Outcome> {
        let mut info = load_info(&self.tx, &contract)?;
        if info.admin != Some(self.origin()) {
            return Err(Fault::NotAdmin(contract).into());
        }
        {
            let t = self.tx.borrow();
            if t.overlay
                .get(t.backend.as_ref(), &keys::code(&code.0))?
                .is_none()
            {
                return Err(Fault::NoSuchCode(code.to_hex()).into());
            }
        }
        info.code_hash = code.to_hex();
        let raw = serde_json::to_vec(&info).map_err(|e| StorageError(e.to_string()))?;
        let cp = self.tx.borrow().overlay.checkpoint();
        self.tx
            .borrow_mut()
            .overlay
            .put(keys::info(&contract), Some(raw));
        match self.top(contract, exports::MIGRATE, false, msg) {
            Ok(out) => Ok(out),
            Err(e) => {
                self.tx.borrow_mut().overlay.revert(cp);
                Err(e)
            }
        }
    }

    /// The pending writes so far (for a dry run's state diff).
    pub fn pending_writes(&self) -> WriteSet {
        self.tx.borrow().overlay.writes().clone()
    }

    /// Ends the session, handing back its writes and events.
    pub fn finish(self) -> Effects {
        let gas_used = self.gas_used;
        {
            let t = self.tx.borrow();
            if let Some(cache) = &t.contracts {
                cache.forget_written(t.overlay.writes());
            }
        }
        let tx = Rc::try_unwrap(self.tx).map(RefCell::into_inner);
        match tx {
            Ok(tx) => Effects {
                writes: tx.overlay.into_writes(),
                events: tx.events,
                gas_used,
            },
            // Unreachable in practice: every store holding a clone has been dropped by now.
            Err(rc) => {
                let t = rc.borrow();
                Effects {
                    writes: t.overlay.writes().clone(),
                    events: t.events.clone(),
                    gas_used,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MemBackend, VmConfig};

    /// A contract whose `execute` returns the single byte `tag`, and whose `migrate` succeeds
    /// or fails with a contract error.
    fn tagged(tag: char, migrate_ok: bool) -> Vec<u8> {
        let migrate = if migrate_ok {
            "(i64.const 1)"
        } else {
            "(i64.or (i64.shl (i64.const 16) (i64.const 32)) (i64.const 3))"
        };
        let wat = format!(
            r#"(module
  (memory (export "memory") 1)
  (data (i32.const 0) "\00{tag}")
  (data (i32.const 16) "\01no")
  (func (export "instantiate") (result i64) (i64.const 1))
  (func (export "query") (result i64) (i64.const 2))
  (func (export "execute") (result i64) (i64.const 2))
  (func (export "migrate") (result i64) {migrate}))"#
        );
        wat::parse_str(wat).expect("wat")
    }

    fn block() -> BlockEnv {
        BlockEnv {
            height: 1,
            time: 1_800_000_000,
            chain_id: "hanok-test".into(),
        }
    }

    const ORIGIN: Address = Address([0xa1; 20]);

    struct Block {
        vm: Vm,
        state: Arc<MemBackend>,
        cache: ContractCache,
    }

    impl Block {
        fn session(&self, cached: bool) -> Session {
            let s = self
                .vm
                .session(self.state.clone(), block(), ORIGIN, 10_000_000);
            if cached {
                s.with_contract_cache(&self.cache)
            } else {
                s
            }
        }

        /// Executes `contract` in a session of its own (applied, as a block applies a
        /// successful tx): the returned data and the gas used.
        fn run(&self, contract: Address, cached: bool) -> (Vec<u8>, u64) {
            let mut s = self.session(cached);
            let out = s.execute(contract, b"{}").expect("execute");
            let effects = s.finish();
            self.state.apply(&effects.writes);
            (out.data, effects.gas_used)
        }
    }

    #[test]
    fn contract_cache_follows_instantiate_and_migrate_and_ignores_reverted_writes() -> Result<()> {
        let b = Block {
            vm: Vm::new(VmConfig::default()).map_err(|e| StorageError(e.to_string()))?,
            state: Arc::new(MemBackend::new()),
            cache: ContractCache::new(),
        };
        let mut s = b.session(true);
        let a = s.upload(&tagged('A', true))?;
        let bee = s.upload(&tagged('B', true))?;
        let refuses = s.upload(&tagged('C', false))?;
        let (x, _) = s.instantiate(a, "x", Some(ORIGIN), b"{}")?;
        b.state.apply(&s.finish().writes);

        // Cached and uncached reads agree, data and gas.
        assert_eq!(b.run(x, true), b.run(x, false));
        assert_eq!(b.run(x, true).0, b"A");
        assert_eq!(b.cache.get(&x), Some(a));

        // A migration whose `migrate` fails is undone (and uses up the session's gas): still A.
        let mut s = b.session(true);
        assert!(s.migrate(x, refuses, b"{}").is_err());
        b.state.apply(&s.finish().writes);
        assert_eq!(b.run(x, true).0, b"A");

        // A migration in a session that is then dropped (a failed tx): still A.
        let mut s = b.session(true);
        s.migrate(x, bee, b"{}")?;
        assert_eq!(s.execute(x, b"{}")?.data, b"B");
        drop(s);
        assert_eq!(b.run(x, true).0, b"A");

        // A migration that commits: the session sees B at once, later sessions too.
        let mut s = b.session(true);
        assert_eq!(s.execute(x, b"{}")?.data, b"A");
        s.migrate(x, bee, b"{}")?;
        assert_eq!(s.execute(x, b"{}")?.data, b"B");
        b.state.apply(&s.finish().writes);
        assert_eq!(b.cache.get(&x), None);
        assert_eq!(b.run(x, true), b.run(x, false));
        assert_eq!(b.run(x, true).0, b"B");

        // A contract instantiated later in the block is found, and a missing one is not cached.
        let nobody = contract_address(&ORIGIN, "y");
        let mut s = b.session(true);
        assert!(matches!(
            s.execute(nobody, b"{}"),
            Err(CallError::Fault(Fault::NoSuchContract(_)))
        ));
        drop(s);
        let mut s = b.session(true);
        let (y, _) = s.instantiate(a, "y", None, b"{}")?;
        assert_eq!(s.execute(y, b"{}")?.data, b"A");
        b.state.apply(&s.finish().writes);
        assert_eq!(b.run(y, true).0, b"A");
        Ok(())
    }
}

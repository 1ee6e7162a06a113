//! The session API: a [`Session`] is one transaction's view of state; its calls (upload,
//! instantiate, execute, query, migrate) each run a top-level frame, and [`Session::finish`]
//! hands back the [`Effects`] to commit.

use crate::contract::{contract_address, load_info, CodeHash, ContractCache, ContractInfo};
use crate::engine::Inner;
use crate::error::{Fault, Result, ValidationError};
use crate::frame::{run_frame, Frame};
use crate::state::{Backend, Overlay, WriteSet};
use crate::tx::{BlockEnv, ContractEvent, TxState};
use hanok_abi::{exports, layout, Address};
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

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

impl Session {
    /// A session of `origin` in `block` with `gas_limit` for all of its calls.
    pub(crate) fn new(
        inner: Arc<Inner>,
        backend: Arc<dyn Backend>,
        block: BlockEnv,
        origin: Address,
        gas_limit: u64,
    ) -> Session {
        Session {
            inner,
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
            .put(layout::code_key(&hash), Some(wasm.to_vec()));
        Ok(hash)
    }

    /// Creates a contract from uploaded code and runs its `instantiate`.
    ///
    /// # Errors
    /// A [`crate::CallError`]; nothing of the contract remains on failure.
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
                .get(t.backend.as_ref(), &layout::contract_info_key(&address))?
                .is_some()
            {
                return Err(Fault::ContractExists(address).into());
            }
            if t.overlay
                .get(t.backend.as_ref(), &layout::code_key(&code))?
                .is_none()
            {
                return Err(Fault::NoSuchCode(code.to_hex()).into());
            }
        }
        let info = ContractInfo {
            code_hash: code,
            creator,
            label: label.to_string(),
            admin,
        };
        let info = info.encode();
        let cp = self.tx.borrow().overlay.checkpoint();
        self.tx
            .borrow_mut()
            .overlay
            .put(layout::contract_info_key(&address), Some(info));
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
    /// A [`crate::CallError`]; the call's writes are undone.
    pub fn execute(&mut self, contract: Address, msg: &[u8]) -> Result<Outcome> {
        self.top(contract, exports::EXECUTE, false, msg)
    }

    /// Runs the read-only `query` of `contract`; sees this session's pending writes.
    ///
    /// # Errors
    /// A [`crate::CallError`].
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
        let mut info = {
            let t = self.tx.borrow();
            load_info(&t.overlay, t.backend.as_ref(), &contract)?
        };
        if info.admin != Some(self.origin()) {
            return Err(Fault::NotAdmin(contract).into());
        }
        {
            let t = self.tx.borrow();
            if t.overlay
                .get(t.backend.as_ref(), &layout::code_key(&code))?
                .is_none()
            {
                return Err(Fault::NoSuchCode(code.to_hex()).into());
            }
        }
        info.code_hash = code;
        let raw = info.encode();
        let cp = self.tx.borrow().overlay.checkpoint();
        self.tx
            .borrow_mut()
            .overlay
            .put(layout::contract_info_key(&contract), Some(raw));
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
    use crate::error::{CallError, StorageError};
    use crate::{MemBackend, Vm, VmConfig};

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

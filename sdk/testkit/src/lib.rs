//! `hanok-testkit`: run several contracts as real wasm on the production VM, in-process.
//!
//! What cw-multi-test is to CosmWasm, on hanok's real VM: [`TestChain`] holds real state (the
//! VM's own key layout over an in-memory backend), controls block height and time, makes
//! deterministic test accounts, runs transactions all-or-nothing exactly as the node does, and
//! shows events, state diffs and state dumps so tests can compare before and after.
//!
//! ```
//! use hanok_testkit::TestChain;
//! # let counter_wasm = wat::parse_str(r#"(module (memory (export "memory") 1)
//! #   (data (i32.const 0) "\00")
//! #   (func (export "instantiate") (result i64) (i64.const 1))
//! #   (func (export "execute") (result i64) (i64.const 1))
//! #   (func (export "query") (result i64) (i64.const 1)))"#).unwrap();
//! let mut chain = TestChain::new();
//! let alice = TestChain::account("alice");
//! let code = chain.upload(alice, &counter_wasm).unwrap();
//! let contract = chain.instantiate(alice, code, "counter", &serde_json::json!({})).unwrap();
//! chain.next_block();
//! let result = chain.execute(alice, contract, &serde_json::json!({"bump": {}})).unwrap();
//! assert!(result.events.is_empty());
//! ```
//!
//! Architecture Invariant: the testkit adds no behaviour of its own to execution. Everything
//! runs through `hanok_vm::Session`, the same path the node takes, so a contract that passes
//! here behaves the same on a node.

use hanok_abi::Address;
use hanok_vm::{BlockEnv, CallError, CodeHash, ContractEvent, MemBackend, Vm, VmConfig, WriteSet};
use serde::de::DeserializeOwned;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::sync::Arc;

pub use hanok_vm::{self as vm, Fault};

/// Default gas limit of a test transaction.
pub const DEFAULT_GAS: u64 = 50_000_000;

/// Errors of the harness.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TestError {
    /// The transaction or query failed in the VM or the contract.
    #[error(transparent)]
    Call(#[from] CallError),
    /// A message could not be serialised or a response deserialised.
    #[error("json: {0}")]
    Json(String),
}

impl TestError {
    /// The contract's error message, if the contract itself refused.
    pub fn contract_message(&self) -> Option<&str> {
        match self {
            TestError::Call(c) => c.contract_message(),
            TestError::Json(_) => None,
        }
    }
}

/// `Result` of the harness.
pub type Result<T, E = TestError> = std::result::Result<T, E>;

fn json<T: Serialize>(msg: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(msg).map_err(|e| TestError::Json(e.to_string()))
}

/// What a committed test transaction produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxResult {
    /// Data returned by each call, in order.
    pub data: Vec<Vec<u8>>,
    /// Events of the whole transaction, in order.
    pub events: Vec<ContractEvent>,
    /// Gas used.
    pub gas_used: u64,
    /// The state writes the transaction committed.
    pub writes: WriteSet,
}

impl TxResult {
    /// The data of the first call, parsed as JSON.
    ///
    /// # Errors
    /// [`TestError::Json`] when it is not the expected JSON.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T> {
        let first = self.data.first().map(Vec::as_slice).unwrap_or_default();
        serde_json::from_slice(first).map_err(|e| TestError::Json(e.to_string()))
    }

    /// Events of type `ty`.
    pub fn events_of<'a>(&'a self, ty: &'a str) -> impl Iterator<Item = &'a ContractEvent> + 'a {
        self.events.iter().filter(move |e| e.ty == ty)
    }
}

/// One call of a multi-call transaction.
#[derive(Debug, Clone)]
pub struct Call {
    /// The contract.
    pub contract: Address,
    /// The JSON message.
    pub msg: Vec<u8>,
}

impl Call {
    /// A call with a serialisable message.
    ///
    /// # Errors
    /// [`TestError::Json`] if the message does not serialise.
    pub fn new<T: Serialize>(contract: Address, msg: &T) -> Result<Call> {
        Ok(Call {
            contract,
            msg: json(msg)?,
        })
    }
}

/// An in-process chain for contract tests: real VM, real wasm, in-memory state.
#[derive(Debug)]
pub struct TestChain {
    vm: Vm,
    backend: Arc<MemBackend>,
    block: BlockEnv,
    gas_limit: u64,
    events: Vec<ContractEvent>,
}

impl Default for TestChain {
    fn default() -> Self {
        TestChain::new()
    }
}

impl TestChain {
    /// A chain at height 1, time 2027-01-01T00:00:00Z, chain id `hanok-test`, default limits.
    ///
    /// Chains made with `new` share one process-wide [`Vm`], as the threads of a node do, so
    /// each contract is compiled once per test binary, not once per test.
    pub fn new() -> TestChain {
        static SHARED: std::sync::OnceLock<Vm> = std::sync::OnceLock::new();
        let vm = SHARED.get_or_init(|| {
            Vm::new(VmConfig::default()).unwrap_or_else(|e| panic!("VM setup: {e}"))
        });
        TestChain::with_vm(vm.clone())
    }

    /// A chain using `vm` (e.g. one with custom limits or a disk cache).
    pub fn with_vm(vm: Vm) -> TestChain {
        TestChain {
            vm,
            backend: Arc::new(MemBackend::new()),
            block: BlockEnv {
                height: 1,
                time: 1_798_761_600,
                chain_id: "hanok-test".into(),
            },
            gas_limit: DEFAULT_GAS,
            events: Vec::new(),
        }
    }

    /// A deterministic test account address for a name ("alice", "bank-a"...).
    pub fn account(name: &str) -> Address {
        let digest: [u8; 32] = Sha256::digest(format!("hanok/test-account/{name}")).into();
        let mut a = [0u8; 20];
        a.copy_from_slice(&digest[..20]);
        Address(a)
    }

    /// The VM.
    pub fn vm(&self) -> &Vm {
        &self.vm
    }

    /// The current block.
    pub fn block(&self) -> &BlockEnv {
        &self.block
    }

    /// Sets the gas limit of the following transactions.
    pub fn set_gas_limit(&mut self, gas: u64) {
        self.gas_limit = gas;
    }

    /// Moves to the next block, 5 seconds later.
    pub fn next_block(&mut self) {
        self.block.height = self.block.height.saturating_add(1);
        self.block.time = self.block.time.saturating_add(5);
    }

    /// Moves time forward by `seconds` (and the height by one block).
    pub fn advance_time(&mut self, seconds: u64) {
        self.block.height = self.block.height.saturating_add(1);
        self.block.time = self.block.time.saturating_add(seconds);
    }

    /// Uploads code as `sender`.
    ///
    /// # Errors
    /// The VM's error, e.g. [`Fault::Invalid`] naming the limit the module breaks.
    pub fn upload(&mut self, sender: Address, wasm: &[u8]) -> Result<CodeHash> {
        let mut s = self.vm.session(
            self.backend.clone(),
            self.block.clone(),
            sender,
            self.gas_limit,
        );
        let code = s.upload(wasm)?;
        self.backend.apply(&s.finish().writes);
        Ok(code)
    }

    /// Instantiates uploaded code as `sender` under `label`; returns the new contract's address.
    ///
    /// # Errors
    /// The contract's or the VM's error; nothing is committed then.
    pub fn instantiate<T: Serialize>(
        &mut self,
        sender: Address,
        code: CodeHash,
        label: &str,
        msg: &T,
    ) -> Result<Address> {
        let msg = json(msg)?;
        let mut s = self.vm.session(
            self.backend.clone(),
            self.block.clone(),
            sender,
            self.gas_limit,
        );
        let (addr, _) = s.instantiate(code, label, Some(sender), &msg)?;
        let effects = s.finish();
        self.backend.apply(&effects.writes);
        self.events.extend(effects.events);
        Ok(addr)
    }

    /// Uploads and instantiates in one go.
    ///
    /// # Errors
    /// As [`TestChain::upload`] and [`TestChain::instantiate`].
    pub fn deploy<T: Serialize>(
        &mut self,
        sender: Address,
        wasm: &[u8],
        label: &str,
        msg: &T,
    ) -> Result<Address> {
        let code = self.upload(sender, wasm)?;
        self.instantiate(sender, code, label, msg)
    }

    /// Executes one call as a transaction signed by `sender`.
    ///
    /// # Errors
    /// The contract's or the VM's error; the transaction's writes are discarded then.
    pub fn execute<T: Serialize>(
        &mut self,
        sender: Address,
        contract: Address,
        msg: &T,
    ) -> Result<TxResult> {
        self.execute_calls(sender, &[Call::new(contract, msg)?])
    }

    /// Executes several calls as one all-or-nothing transaction signed by `sender`.
    ///
    /// # Errors
    /// The first failing call's error; none of the calls' writes are committed then.
    pub fn execute_calls(&mut self, sender: Address, calls: &[Call]) -> Result<TxResult> {
        let s = self.vm.session(
            self.backend.clone(),
            self.block.clone(),
            sender,
            self.gas_limit,
        );
        // The same all-or-nothing runner the chain uses for every transaction.
        let run = s
            .run_all(calls.iter().map(|c| vm::TxCall::Execute {
                contract: c.contract,
                msg: &c.msg,
            }))
            .map_err(CallError::from)?;
        let (data, effects) = match run {
            vm::TxRun::Done { results, effects } => (results, effects),
            vm::TxRun::Failed { error, .. } => return Err(error.into()),
        };
        self.backend.apply(&effects.writes);
        self.events.extend(effects.events.iter().cloned());
        Ok(TxResult {
            data,
            events: effects.events,
            gas_used: effects.gas_used,
            writes: effects.writes,
        })
    }

    /// Runs `execute` without committing anything: a dry run that shows the state diff.
    ///
    /// # Errors
    /// As [`TestChain::execute`].
    pub fn simulate<T: Serialize>(
        &self,
        sender: Address,
        contract: Address,
        msg: &T,
    ) -> Result<TxResult> {
        let msg = json(msg)?;
        let mut s = self.vm.session(
            self.backend.clone(),
            self.block.clone(),
            sender,
            self.gas_limit,
        );
        let out = s.execute(contract, &msg)?;
        let effects = s.finish();
        Ok(TxResult {
            data: vec![out.data],
            events: effects.events,
            gas_used: effects.gas_used,
            writes: effects.writes,
        })
    }

    /// Queries `contract` and parses the JSON answer.
    ///
    /// # Errors
    /// The contract's or the VM's error, or [`TestError::Json`].
    pub fn query<R: DeserializeOwned, T: Serialize>(
        &self,
        contract: Address,
        msg: &T,
    ) -> Result<R> {
        let raw = self.query_raw(contract, &json(msg)?)?;
        serde_json::from_slice(&raw).map_err(|e| TestError::Json(e.to_string()))
    }

    /// Queries `contract` with raw bytes.
    ///
    /// # Errors
    /// The contract's or the VM's error.
    pub fn query_raw(&self, contract: Address, msg: &[u8]) -> Result<Vec<u8>> {
        Ok(self.vm.query(
            self.backend.clone(),
            self.block.clone(),
            contract,
            msg,
            self.gas_limit,
        )?)
    }

    /// Every event committed so far, in order.
    pub fn events(&self) -> &[ContractEvent] {
        &self.events
    }

    /// The whole state, key → value: compare two dumps to prove nothing changed.
    pub fn dump(&self) -> BTreeMap<Vec<u8>, Vec<u8>> {
        self.backend.dump()
    }

    /// One contract's storage, its own key → value.
    pub fn contract_storage(&self, contract: &Address) -> BTreeMap<Vec<u8>, Vec<u8>> {
        let prefix = hanok_vm::layout::storage_prefix(contract);
        self.backend
            .dump()
            .into_iter()
            .filter_map(|(k, v)| {
                k.strip_prefix(prefix.as_slice())
                    .map(|rest| (rest.to_vec(), v))
            })
            .collect()
    }

    /// A readable, deterministic text dump of the state (hex keys, UTF-8 or hex values), for
    /// snapshot tests and byte-for-byte comparisons.
    pub fn dump_text(&self) -> String {
        let mut out = String::new();
        for (k, v) in self.dump() {
            let value = match std::str::from_utf8(&v) {
                Ok(s) if s.chars().all(|c| !c.is_control()) => s.to_string(),
                _ => format!("0x{}", hex::encode(&v)),
            };
            out.push_str(&hex::encode(&k));
            out.push_str(" = ");
            out.push_str(&value);
            out.push('\n');
        }
        out
    }
}

//! Integration tests of the VM: hand-written modules (WAT compiled to binary here; the VM itself
//! accepts binary only) exercising gas, limits, nested calls and upload validation.

mod cache;
mod hostile;
mod modules;
mod semantics;
mod smith;

use hanok_vm::{Address, BlockEnv, MemBackend, Session, Vm, VmConfig};
use std::sync::Arc;

pub(crate) const GAS: u64 = 10_000_000;

pub(crate) fn block() -> BlockEnv {
    BlockEnv {
        height: 7,
        time: 1_800_000_000,
        chain_id: "hanok-test".into(),
    }
}

pub(crate) fn origin() -> Address {
    Address([0xa1; 20])
}

pub(crate) struct World {
    pub vm: Vm,
    pub backend: Arc<MemBackend>,
}

impl World {
    pub fn new() -> World {
        let vm = Vm::new(VmConfig::default()).expect("engine");
        World {
            vm,
            backend: Arc::new(MemBackend::new()),
        }
    }

    pub fn session(&self) -> Session {
        self.vm
            .session(self.backend.clone(), block(), origin(), GAS)
    }

    /// Uploads and instantiates `wat` under `label`, committing the result.
    pub fn deploy(&self, wat: &str, label: &str) -> Address {
        let wasm = wat::parse_str(wat).expect("wat");
        let mut s = self.session();
        let code = s.upload(&wasm).expect("upload");
        let (addr, _) = s
            .instantiate(code, label, None, b"{}")
            .expect("instantiate");
        self.backend.apply(&s.finish().writes);
        addr
    }

    /// Runs one execute in its own committed session.
    pub fn exec(&self, contract: Address, msg: &[u8]) -> hanok_vm::Result<hanok_vm::Outcome> {
        let mut s = self.session();
        let r = s.execute(contract, msg);
        if r.is_ok() {
            self.backend.apply(&s.finish().writes);
        }
        r
    }
}

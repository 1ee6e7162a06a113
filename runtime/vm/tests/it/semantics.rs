//! What ordinary contracts rely on: state, events, atomic nested calls, gas accounting.

use crate::modules;
use crate::World;
use hanok_vm::{CallError, Fault};

#[test]
fn counter_persists_and_emits_events() {
    let w = World::new();
    let c = w.deploy(&modules::counter(), "counter");
    for _ in 0..3 {
        let out = w.exec(c, b"go").expect("execute");
        assert_eq!(out.events.len(), 1);
        assert_eq!(out.events[0].ty, "bump");
        assert_eq!(out.events[0].contract, c);
    }
    let mut s = w.session();
    let data = s.query(c, b"").expect("query");
    assert_eq!(data, 3u64.to_le_bytes());
}

#[test]
fn contract_error_reverts_its_writes_and_events_and_charges_the_full_limit() {
    let w = World::new();
    let c = w.deploy(&modules::counter(), "counter");
    w.exec(c, b"go").expect("first");
    let mut s = w.session();
    let err = s.execute(c, b"E").expect_err("must fail");
    assert_eq!(
        err,
        CallError::Contract {
            contract: c,
            message: "boom".into()
        }
    );
    assert_eq!(
        s.gas_used(),
        crate::GAS,
        "a failed call is charged its whole gas limit"
    );
    let effects = s.finish();
    assert!(
        effects.writes.is_empty(),
        "the failed call's write is undone"
    );
    assert!(
        effects.events.is_empty(),
        "the failed call's event is undone"
    );
}

#[test]
fn nested_call_failure_reverts_only_the_callee_and_reentry_is_refused() {
    let w = World::new();
    let counter = w.deploy(&modules::counter(), "counter");
    let proxy = w.deploy(&modules::proxy(), "proxy");
    // The proxy passes "x" on, so the counter succeeds: one bump through the proxy.
    let out = w.exec(proxy, &counter.0).expect("proxied call");
    assert!(
        out.data.is_empty(),
        "the proxy passes on the callee's empty OK result"
    );
    assert_eq!(out.events.len(), 1);
    // Calling itself is re-entry: a fault, not a contract error.
    let err = w.exec(proxy, &proxy.0).expect_err("re-entry");
    assert_eq!(err, CallError::Fault(Fault::Reentry { contract: proxy }));
    // An unknown callee is a fault too.
    let err = w.exec(proxy, &[9u8; 20]).expect_err("unknown contract");
    assert_eq!(
        err,
        CallError::Fault(Fault::NoSuchContract(hanok_vm::Address([9; 20])))
    );
}

#[test]
fn gas_used_is_deterministic_and_grows_with_work() {
    let w = World::new();
    let c = w.deploy(&modules::counter(), "counter");
    w.exec(c, b"go").expect("first call creates the key");
    let a = w.exec(c, b"go").expect("a").gas_used;
    let b = w.exec(c, b"go").expect("b").gas_used;
    assert_eq!(a, b, "the same call costs the same gas");
    assert!(a > w.vm.gas_schedule().instantiate);
}

#[test]
fn compiled_modules_are_cached_on_disk_and_reloaded_without_compiling() {
    use hanok_vm::{Loaded, Vm, VmConfig};
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = VmConfig {
        cache_dir: Some(dir.path().to_path_buf()),
        ..VmConfig::default()
    };
    let wasm = wat::parse_str(modules::counter()).expect("wat");

    let first = Vm::new(cfg.clone()).expect("vm");
    let (hash, how) = first.prepare(&wasm).expect("prepare");
    assert_eq!(how, Loaded::Compiled);
    assert_eq!(
        first.prepare(&wasm).expect("again").1,
        Loaded::Memory,
        "compiled once per VM"
    );

    // A restarted node: a new VM over the same cache directory loads the artifact.
    let restarted = Vm::new(cfg).expect("vm");
    assert!(!restarted.is_loaded(&hash));
    assert_eq!(
        restarted.prepare(&wasm).expect("reload").1,
        Loaded::DiskCache
    );

    // Another gas schedule is another cache key: nothing compiled under other rules is reused.
    let mut other = VmConfig {
        cache_dir: Some(dir.path().to_path_buf()),
        ..VmConfig::default()
    };
    other.gas.version = 2;
    let other = Vm::new(other).expect("vm");
    assert_eq!(other.prepare(&wasm).expect("compile").1, Loaded::Compiled);
}

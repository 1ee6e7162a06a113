//! The compiled-module cache: bounded and evicting in memory over the disk cache, one compile
//! per module across threads, and compilation ahead of execution ([`Precompiler`],
//! [`Vm::prepare_many`]).

use crate::modules::{self, with_execute};
use crate::{block, origin, GAS};
use hanok_vm::{Loaded, MemBackend, Precompiler, Vm, VmConfig};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// `n` distinct valid modules.
fn distinct(n: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| wat::parse_str(with_execute(&format!("(drop (i32.const {i}))"), "")).expect("wat"))
        .collect()
}

#[test]
fn the_memory_cache_stays_within_its_budget_and_reloads_what_it_evicted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let budget = 200 * 1024;
    let vm = Vm::new(VmConfig {
        cache_dir: Some(dir.path().to_path_buf()),
        module_cache_bytes: budget,
        ..VmConfig::default()
    })
    .expect("vm");
    let wasms = distinct(40);
    let mut hashes = Vec::new();
    for w in &wasms {
        let (hash, how) = vm.prepare(w).expect("prepare");
        assert_eq!(how, Loaded::Compiled);
        hashes.push(hash);
        let (_, bytes) = vm.memory_cache_usage();
        assert!(bytes <= budget, "{bytes} bytes cached, budget {budget}");
    }
    let (count, _) = vm.memory_cache_usage();
    assert!(count < 40 && count > 1, "{count} modules in memory");
    // The oldest were evicted, the newest kept.
    assert!(!vm.is_loaded(&hashes[0]));
    assert!(vm.is_loaded(&hashes[39]));
    // Recently used modules survive: touch the first surviving one, add more, it stays.
    let survivor = hashes
        .iter()
        .position(|h| vm.is_loaded(h))
        .expect("one survives");
    assert_eq!(vm.prepare(&wasms[survivor]).expect("hit").1, Loaded::Memory);
    // Fewer new modules than the cache holds: the least recently used go, the one just hit
    // stays, although it was loaded before all the others.
    for w in distinct(40 + count - 1).iter().skip(40) {
        vm.prepare(w).expect("prepare");
    }
    assert!(
        vm.is_loaded(&hashes[survivor]),
        "a recent hit is not evicted first ({count} fit)"
    );
    // An evicted module comes back from disk, not from the compiler.
    assert_eq!(vm.prepare(&wasms[0]).expect("reload").1, Loaded::DiskCache);
}

/// Runs a counter contract four times, preparing another module after each call; returns the
/// gas of each call, the final count and whether the counter stayed in memory throughout.
fn run_counter(config: VmConfig) -> (Vec<u64>, Vec<u8>, bool) {
    let vm = Vm::new(config).expect("vm");
    let backend = Arc::new(MemBackend::new());
    let session = || vm.session(backend.clone(), block(), origin(), GAS);
    let counter = wat::parse_str(modules::counter()).expect("wat");
    let mut s = session();
    let code = s.upload(&counter).expect("upload");
    let (c, _) = s.instantiate(code, "c", None, b"{}").expect("instantiate");
    backend.apply(&s.finish().writes);
    let mut gas = Vec::new();
    let mut stayed = true;
    for w in distinct(4) {
        let mut s = session();
        gas.push(s.execute(c, b"go").expect("execute").gas_used);
        backend.apply(&s.finish().writes);
        vm.prepare(&w).expect("prepare");
        stayed &= vm.is_loaded(&code);
    }
    let count = session().query(c, b"").expect("query");
    (gas, count, stayed)
}

#[test]
fn an_evicted_contract_still_runs_with_the_same_result() {
    let (gas, count, stayed) = run_counter(VmConfig::default());
    assert!(stayed);
    assert_eq!(count, 4u64.to_le_bytes().to_vec());
    let dir = tempfile::tempdir().expect("tempdir");
    for cache_dir in [Some(dir.path().to_path_buf()), None] {
        // A budget so small that only the module just loaded stays in memory: the counter is
        // reloaded from the disk cache, or compiled again from its code in state.
        let evicting = run_counter(VmConfig {
            cache_dir,
            module_cache_bytes: 1,
            ..VmConfig::default()
        });
        assert!(!evicting.2, "the counter was evicted");
        assert_eq!((evicting.0, evicting.1), (gas.clone(), count.clone()));
    }
}

#[test]
fn a_module_asked_for_on_several_threads_is_compiled_once() {
    let vm = Vm::new(VmConfig::default()).expect("vm");
    let wasm = wat::parse_str(modules::counter()).expect("wat");
    let hows: Vec<Loaded> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| s.spawn(|| vm.prepare(&wasm).expect("prepare").1))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("thread"))
            .collect()
    });
    let compiled = hows.iter().filter(|h| **h == Loaded::Compiled).count();
    assert_eq!(compiled, 1, "{hows:?}");
}

#[test]
fn prepare_many_compiles_a_blocks_uploads_and_reports_each() {
    let vm = Vm::new(VmConfig::default()).expect("vm");
    let mut wasms = distinct(5);
    wasms.insert(2, b"not wasm".to_vec());
    let refs: Vec<&[u8]> = wasms.iter().map(Vec::as_slice).collect();
    let results = vm.prepare_many(&refs);
    assert_eq!(results.len(), 6);
    for (i, r) in results.iter().enumerate() {
        match (i, r) {
            (2, Err(e)) => assert_eq!(e, &hanok_vm::ValidationError::NotWasm),
            (_, Ok((hash, Loaded::Compiled))) => assert!(vm.is_loaded(hash)),
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[test]
fn the_precompiler_compiles_ahead_so_the_upload_finds_the_module_ready() {
    let vm = Vm::new(VmConfig::default()).expect("vm");
    let pool = Precompiler::new(vm.clone(), 1, 4).expect("pool");
    let wasm = wat::parse_str(modules::counter()).expect("wat");
    let hash = hanok_vm::CodeHash::of(&wasm);
    assert!(pool.submit(wasm.clone()));
    assert!(pool.submit(b"garbage".to_vec()));
    let deadline = Instant::now() + Duration::from_secs(30);
    while pool.stats().compiled + pool.stats().refused < 2 {
        assert!(
            Instant::now() < deadline,
            "precompiler stalled: {:?}",
            pool.stats()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(vm.is_loaded(&hash));
    assert_eq!(pool.stats().refused, 1);
    // Execution's upload finds it in memory: no second compile.
    assert_eq!(vm.prepare(&wasm).expect("prepare").1, Loaded::Memory);
    drop(pool);
}

#[test]
fn a_full_precompile_queue_skips_and_never_blocks() {
    let vm = Vm::new(VmConfig::default()).expect("vm");
    let pool = Precompiler::new(vm, 1, 1).expect("pool");
    let started = Instant::now();
    let sent: usize = distinct(20)
        .into_iter()
        .map(|w| usize::from(pool.submit(w)))
        .sum();
    assert!(started.elapsed() < Duration::from_secs(2), "submit blocked");
    assert!(
        sent < 20,
        "a queue of 1 with one worker cannot take 20 at once"
    );
    assert_eq!(pool.stats().skipped, 20 - sent as u64);
}

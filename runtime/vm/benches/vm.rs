//! VM benchmarks: a trivial call on a fresh instance, upload + compile, and loading a compiled
//! module from the disk cache. The title-transfer figure lives in the testkit's benches, where
//! the real contracts are.

use criterion::{criterion_group, criterion_main, Criterion};
use hanok_vm::{Address, BlockEnv, MemBackend, Vm, VmConfig};
use std::hint::black_box;
use std::sync::Arc;

const TRIVIAL: &str = r#"(module
  (memory (export "memory") 1)
  (data (i32.const 0) "\00")
  (func (export "instantiate") (result i64) (i64.const 1))
  (func (export "query") (result i64) (i64.const 1))
  (func (export "execute") (result i64) (i64.const 1)))"#;

fn block() -> BlockEnv {
    BlockEnv {
        height: 1,
        time: 1_800_000_000,
        chain_id: "bench".into(),
    }
}

fn benches(c: &mut Criterion) {
    let wasm = wat::parse_str(TRIVIAL).expect("wat");
    let vm = Vm::new(VmConfig::default()).expect("vm");
    let backend = Arc::new(MemBackend::new());
    let origin = Address([1; 20]);
    let mut s = vm.session(backend.clone(), block(), origin, u64::MAX / 2);
    let code = s.upload(&wasm).expect("upload");
    let (contract, _) = s
        .instantiate(code, "trivial", None, b"")
        .expect("instantiate");
    backend.apply(&s.finish().writes);

    c.bench_function("trivial call, fresh instance", |b| {
        b.iter(|| {
            let mut s = vm.session(backend.clone(), block(), origin, 1_000_000);
            black_box(s.execute(contract, b"").expect("call"));
        })
    });

    // A module big enough that compile time means something: the trivial one plus 2,000
    // functions doing arithmetic.
    let filler: String = (0..2_000)
        .map(|i| format!("(func (param i64) (result i64) (i64.add (local.get 0) (i64.const {i})))"))
        .collect();
    let big = format!("{}{filler})", TRIVIAL.strip_suffix(')').unwrap_or(TRIVIAL));
    let big = wat::parse_str(&big).expect("wat");
    c.bench_function("upload: validate + compile (2,000 functions)", |b| {
        b.iter(|| {
            // A fresh VM each time, so nothing is cached.
            let vm = Vm::new(VmConfig::default()).expect("vm");
            black_box(vm.prepare(&big).expect("prepare"));
        })
    });

    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = VmConfig {
        cache_dir: Some(dir.path().to_path_buf()),
        ..VmConfig::default()
    };
    Vm::new(cfg.clone())
        .expect("vm")
        .prepare(&big)
        .expect("warm the disk cache");
    c.bench_function("load from the compiled cache (2,000 functions)", |b| {
        let vm = Vm::new(cfg.clone()).expect("vm");
        b.iter(|| {
            vm.clear_memory_cache();
            let (_, how) = vm.prepare(&big).expect("prepare");
            assert_eq!(how, hanok_vm::Loaded::DiskCache);
        })
    });
}

criterion_group!(vm, benches);
criterion_main!(vm);

//! VM benchmarks: a trivial call on a fresh instance, a call shaped like a Rust contract's
//! (its memory laid out as rustc lays it out, growing one page), upload + compile, and loading
//! a compiled module from the disk cache. The title-transfer figure lives in the testkit's benches, where
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

/// Memory as rustc lays out a contract's (`contracts/artifacts/wasm/*.wasm`): 17 initial pages,
/// the shadow stack growing down from 1 MiB, static data from 1 MiB, and the heap (the SDK's
/// bump allocator) from the end of the initial memory, so the first allocation grows memory by a
/// page. The call touches a stack page, a data page and the new heap page, as a contract call
/// does at the least.
const CONTRACT_SHAPED: &str = r#"(module
  (memory (export "memory") 17)
  (data (i32.const 1048576) "hanok")
  (func (export "instantiate") (result i64) (i64.const 1))
  (func (export "query") (result i64) (i64.const 1))
  (func (export "execute") (result i64)
    (i32.store (i32.const 1048000) (i32.const 7))
    (i32.store (i32.const 1048580) (i32.load (i32.const 1048576)))
    (drop (memory.grow (i32.const 1)))
    (i32.store (i32.const 1114112) (i32.const 1))
    (i64.const 1)))"#;

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

    let mut s = vm.session(backend.clone(), block(), origin, u64::MAX / 2);
    let code = s
        .upload(&wat::parse_str(CONTRACT_SHAPED).expect("wat"))
        .expect("upload");
    let (shaped, _) = s
        .instantiate(code, "contract-shaped", None, b"")
        .expect("instantiate");
    backend.apply(&s.finish().writes);
    c.bench_function(
        "contract-shaped call (17 pages, grows one), fresh instance",
        |b| {
            b.iter(|| {
                let mut s = vm.session(backend.clone(), block(), origin, 1_000_000);
                black_box(s.execute(shaped, b"").expect("call"));
            })
        },
    );

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

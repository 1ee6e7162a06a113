//! Thousands of random valid wasm modules (wasm-smith, shaped like contracts: the `hanok`
//! imports and the entry-point exports) through validation, upload, instantiation, execution
//! and query. Properties: nothing panics; validation and upload agree; every failure is a typed
//! error with a deterministic message; running the same module twice gives the same results,
//! data, events and gas alike.
//!
//! Modules: `HANOK_FUZZ_CASES` (default 1,000); a module that panics is written to the temp
//! directory and its seed named. See docs/testing.md.

use crate::{block, origin};
use arbitrary::Unstructured;
use hanok_abi::{exports, imports, HOST_MODULE};
use hanok_vm::{
    contract_address, layout, CallError, ContractInfo, Fault, MemBackend, Vm, VmConfig, WriteSet,
};
use std::fmt::Write as _;
use std::sync::Arc;

/// Gas for each call: enough for real work, little enough that a loop ends fast.
const GAS: u64 = 2_000_000;

fn cases() -> u64 {
    std::env::var("HANOK_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000)
}

/// A module declaring every host import, for wasm-smith to pick from.
fn available_imports() -> Vec<u8> {
    let ty = |codes: &str| -> String {
        codes
            .chars()
            .map(|c| if c == 'I' { " i64" } else { " i32" })
            .collect()
    };
    let mut wat = String::from("(module");
    for (name, params, results) in imports::ALL {
        let _ = write!(
            wat,
            r#" (import "{HOST_MODULE}" "{name}" (func (param{}) (result{})))"#,
            ty(params),
            ty(results)
        );
    }
    wat.push(')');
    wat::parse_str(wat.replace("(param)", "").replace("(result)", "")).expect("imports")
}

/// A module with exactly the exports a contract has.
fn required_exports() -> Vec<u8> {
    let mut wat = format!(r#"(module (memory (export "{}") 1)"#, exports::MEMORY);
    for name in exports::REQUIRED {
        let _ = write!(
            wat,
            r#" (func (export "{name}") (result i64) (i64.const 0))"#
        );
    }
    wat.push(')');
    wat::parse_str(wat).expect("exports")
}

/// wasm-smith limited to what hanok allows, so most modules pass validation and reach the
/// engine; the rest exercise validation's refusals.
fn config() -> wasm_smith::Config {
    let mut c = wasm_smith::Config {
        available_imports: Some(available_imports()),
        exports: Some(required_exports()),
        ..wasm_smith::Config::default()
    };
    c.allow_start_export = false;
    // The required exports bring the one memory; a random one on top would be a second.
    c.max_memories = 0;
    c.max_memory32_bytes = 512 * 65_536;
    c.memory64_enabled = false;
    c.max_tables = 1;
    c.max_table_elements = 2_500;
    c.max_funcs = 40;
    c.max_instructions = 200;
    c.max_globals = 20;
    c.max_data_segments = 8;
    c.max_element_segments = 8;
    c.simd_enabled = false;
    c.relaxed_simd_enabled = false;
    c.threads_enabled = false;
    c.shared_everything_threads_enabled = false;
    c.tail_call_enabled = false;
    c.exceptions_enabled = false;
    c.gc_enabled = false;
    c.custom_descriptors_enabled = false;
    c.custom_page_sizes_enabled = false;
    c.wide_arithmetic_enabled = false;
    c.extended_const_enabled = false;
    c.bulk_memory_enabled = true;
    // Reference types would mostly bring `externref`, which hanok refuses (the engine has no
    // GC types); funcref tables and indirect calls come with the MVP anyway.
    c.reference_types_enabled = false;
    c.multi_value_enabled = true;
    c.saturating_float_to_int_enabled = true;
    c.sign_extension_ops_enabled = true;
    c
}

/// splitmix64, so a case is reproduced from its seed alone.
fn bytes_of(seed: u64, n: usize) -> Vec<u8> {
    let mut s = seed;
    (0..n)
        .map(|_| {
            s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = s;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            (z ^ (z >> 31)) as u8
        })
        .collect()
}

/// Checks that a failure is typed and its message is ours: one prefix, no host detail.
fn check_error(e: &CallError) {
    let text = e.to_string();
    assert!(!text.is_empty());
    assert!(!text.contains("wasm trap: wasm trap"), "{text}");
    assert!(!text.contains("0x7f"), "host address in a message: {text}");
    if let CallError::Fault(f) = e {
        assert!(
            !matches!(f, Fault::Resources(_)),
            "the pool ran out serially: {f}"
        );
        assert_ne!(
            f,
            &Fault::Trap("instantiation failed".into()),
            "an untyped instantiation failure"
        );
    }
    assert!(
        !matches!(e, CallError::Storage(_)),
        "MemBackend cannot fail"
    );
}

/// Runs `wasm` as a contract on a fresh state: upload, instantiate, execute twice, query.
/// Returns a transcript of every outcome (data, events, gas, errors). A module whose
/// `instantiate` fails (random code rarely returns a well-formed result) is registered as a
/// contract directly, so that its `execute` and `query` run too.
fn run(vm: &Vm, wasm: &[u8], msg: &[u8]) -> String {
    let backend = Arc::new(MemBackend::new());
    let mut out = String::new();
    let mut s = vm.session(backend.clone(), block(), origin(), GAS);
    let code = match s.upload(wasm) {
        Ok(code) => code,
        Err(e) => {
            check_error(&e);
            return format!("upload: {e}");
        }
    };
    backend.apply(&s.finish().writes);
    let mut s = vm.session(backend.clone(), block(), origin(), GAS);
    let contract = match s.instantiate(code, "smith", None, msg) {
        Ok((addr, o)) => {
            let _ = write!(out, "instantiate: {o:?}; ");
            backend.apply(&s.finish().writes);
            addr
        }
        Err(e) => {
            check_error(&e);
            let _ = write!(out, "instantiate: {e:?}; ");
            let addr = contract_address(&origin(), "smith");
            let info = ContractInfo {
                code_hash: code,
                creator: origin(),
                label: "smith".into(),
                admin: None,
            };
            let mut writes = WriteSet::new();
            writes.insert(layout::contract_info_key(&addr), Some(info.encode()));
            backend.apply(&writes);
            addr
        }
    };
    for _ in 0..2 {
        let mut s = vm.session(backend.clone(), block(), origin(), GAS);
        match s.execute(contract, msg) {
            Ok(o) => {
                let _ = write!(out, "execute: {o:?}; ");
                backend.apply(&s.finish().writes);
            }
            Err(e) => {
                check_error(&e);
                assert!(
                    !matches!(e, CallError::Fault(Fault::NoSuchContract(_))),
                    "{e}"
                );
                let _ = write!(out, "execute: {e:?}; ");
            }
        }
    }
    match vm.query(backend.clone(), block(), contract, msg, GAS) {
        Ok(data) => {
            let _ = write!(out, "query: {data:?}");
        }
        Err(e) => {
            check_error(&e);
            let _ = write!(out, "query: {e:?}");
        }
    }
    out
}

/// A short name for how a transcript's first execute ended, for the summary.
fn execute_outcome(transcript: &str) -> String {
    let Some(rest) = transcript.split("execute: ").nth(1) else {
        return "not run".into();
    };
    let end = rest.find([' ', '(', '{', ';']).unwrap_or(rest.len());
    let head = &rest[..end];
    match head {
        "Fault" => {
            let inner = rest.trim_start_matches("Fault(");
            let end = inner.find([' ', '(', '{', ')']).unwrap_or(inner.len());
            inner[..end].to_string()
        }
        other => other.to_string(),
    }
}

#[test]
fn random_modules_are_contained_typed_and_deterministic() {
    let vm = Vm::new(VmConfig::default()).expect("vm");
    let config = config();
    let mut valid = 0u64;
    let mut outcomes = std::collections::BTreeMap::<String, u64>::new();
    let mut refusals = std::collections::BTreeMap::<String, u64>::new();
    let n = cases();
    for seed in 0..n {
        let data = bytes_of(seed, 4_096);
        let mut u = Unstructured::new(&data);
        let Ok(module) = wasm_smith::Module::new(config.clone(), &mut u) else {
            continue;
        };
        let mut wasm = module.to_bytes();
        // One module in four is damaged by a byte, for validation's refusals (and the rare
        // damaged module that is still valid, for the engine).
        if seed % 4 == 3 {
            let at = usize::from(data[1]) * 256 + usize::from(data[2]);
            let len = wasm.len();
            wasm[at % len] ^= data[3] | 1;
        }
        let msg = bytes_of(seed ^ 0x5eed, usize::from(data[0] % 64));
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let validated = hanok_vm::validate_default(&wasm);
            let first = run(&vm, &wasm, &msg);
            // Validation and upload agree.
            match &validated {
                Ok(()) => assert!(!first.starts_with("upload:"), "valid but {first}"),
                Err(e) => assert_eq!(first, format!("upload: upload refused: {e}")),
            }
            // The same module again, from the compiled-module cache: the same transcript.
            let second = run(&vm, &wasm, &msg);
            assert_eq!(first, second, "two runs differ");
            (validated, execute_outcome(&first))
        }));
        match outcome {
            Ok((validated, outcome)) => {
                valid += u64::from(validated.is_ok());
                *outcomes.entry(outcome).or_default() += 1;
                if let Err(e) = validated {
                    let kind = format!("{e:?}");
                    let kind = kind
                        .split([' ', '('])
                        .next()
                        .unwrap_or_default()
                        .to_string();
                    *refusals.entry(kind).or_default() += 1;
                }
            }
            Err(panic) => {
                let path = std::env::temp_dir().join(format!("hanok-smith-{seed}.wasm"));
                let _ = std::fs::write(&path, &wasm);
                std::panic::resume_unwind(Box::new(format!(
                    "seed {seed} failed (module written to {}): {:?}",
                    path.display(),
                    panic
                        .downcast_ref::<String>()
                        .map(String::as_str)
                        .or(panic.downcast_ref::<&str>().copied())
                )));
            }
        }
    }
    // The generator must reach the engine, not only validation's refusals.
    assert!(
        valid * 2 >= n,
        "only {valid} of {n} modules were valid; refusals: {refusals:?}"
    );
    // And execution must run their code to its different ends, not stop at one.
    let ran = n - outcomes.get("not run").copied().unwrap_or(0);
    assert!(ran * 2 >= n, "only {ran} of {n} modules ran: {outcomes:?}");
    assert!(
        outcomes.len() >= 4,
        "too few kinds of outcome: {outcomes:?}"
    );
    eprintln!("{n} modules: {valid} valid; refused: {refusals:?}; execute: {outcomes:?}");
}

#[test]
fn a_fresh_engine_gives_the_same_results_as_the_cached_one() {
    // A smaller sample compiled twice by two VMs, so a result never depends on which engine or
    // cache produced the code.
    let (a, b) = (
        Vm::new(VmConfig::default()).expect("vm"),
        Vm::new(VmConfig::default()).expect("vm"),
    );
    let config = config();
    for seed in 0..(cases() / 10).max(10) {
        let data = bytes_of(seed.wrapping_mul(31).wrapping_add(7), 4_096);
        let Ok(module) = wasm_smith::Module::new(config.clone(), &mut Unstructured::new(&data))
        else {
            continue;
        };
        let wasm = module.to_bytes();
        assert_eq!(run(&a, &wasm, b"{}"), run(&b, &wasm, b"{}"), "seed {seed}");
    }
}

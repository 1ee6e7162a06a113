//! Hostile modules: each is stopped with a typed error, and the VM keeps serving.

use crate::modules::{self, with_execute};
use crate::World;
use hanok_vm::{CallError, Fault, ValidationError};

fn assert_still_serving(w: &World) {
    let c = w.deploy(
        &modules::counter(),
        &format!("after-{}", w.backend.dump().len()),
    );
    w.exec(c, b"go")
        .expect("an ordinary call after a hostile one");
}

fn run_hostile(body: &str, extra: &str) -> CallError {
    let w = World::new();
    let c = w.deploy(&with_execute(body, extra), "hostile");
    let err = w.exec(c, b"").expect_err("hostile call must fail");
    assert_still_serving(&w);
    err
}

#[test]
fn infinite_loop_runs_out_of_gas() {
    assert_eq!(
        run_hostile("(loop $l (br $l))", ""),
        CallError::Fault(Fault::OutOfGas)
    );
}

#[test]
fn unbounded_recursion_is_a_stack_error_not_a_crash() {
    let err = run_hostile("(call $rec)", "(func $rec (call $rec))");
    assert_eq!(err, CallError::Fault(Fault::StackOverflow));
}

/// Runs `execute` of a module that first runs `body` and then evaluates `expr` (an i32) and
/// stores it under key "k"; returns the stored value. The call must complete normally.
fn observe(body: &str, expr: &str, extra: &str) -> i32 {
    let w = World::new();
    let execute = format!(
        "{body}
         (i32.store (i32.const 8) {expr})
         (call $storage_write (i32.const 1) (i32.const 1) (i32.const 8) (i32.const 4))"
    );
    let extra = format!(r#"(data (i32.const 1) "k") {extra}"#);
    let c = w.deploy(&with_execute(&execute, &extra), "observer");
    w.exec(c, b"").expect("the call completes normally");
    let value = w
        .backend
        .dump()
        .into_iter()
        .find(|(key, _)| key.last() == Some(&b'k'))
        .and_then(|(_, v)| <[u8; 4]>::try_from(v.as_slice()).ok())
        .map(i32::from_le_bytes)
        .expect("the observation was stored");
    assert_still_serving(&w);
    value
}

#[test]
fn memory_growth_past_the_cap_answers_minus_one_and_the_contract_goes_on() {
    // Grow by 64 pages until refused: the refusal is -1, not a trap, and the contract carries on
    // with the memory it has (1 + 7 x 64 = 449 pages; an 8th step would pass 512).
    let grow = r#"(loop $l
          (local.set $r (memory.grow (i32.const 64)))
          (br_if $l (i32.ne (local.get $r) (i32.const -1))))"#;
    let body = format!("(local $r i32) {grow}");
    assert_eq!(observe(&body, "(local.get $r)", ""), -1);
    assert_eq!(observe(&body, "(memory.size)", ""), 449);
    // Memory past the refused grow still works: write to the last page and read it back.
    assert_eq!(
        observe(
            &format!("{body} (i32.store (i32.const 29425660) (i32.const 77))"),
            "(i32.load (i32.const 29425660))",
            ""
        ),
        77
    );
    // Growing to exactly the cap succeeds (and answers the old size, 1 page).
    assert_eq!(observe("", "(memory.grow (i32.const 511))", ""), 1);
    assert_eq!(observe("", "(memory.grow (i32.const 512))", ""), -1);
}

/// Instances come from a pool, and a slot is reused for the next call of the same module with
/// its pages left mapped as the last call grew them: every call must still see a memory of the
/// module's initial size, out-of-bounds accesses past it must trap, and pages it grows into
/// must read zero, whatever an earlier call grew and wrote.
#[test]
fn a_reused_instance_slot_reads_as_new() {
    let w = World::new();
    // The input's first byte picks: `G` grows two pages and writes into both; `R` reads the
    // second page without growing (out of bounds); `Z` checks the size is the initial page,
    // grows two pages and checks they read zero.
    let body = r#"(drop (call $input))
        (call $register_read (i32.const 128))
        (if (i32.eq (i32.load8_u (i32.const 128)) (i32.const 71))
          (then
            (drop (memory.grow (i32.const 2)))
            (i32.store (i32.const 65544) (i32.const 0xabab))
            (i32.store (i32.const 131080) (i32.const 0xcdcd))))
        (if (i32.eq (i32.load8_u (i32.const 128)) (i32.const 82))
          (then (drop (i32.load (i32.const 65544)))))
        (if (i32.eq (i32.load8_u (i32.const 128)) (i32.const 90))
          (then
            (if (i32.ne (memory.size) (i32.const 1)) (then unreachable))
            (if (i32.ne (memory.grow (i32.const 2)) (i32.const 1)) (then unreachable))
            (if (i32.or (i32.load (i32.const 65544)) (i32.load (i32.const 131080)))
              (then unreachable))))"#;
    let c = w.deploy(&with_execute(body, ""), "reused");
    for round in 0..4 {
        w.exec(c, b"G").expect("grows and writes");
        let err = w
            .exec(c, b"R")
            .expect_err("reading past the initial memory traps");
        assert_eq!(
            err.to_string(),
            "wasm trap: out of bounds memory access",
            "round {round}"
        );
        w.exec(c, b"Z")
            .unwrap_or_else(|e| panic!("round {round}: the slot did not read as new: {e}"));
    }
    assert_still_serving(&w);
}

#[test]
fn table_growth_past_the_cap_answers_minus_one() {
    let table = "(table $t 0 funcref)";
    assert_eq!(
        observe(
            "",
            "(table.grow $t (ref.null func) (i32.const 2501))",
            table
        ),
        -1,
        "table.grow past 2,500 elements answers -1"
    );
    assert_eq!(
        observe(
            "",
            "(table.grow $t (ref.null func) (i32.const 2500))",
            table
        ),
        0,
        "table.grow to the cap succeeds and answers the old size"
    );
}

#[test]
fn traps_and_aborts_are_typed_faults() {
    let err = run_hostile("unreachable", "");
    assert_eq!(
        err,
        CallError::Fault(Fault::Trap("`unreachable` instruction executed".into()))
    );
    assert_eq!(
        err.to_string(),
        "wasm trap: `unreachable` instruction executed",
        "one prefix, our own words"
    );
    let err = run_hostile("(drop (i32.load (i32.const 70000)))", "");
    assert_eq!(err.to_string(), "wasm trap: out of bounds memory access");
    let err = run_hostile("(call $abort (i32.const 0) (i32.const 0))", "");
    assert_eq!(err, CallError::Fault(Fault::Aborted(String::new())));
    let err = run_hostile(
        "(drop (call $storage_read (i32.const 65530) (i32.const 100)))",
        "",
    );
    assert!(
        matches!(err, CallError::Fault(Fault::HostMisuse(_))),
        "{err:?}"
    );
}

#[test]
fn deep_nested_calls_hit_our_depth_limit() {
    // A chain of proxies: each calls the next. Depth 1 is the top call.
    let w = World::new();
    let mut next = w.deploy(&modules::counter(), "leaf");
    let mut chain = Vec::new();
    for i in 0..8 {
        // Each link calls the address baked into its data segment.
        let hex: String = next.0.iter().map(|b| format!("\\{b:02x}")).collect();
        let wat = with_execute(
            "(drop (call $call (i32.const 300) (i32.const 0) (i32.const 1)))
             (call $register_read (i32.const 400))
             (if (i32.ne (i32.load8_u (i32.const 400)) (i32.const 0)) (then unreachable))",
            &format!(r#"(data (i32.const 300) "{hex}")"#),
        );
        next = w.deploy(&wat, &format!("link{i}"));
        chain.push(next);
    }
    // 5 links + the leaf = depth 6: allowed.
    w.exec(chain[4], b"").expect("depth 6 is within the limit");
    let err = w.exec(chain[7], b"").expect_err("depth 9 is not");
    assert_eq!(err, CallError::Fault(Fault::CallDepth { limit: 6 }));
}

fn upload(w: &World, wasm: &[u8]) -> Result<(), ValidationError> {
    let mut s = w.session();
    match s.upload(wasm) {
        Ok(_) => Ok(()),
        Err(CallError::Fault(Fault::Invalid(v))) => Err(v),
        Err(other) => panic!("unexpected {other:?}"),
    }
}

fn wat(src: &str) -> Vec<u8> {
    wat::parse_str(src).expect("wat")
}

#[test]
fn uploads_breaking_a_limit_are_refused_with_a_typed_error() {
    let w = World::new();
    let exports = r#"(memory (export "memory") 1)
        (func (export "instantiate") (result i64) (i64.const 0))
        (func (export "execute") (result i64) (i64.const 0))
        (func (export "query") (result i64) (i64.const 0))"#;

    let unknown_import = wat(&format!(
        r#"(module (import "wasi" "fd_write" (func (param i32))) {exports})"#
    ));
    assert_eq!(
        upload(&w, &unknown_import),
        Err(ValidationError::ImportNotAllowed {
            module: "wasi".into(),
            name: "fd_write".into()
        })
    );
    let wrong_sig = wat(&format!(
        r#"(module (import "hanok" "input" (func (param i64))) {exports})"#
    ));
    assert_eq!(
        upload(&w, &wrong_sig),
        Err(ValidationError::ImportSignature {
            name: "input".into()
        })
    );

    let start = wat(&format!(r#"(module {exports} (func $s) (start $s))"#));
    assert_eq!(upload(&w, &start), Err(ValidationError::StartFunction));

    let mut big = wat(&format!("(module {exports})"));
    big.resize(801 * 1024, 0);
    assert!(matches!(
        upload(&w, &big),
        Err(ValidationError::CodeTooLarge { limit: 819_200, .. })
    ));

    let many: String = (0..20_001).map(|_| "(func)").collect();
    let many = wat(&format!("(module {exports} {many})"));
    assert_eq!(
        upload(&w, &many),
        Err(ValidationError::TooManyFunctions {
            count: 20_004,
            limit: 20_000
        })
    );

    let simd = wat(&format!(
        r#"(module {exports} (func (result v128) (v128.const i64x2 0 0)))"#
    ));
    assert_eq!(
        upload(&w, &simd),
        Err(ValidationError::DisabledFeature { feature: "simd" })
    );

    let threads = wat(r#"(module (memory (export "memory") 1 1 shared)
        (func (export "instantiate") (result i64) (i64.const 0))
        (func (export "execute") (result i64) (i64.const 0))
        (func (export "query") (result i64) (i64.const 0)))"#);
    assert_eq!(
        upload(&w, &threads),
        Err(ValidationError::DisabledFeature { feature: "threads" })
    );

    let mem513 = wat(&format!(
        "(module {})",
        exports.replace(
            r#"(memory (export "memory") 1)"#,
            r#"(memory (export "memory") 513)"#
        )
    ));
    assert_eq!(
        upload(&w, &mem513),
        Err(ValidationError::MemoryTooLarge {
            pages: 513,
            limit: 512
        })
    );

    let no_query = wat(r#"(module (memory (export "memory") 1)
        (func (export "instantiate") (result i64) (i64.const 0))
        (func (export "execute") (result i64) (i64.const 0)))"#);
    assert_eq!(
        upload(&w, &no_query),
        Err(ValidationError::MissingExport { name: "query" })
    );

    let nested = format!("{}{}", "(block ".repeat(300), ")".repeat(300));
    let nested = wat(&format!("(module {exports} (func {nested}))"));
    assert!(matches!(
        upload(&w, &nested),
        Err(ValidationError::NestingTooDeep { limit: 256, .. })
    ));

    assert_eq!(upload(&w, b"(module)"), Err(ValidationError::NotWasm));

    // The smallest component (the component model's version and layer): named as one.
    let component = b"\0asm\x0d\x00\x01\x00";
    assert_eq!(upload(&w, component), Err(ValidationError::Component));
    assert!(ValidationError::Component
        .to_string()
        .contains("WebAssembly component"));

    assert_still_serving(&w);
}

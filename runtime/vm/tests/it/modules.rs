//! WAT sources of the test modules.

/// Imports every test module uses.
pub const IMPORTS: &str = r#"
  (import "hanok" "input" (func $input (result i32)))
  (import "hanok" "register_read" (func $register_read (param i32)))
  (import "hanok" "storage_read" (func $storage_read (param i32 i32) (result i32)))
  (import "hanok" "storage_write" (func $storage_write (param i32 i32 i32 i32)))
  (import "hanok" "emit_event" (func $emit_event (param i32 i32)))
  (import "hanok" "call" (func $call (param i32 i32 i32) (result i32)))
  (import "hanok" "abort" (func $abort (param i32 i32)))
"#;

/// A module whose `execute` runs `body` and then returns Ok(""), with a 1-page memory whose
/// byte 0 holds the OK tag. `extra` is spliced in at module level.
pub fn with_execute(body: &str, extra: &str) -> String {
    format!(
        r#"(module {IMPORTS}
  (memory (export "memory") 1)
  (data (i32.const 0) "\00")
  {extra}
  (func (export "instantiate") (result i64) (i64.const 1))
  (func (export "query") (result i64) (i64.const 1))
  (func (export "execute") (result i64) {body} (i64.const 1)))"#
    )
}

/// A counter: `execute` increments an 8-byte little-endian counter at key "n"; when the input is
/// the single byte "E" it emits an event and then fails with a contract error after writing.
pub fn counter() -> String {
    format!(
        r#"(module {IMPORTS}
  (memory (export "memory") 1)
  ;; 0: OK tag; 1: "n" key; 16..24 counter value; 32: ERR tag + message; 64: event bytes
  (data (i32.const 0) "\00n")
  (data (i32.const 32) "\01boom")
  ;; event: u32 len 4 "bump" (no attributes)
  (data (i32.const 64) "\04\00\00\00bump")
  (func (export "instantiate") (result i64) (i64.const 1))
  (func (export "query") (result i64)
    (drop (call $storage_read (i32.const 1) (i32.const 1)))
    (call $register_read (i32.const 16))
    ;; return 8 bytes at 15..23 with tag at 15
    (i32.store8 (i32.const 15) (i32.const 0))
    (i64.const 15) (i64.const 32) (i64.shl) (i64.const 9) (i64.or))
  (func (export "execute") (result i64)
    (local $len i32)
    (if (i32.ge_s (call $storage_read (i32.const 1) (i32.const 1)) (i32.const 0))
      (then (call $register_read (i32.const 16))))
    (i64.store (i32.const 16) (i64.add (i64.load (i32.const 16)) (i64.const 1)))
    (call $storage_write (i32.const 1) (i32.const 1) (i32.const 16) (i32.const 8))
    (call $emit_event (i32.const 64) (i32.const 8))
    (local.set $len (call $input))
    (call $register_read (i32.const 128))
    (if (i32.and (i32.eq (local.get $len) (i32.const 1)) (i32.eq (i32.load8_u (i32.const 128)) (i32.const 69)))
      (then (return (i64.or (i64.shl (i64.const 32) (i64.const 32)) (i64.const 5)))))
    (i64.const 1)))"#
    )
}

/// A proxy: `execute` calls the contract whose 20-byte address is the input, passing "x", and
/// returns whatever the callee returned (its encoded result verbatim).
pub fn proxy() -> String {
    format!(
        r#"(module {IMPORTS}
  (memory (export "memory") 1)
  (data (i32.const 0) "\00x")
  (func (export "instantiate") (result i64) (i64.const 1))
  (func (export "query") (result i64) (i64.const 1))
  (func (export "execute") (result i64)
    (local $len i32)
    (drop (call $input))
    (call $register_read (i32.const 256))
    (local.set $len (call $call (i32.const 256) (i32.const 1) (i32.const 1)))
    (call $register_read (i32.const 512))
    (i64.or (i64.shl (i64.const 512) (i64.const 32)) (i64.extend_i32_u (local.get $len)))))"#
    )
}

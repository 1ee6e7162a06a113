//! Builds the system contracts to wasm with a nested `cargo build` and copies them to `OUT_DIR`.
//!
//! The nested build uses its own target directory (`<workspace>/target/contracts`), the
//! `contract` profile and the `wasm32-unknown-unknown` target. Everything the outer build leaks
//! through the environment (flags, wrappers such as clippy-driver or sccache, target dir,
//! jobserver, the build script's own variables) is removed first, as substrate-wasm-builder does,
//! so the wasm is the same whichever command triggered it.
//!
//! Set `HANOK_CONTRACTS_WASM_DIR` to a directory holding prebuilt `hanok_<name>.wasm` files to
//! skip the nested build (e.g. in a sandbox without the wasm32 target).

use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

const CONTRACTS: &[&str] = &["identity", "registry", "krw", "escrow", "deal"];

/// Variables that would make the nested build differ from a plain `cargo build`.
const LEAKED: &[&str] = &[
    "CARGO_ENCODED_RUSTFLAGS",
    "RUSTFLAGS",
    "CARGO_BUILD_RUSTFLAGS",
    "RUSTDOCFLAGS",
    "CARGO_ENCODED_RUSTDOCFLAGS",
    "RUSTC_WORKSPACE_WRAPPER",
    "RUSTC_WRAPPER",
    "CARGO_BUILD_RUSTC_WRAPPER",
    "CARGO_BUILD_RUSTC_WORKSPACE_WRAPPER",
    "CARGO_TARGET_DIR",
    "CARGO_BUILD_TARGET_DIR",
    "CARGO_BUILD_TARGET",
    "CARGO_MAKEFLAGS",
    "MAKEFLAGS",
    "MFLAGS",
    "CARGO_PRIMARY_PACKAGE",
    "CARGO_MANIFEST_DIR",
    "CARGO_MANIFEST_PATH",
    "CARGO_PKG_NAME",
    "OUT_DIR",
    "TARGET",
    "HOST",
    "PROFILE",
    "OPT_LEVEL",
    "DEBUG",
    "NUM_JOBS",
    "RUSTC_LINKER",
    "LLVM_PROFILE_FILE",
    "__CARGO_FIX_PLZ",
    "CLIPPY_ARGS",
    "CLIPPY_CONF_DIR",
];

/// Prefixes of variables set by the outer build or by config that must not leak.
const LEAKED_PREFIXES: &[&str] = &[
    "CARGO_FEATURE_",
    "CARGO_CFG_",
    "CARGO_PROFILE_",
    "CARGO_TARGET_",
    "CARGO_LLVM_COV",
    "DEP_",
];

fn main() {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap_or_default());
    let workspace = manifest_dir.join("../..");
    let out_dir = PathBuf::from(env::var("OUT_DIR").unwrap_or_default());

    for dir in ["sdk/abi", "sdk/contract"] {
        rerun_on(&workspace.join(dir));
    }
    for c in CONTRACTS {
        rerun_on(&workspace.join("contracts").join(c));
    }
    for f in ["Cargo.toml", "Cargo.lock", "rust-toolchain.toml"] {
        println!("cargo:rerun-if-changed={}", workspace.join(f).display());
    }
    println!("cargo:rerun-if-env-changed=HANOK_CONTRACTS_WASM_DIR");

    let wasm_dir = match env::var_os("HANOK_CONTRACTS_WASM_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => build_contracts(&workspace),
    };
    for c in CONTRACTS {
        let from = wasm_dir.join(format!("hanok_{c}.wasm"));
        let to = out_dir.join(format!("{c}.wasm"));
        let wasm = match fs::read(&from) {
            Ok(w) => w,
            Err(e) => fail(&format!("cannot read {}: {e}", from.display())),
        };
        let Some(wasm) = strip_exports(&wasm) else {
            fail(&format!(
                "{} is not a well-formed wasm module",
                from.display()
            ));
        };
        if let Err(e) = fs::write(&to, wasm) {
            fail(&format!("cannot write {}: {e}", to.display()));
        }
    }
}

/// Exports a contract needs; rustc also exports the linker globals `__data_end` and
/// `__heap_base`, which the VM has no use for, so they are dropped to keep the module to the
/// exact export list the VM validates.
const KEEP_EXPORTS: &[&[u8]] = &[b"memory", b"instantiate", b"execute", b"query", b"migrate"];

/// Rewrites the export section without the exports not in [`KEEP_EXPORTS`]; every other byte
/// is copied unchanged. `None` if the module is truncated or malformed.
fn strip_exports(wasm: &[u8]) -> Option<Vec<u8>> {
    let mut out = wasm.get(..8)?.to_vec();
    let mut rest = wasm.get(8..)?;
    while !rest.is_empty() {
        let id = *rest.first()?;
        let mut r = rest.get(1..)?;
        let size = usize::try_from(read_leb(&mut r)?).ok()?;
        let body = r.get(..size)?;
        let after = r.get(size..)?;
        if id == 7 {
            let mut b = body;
            let count = read_leb(&mut b)?;
            let mut kept = Vec::new();
            let mut n: u32 = 0;
            for _ in 0..count {
                let start = b;
                let name_len = usize::try_from(read_leb(&mut b)?).ok()?;
                let name = b.get(..name_len)?;
                b = b.get(name_len..)?;
                b = b.get(1..)?; // export kind
                read_leb(&mut b)?; // index
                if KEEP_EXPORTS.contains(&name) {
                    kept.extend_from_slice(start.get(..start.len().checked_sub(b.len())?)?);
                    n = n.checked_add(1)?;
                }
            }
            let mut section = Vec::new();
            write_leb(&mut section, n);
            section.extend_from_slice(&kept);
            out.push(7);
            write_leb(&mut out, u32::try_from(section.len()).ok()?);
            out.extend_from_slice(&section);
        } else {
            out.extend_from_slice(rest.get(..rest.len().checked_sub(after.len())?)?);
        }
        rest = after;
    }
    Some(out)
}

fn read_leb(b: &mut &[u8]) -> Option<u32> {
    let mut value: u32 = 0;
    for i in 0..5u32 {
        let byte = *b.first()?;
        *b = b.get(1..)?;
        value |= u32::from(byte & 0x7f).checked_shl(i.checked_mul(7)?)?;
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

fn write_leb(out: &mut Vec<u8>, mut v: u32) {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn rerun_on(dir: &Path) {
    for sub in ["src", "Cargo.toml"] {
        println!("cargo:rerun-if-changed={}", dir.join(sub).display());
    }
}

fn fail(msg: &str) -> ! {
    eprintln!("error: hanok-contracts: {msg}");
    std::process::exit(1);
}

fn build_contracts(workspace: &Path) -> PathBuf {
    let cargo = env::var("CARGO").unwrap_or_else(|_| String::from("cargo"));
    let target_dir = workspace.join("target/contracts");
    let rustc = env::var("RUSTC").unwrap_or_else(|_| String::from("rustc"));
    check_wasm_target(&rustc);

    let mut cmd = Command::new(&cargo);
    cmd.arg("build")
        .arg("--profile")
        .arg("contract")
        .arg("--target")
        .arg("wasm32-unknown-unknown")
        .arg("--manifest-path")
        .arg(workspace.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target_dir)
        // The outer build has already resolved and written Cargo.lock; the nested build must
        // not rewrite it underneath.
        .arg("--locked");
    for c in CONTRACTS {
        cmd.arg("-p").arg(format!("hanok-{c}"));
    }
    for (key, _) in env::vars_os() {
        let Some(key) = key.to_str() else { continue };
        if LEAKED.contains(&key) || LEAKED_PREFIXES.iter().any(|p| key.starts_with(p)) {
            cmd.env_remove(key);
        }
    }
    cmd.current_dir(workspace);
    let status = match cmd.status() {
        Ok(s) => s,
        Err(e) => fail(&format!("cannot run {cargo}: {e}")),
    };
    if !status.success() {
        fail(&format!(
            "building the contracts to wasm failed ({status}); see the cargo output above. \
             If the wasm32 target is missing, run: rustup target add wasm32-unknown-unknown"
        ));
    }
    target_dir.join("wasm32-unknown-unknown/contract")
}

/// Fails early with the fix when the toolchain lacks the wasm32 standard library.
fn check_wasm_target(rustc: &str) {
    let output = Command::new(rustc)
        .args([
            "--print",
            "target-libdir",
            "--target",
            "wasm32-unknown-unknown",
        ])
        .output();
    let present = output.ok().filter(|o| o.status.success()).is_some_and(|o| {
        let dir = String::from_utf8_lossy(&o.stdout).trim().to_string();
        fs::read_dir(&dir).is_ok_and(|mut d| d.next().is_some())
    });
    if !present {
        fail(
            "the wasm32-unknown-unknown target is not installed; \
             run: rustup target add wasm32-unknown-unknown",
        );
    }
}

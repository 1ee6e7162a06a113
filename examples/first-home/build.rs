//! Builds this contract to wasm with a nested `cargo build`, for the integration test.
//!
//! The technique is `contracts/artifacts/build.rs`'s: a nested
//! `cargo build --profile contract --target wasm32-unknown-unknown -p hanok-first-home` into
//! its own target directory (`<workspace>/target/examples-wasm`), with everything the outer
//! build leaks through the environment removed first. The module's path reaches the tests as
//! `env!("FIRST_HOME_WASM")`.
//!
//! The nested build compiles this same crate, so it runs this same script: there the target is
//! wasm32 and the script returns at once, which is what stops the recursion.
//!
//! Set `HANOK_FIRST_HOME_WASM` to a prebuilt `hanok_first_home.wasm` to skip the nested build
//! (e.g. in a sandbox without the wasm32 target).

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Variables that would make the nested build differ from a plain `cargo build`: flags,
/// wrappers (clippy-driver, sccache), the target dir, the jobserver, this script's own inputs.
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
    // The nested build (and anyone building the contract by hand) targets wasm32: nothing to
    // do there, and building again from here would recurse forever.
    if env::var("CARGO_CFG_TARGET_ARCH").as_deref() == Ok("wasm32") {
        return;
    }
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap_or_default());
    let workspace = manifest_dir.join("../..");

    for dir in ["sdk/abi", "sdk/contract", "examples/first-home"] {
        for sub in ["src", "Cargo.toml"] {
            println!(
                "cargo:rerun-if-changed={}",
                workspace.join(dir).join(sub).display()
            );
        }
    }
    for f in ["Cargo.toml", "Cargo.lock", "rust-toolchain.toml"] {
        println!("cargo:rerun-if-changed={}", workspace.join(f).display());
    }
    println!("cargo:rerun-if-env-changed=HANOK_FIRST_HOME_WASM");

    let wasm = match env::var_os("HANOK_FIRST_HOME_WASM") {
        Some(path) => PathBuf::from(path),
        None => build_wasm(&workspace),
    };
    if !wasm.is_file() {
        fail(&format!("{} does not exist", wasm.display()));
    }
    println!("cargo:rustc-env=FIRST_HOME_WASM={}", wasm.display());
}

fn build_wasm(workspace: &Path) -> PathBuf {
    let cargo = env::var("CARGO").unwrap_or_else(|_| String::from("cargo"));
    let target_dir = workspace.join("target/examples-wasm");
    let mut cmd = Command::new(&cargo);
    cmd.args(["build", "--profile", "contract"])
        .args(["--target", "wasm32-unknown-unknown"])
        .args(["-p", "hanok-first-home"])
        .arg("--manifest-path")
        .arg(workspace.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target_dir)
        // The outer build has already resolved and written Cargo.lock; the nested build must
        // not rewrite it underneath.
        .arg("--locked")
        .current_dir(workspace);
    for (key, _) in env::vars_os() {
        let Some(key) = key.to_str() else { continue };
        if LEAKED.contains(&key) || LEAKED_PREFIXES.iter().any(|p| key.starts_with(p)) {
            cmd.env_remove(key);
        }
    }
    let status = match cmd.status() {
        Ok(s) => s,
        Err(e) => fail(&format!("cannot run {cargo}: {e}")),
    };
    if !status.success() {
        fail(&format!(
            "building the contract to wasm failed ({status}); see the cargo output above. \
             If the wasm32 target is missing, run: rustup target add wasm32-unknown-unknown"
        ));
    }
    target_dir.join("wasm32-unknown-unknown/contract/hanok_first_home.wasm")
}

fn fail(msg: &str) -> ! {
    eprintln!("error: hanok-first-home: {msg}");
    std::process::exit(1);
}

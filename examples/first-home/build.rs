//! Builds this contract to wasm for the integration tests, with `hanok-wasm-build`'s isolated
//! nested `cargo build --profile contract --target wasm32-unknown-unknown -p hanok-first-home`
//! into `<workspace>/target/examples-wasm`. The module's path reaches the tests as
//! `env!("FIRST_HOME_WASM")`.
//!
//! The nested build compiles this same crate, so it runs this same script: there the target is
//! wasm32 and the script returns at once, which is what stops the recursion.
//!
//! Set `HANOK_FIRST_HOME_WASM` to a prebuilt `hanok_first_home.wasm` to skip the nested build
//! (e.g. in a sandbox without the wasm32 target).

use hanok_wasm_build::{building_for_wasm, fail, rerun_if_changed, workspace_dir, WasmBuild};
use std::env;
use std::path::PathBuf;

const WHO: &str = "hanok-first-home";

fn main() {
    if building_for_wasm() {
        return;
    }
    let workspace = workspace_dir();
    rerun_if_changed(
        &workspace,
        &["sdk/abi", "sdk/contract", "examples/first-home"],
    );
    println!("cargo:rerun-if-env-changed=HANOK_FIRST_HOME_WASM");

    let wasm = match env::var_os("HANOK_FIRST_HOME_WASM") {
        Some(path) => PathBuf::from(path),
        None => WasmBuild::new(&workspace, "target/examples-wasm")
            .package(WHO)
            .run()
            .unwrap_or_else(|e| fail(WHO, &e))
            .join("hanok_first_home.wasm"),
    };
    if !wasm.is_file() {
        fail(WHO, &format!("{} does not exist", wasm.display()));
    }
    println!("cargo:rustc-env=FIRST_HOME_WASM={}", wasm.display());
}

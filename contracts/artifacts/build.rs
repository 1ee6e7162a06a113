//! Builds the system contracts to wasm and copies them, trimmed to the exports the VM expects,
//! to `OUT_DIR` — with `hanok-wasm-build`'s isolated nested `cargo build` into
//! `<workspace>/target/contracts` (see that crate for why the environment is scrubbed).
//!
//! Set `HANOK_CONTRACTS_WASM_DIR` to a directory holding prebuilt `hanok_<name>.wasm` files to
//! skip the nested build (e.g. in a sandbox without the wasm32 target).

use hanok_wasm_build::{fail, rerun_if_changed, strip_exports, workspace_dir, WasmBuild};
use std::env;
use std::fs;
use std::path::PathBuf;

const CONTRACTS: &[&str] = &["identity", "registry", "krw", "escrow", "deal"];
const WHO: &str = "hanok-contracts";

fn main() {
    let workspace = workspace_dir();
    let out_dir = PathBuf::from(env::var("OUT_DIR").unwrap_or_default());
    let dirs: Vec<String> = ["sdk/abi".to_string(), "sdk/contract".to_string()]
        .into_iter()
        .chain(CONTRACTS.iter().map(|c| format!("contracts/{c}")))
        .collect();
    rerun_if_changed(
        &workspace,
        &dirs.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    println!("cargo:rerun-if-env-changed=HANOK_CONTRACTS_WASM_DIR");

    let wasm_dir = match env::var_os("HANOK_CONTRACTS_WASM_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => CONTRACTS
            .iter()
            .fold(WasmBuild::new(&workspace, "target/contracts"), |b, c| {
                b.package(&format!("hanok-{c}"))
            })
            .run()
            .unwrap_or_else(|e| fail(WHO, &e)),
    };
    for c in CONTRACTS {
        let from = wasm_dir.join(format!("hanok_{c}.wasm"));
        let to = out_dir.join(format!("{c}.wasm"));
        let wasm = fs::read(&from)
            .unwrap_or_else(|e| fail(WHO, &format!("cannot read {}: {e}", from.display())));
        let Some(wasm) = strip_exports(&wasm) else {
            fail(
                WHO,
                &format!("{} is not a well-formed wasm module", from.display()),
            );
        };
        if let Err(e) = fs::write(&to, wasm) {
            fail(WHO, &format!("cannot write {}: {e}", to.display()));
        }
    }
}

//! `hanok-wasm-build`: compile contract crates to wasm, reproducibly, from a tool or a
//! `build.rs`.
//!
//! A contract crate is `#![no_std]` Rust built for `wasm32-unknown-unknown`. [`WasmBuild::run`]
//! runs a nested `cargo build --profile contract --target wasm32-unknown-unknown -p <crates>`
//! into its own target directory and returns where the modules are. hanok's own contracts are
//! built this way by `cargo xtask contracts` and committed (`contracts/artifacts/wasm/`), so the
//! workspace's build never runs it; a contract author's crate whose tests need its module at
//! build time can call it from its build script, as below.
//!
//! The nested build must not inherit what the outer build leaks through the environment (flags,
//! wrappers such as clippy-driver or sccache, the target dir, the jobserver, the build script's
//! own variables): every such variable is removed first, so the wasm is the same whichever
//! command triggered it (`cargo build`, `cargo clippy`, `cargo test`).
//!
//! The module is also the same wherever it is built: the only host paths rustc would embed (in
//! panic location strings: a dependency's source under `$CARGO_HOME/registry/src/…`, a file
//! included from the target dir) are remapped with `--remap-path-prefix` — the workspace to
//! `/workspace`, `$CARGO_HOME` to `/cargo`, the target dir to `/target` — so two checkouts at
//! different paths, on machines with different cargo homes, give byte-identical wasm with the
//! same toolchain and `Cargo.lock`. The flags are passed as `CARGO_ENCODED_RUSTFLAGS`, which also
//! keeps any `rustflags` from a cargo config file (a user's `target-cpu`, say) out of the build.
//!
//! ```no_run
//! // build.rs of a crate whose tests need `my_contract.wasm`
//! let ws = hanok_wasm_build::workspace_dir();
//! hanok_wasm_build::rerun_if_changed(&ws, &["sdk/abi", "sdk/contract", "contracts/my-contract"]);
//! let dir = hanok_wasm_build::WasmBuild::new(&ws, "target/my-wasm")
//!     .package("my-contract")
//!     .run()
//!     .unwrap_or_else(|e| hanok_wasm_build::fail("my-contract", &e));
//! println!("cargo:rustc-env=MY_WASM={}", dir.join("my_contract.wasm").display());
//! ```

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

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

/// The wasm target contracts are built for.
pub const TARGET: &str = "wasm32-unknown-unknown";

/// Whether this build script runs for a wasm32 build: then a crate that builds *itself* to
/// wasm must do nothing, or the nested build would recurse.
pub fn building_for_wasm() -> bool {
    env::var("CARGO_CFG_TARGET_ARCH").as_deref() == Ok("wasm32")
}

/// The workspace root, assuming the calling crate sits two levels below it
/// (`contracts/my-contract`, `examples/my-example`).
pub fn workspace_dir() -> PathBuf {
    PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap_or_default()).join("../..")
}

/// Cargo's home directory, where dependencies' sources are unpacked: `$CARGO_HOME`, else
/// `$HOME/.cargo`, as cargo itself decides. `None` when neither is set.
pub fn cargo_home() -> Option<PathBuf> {
    env::var_os("CARGO_HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
        .or_else(|| env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
}

/// Prints `cargo:rerun-if-changed` for the `src/` and `Cargo.toml` of each crate directory
/// (relative to `workspace`) and for the workspace's manifest, lock file and toolchain file.
pub fn rerun_if_changed(workspace: &Path, crate_dirs: &[&str]) {
    for dir in crate_dirs {
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
}

/// Prints `error: <who>: <msg>` and exits the build script with status 1.
pub fn fail(who: &str, msg: &str) -> ! {
    eprintln!("error: {who}: {msg}");
    std::process::exit(1);
}

/// A nested build of one or more contract crates of a workspace.
#[derive(Debug, Clone)]
pub struct WasmBuild {
    workspace: PathBuf,
    target_dir: PathBuf,
    packages: Vec<String>,
}

impl WasmBuild {
    /// A build in `workspace` into `<workspace>/<target_subdir>`, kept apart from the outer
    /// build's target directory so the two never wait on each other's lock.
    ///
    /// The workspace path is made canonical (no `..`, no symlinks) when it exists, because a
    /// path prefix is remapped only if it is spelled the way cargo passes it to rustc.
    pub fn new(workspace: &Path, target_subdir: &str) -> WasmBuild {
        let workspace = workspace
            .canonicalize()
            .unwrap_or_else(|_| workspace.to_path_buf());
        WasmBuild {
            target_dir: workspace.join(target_subdir),
            workspace,
            packages: Vec::new(),
        }
    }

    /// Builds into `dir` instead (any path; it is remapped like the default one).
    #[must_use]
    pub fn target_dir(mut self, dir: &Path) -> WasmBuild {
        self.target_dir = dir.to_path_buf();
        self
    }

    /// Adds a package (`-p name`) to build.
    #[must_use]
    pub fn package(mut self, name: &str) -> WasmBuild {
        self.packages.push(name.to_string());
        self
    }

    /// Runs the nested build; returns the directory holding the `<crate_name>.wasm` files.
    ///
    /// # Errors
    /// A message with the fix: the wasm32 target missing, cargo not runnable, or the build
    /// failing (its output is already on stderr).
    pub fn run(&self) -> Result<PathBuf, String> {
        let cargo = env::var("CARGO").unwrap_or_else(|_| String::from("cargo"));
        let rustc = env::var("RUSTC").unwrap_or_else(|_| String::from("rustc"));
        check_wasm_target(&rustc)?;
        let mut cmd = Command::new(&cargo);
        cmd.args(["build", "--profile", "contract", "--target", TARGET])
            .arg("--manifest-path")
            .arg(self.workspace.join("Cargo.toml"))
            .arg("--target-dir")
            .arg(&self.target_dir)
            // The outer build has already resolved and written Cargo.lock; the nested build
            // must not rewrite it underneath.
            .arg("--locked")
            .current_dir(&self.workspace);
        for p in &self.packages {
            cmd.arg("-p").arg(p);
        }
        for (key, _) in env::vars_os() {
            let Some(key) = key.to_str() else { continue };
            if LEAKED.contains(&key) || LEAKED_PREFIXES.iter().any(|p| key.starts_with(p)) {
                cmd.env_remove(key);
            }
        }
        // Set after the scrub above, which removes the outer build's value of this variable.
        let mut flags = self.remap_flags();
        flags.extend(LINK_FLAGS.iter().map(|f| f.to_string()));
        cmd.env("CARGO_ENCODED_RUSTFLAGS", flags.join("\x1f"));
        let status = cmd
            .status()
            .map_err(|e| format!("cannot run {cargo}: {e}"))?;
        if !status.success() {
            return Err(format!(
                "building {} to wasm failed ({status}); see the cargo output above. \
                 If the wasm32 target is missing, run: rustup target add {TARGET}",
                self.packages.join(", ")
            ));
        }
        Ok(self.target_dir.join(TARGET).join("contract"))
    }

    /// The `--remap-path-prefix=FROM=TO` flags that keep host paths out of the wasm: the
    /// workspace, `$CARGO_HOME` and the target dir, each as given and as its canonical path
    /// (cargo may pass either spelling), the longest last because rustc applies the last
    /// matching flag and a target dir often sits inside the workspace.
    pub fn remap_flags(&self) -> Vec<String> {
        let mut prefixes: Vec<(PathBuf, &str)> = Vec::new();
        let mut add = |path: &Path, to: &'static str| {
            let canonical = path.canonicalize().ok();
            for p in std::iter::once(path.to_path_buf()).chain(canonical) {
                if p.is_absolute() && !prefixes.iter().any(|(q, _)| *q == p) {
                    prefixes.push((p, to));
                }
            }
        };
        add(&self.workspace, "/workspace");
        if let Some(home) = cargo_home() {
            add(&home, "/cargo");
        }
        add(&self.target_dir, "/target");
        prefixes.sort_by_key(|(p, _)| p.as_os_str().len());
        prefixes
            .into_iter()
            .map(|(from, to)| format!("--remap-path-prefix={}={to}", from.display()))
            .collect()
    }
}

/// The initial linear memory every contract is linked with: 24 pages (1.5 MiB). rustc lays a
/// module out as the 1 MiB shadow stack, then the static data, then `__heap_base`, where the
/// SDK's allocator starts; the pages up to 1.5 MiB leave a call several hundred KiB of heap
/// before it has to grow memory. A call that never grows never changes a page's protection in
/// the VM's pooled instances (no `mprotect` per call; docs/PERFORMANCE.md, "Contract memory").
pub const INITIAL_MEMORY_BYTES: u32 = 24 * 65_536;

/// Linker flags of every contract build: [`INITIAL_MEMORY_BYTES`].
const LINK_FLAGS: &[&str] = &["-Clink-arg=--initial-memory=1572864"];

/// Checks that the toolchain has the wasm32 standard library, so a missing target fails early
/// with the command that fixes it.
///
/// # Errors
/// The message naming `rustup target add wasm32-unknown-unknown`.
pub fn check_wasm_target(rustc: &str) -> Result<(), String> {
    let output = Command::new(rustc)
        .args(["--print", "target-libdir", "--target", TARGET])
        .output();
    let present = output.ok().filter(|o| o.status.success()).is_some_and(|o| {
        let dir = String::from_utf8_lossy(&o.stdout).trim().to_string();
        std::fs::read_dir(&dir).is_ok_and(|mut d| d.next().is_some())
    });
    if present {
        Ok(())
    } else {
        Err(format!(
            "the {TARGET} target is not installed; run: rustup target add {TARGET}"
        ))
    }
}

/// The files of a crate directory that can change its wasm: `Cargo.toml`, `build.rs` and the
/// `.rs` files under `src/` (not READMEs, schemas, tests or an editor's swap files, so those
/// never make a committed module look stale; a rare `include_bytes!` of another file is caught
/// by the rebuild check instead).
fn source_files(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
        for entry in std::fs::read_dir(dir)? {
            let path = entry?.path();
            if path.is_dir() {
                walk(&path, out)?;
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
        Ok(())
    }
    for file in ["Cargo.toml", "build.rs"] {
        if dir.join(file).is_file() {
            out.push(dir.join(file));
        }
    }
    if dir.join("src").is_dir() {
        walk(&dir.join("src"), out)?;
    }
    Ok(())
}

/// A fingerprint of the sources a contract is built from: sha256 (lowercase hex) over every
/// source file (see `source_files`) of the crate directories `dirs` (relative to
/// `workspace`), in path order, each as `path NUL length(u64 LE) content` with CRLF read as LF
/// so a Windows checkout agrees.
///
/// It lets a plain `cargo test` say "this committed module was built from other sources"
/// without the wasm32 target; only a rebuild can say whether the bytes would differ.
///
/// # Errors
/// A directory or file that cannot be read.
pub fn sources_fingerprint(workspace: &Path, dirs: &[String]) -> std::io::Result<String> {
    use sha2::{Digest, Sha256};
    let mut files = Vec::new();
    for dir in dirs {
        source_files(&workspace.join(dir), &mut files)?;
    }
    let mut named: Vec<(String, PathBuf)> = files
        .into_iter()
        .map(|f| {
            let rel = f.strip_prefix(workspace).unwrap_or(&f);
            let name = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy())
                .collect::<Vec<_>>()
                .join("/");
            (name, f)
        })
        .collect();
    named.sort();
    named.dedup_by(|a, b| a.0 == b.0);
    let mut h = Sha256::new();
    for (name, path) in named {
        let bytes = std::fs::read(&path)?;
        let text: Vec<u8> = bytes
            .iter()
            .enumerate()
            .filter(|&(i, &b)| !(b == b'\r' && bytes.get(i.wrapping_add(1)) == Some(&b'\n')))
            .map(|(_, &b)| b)
            .collect();
        h.update(name.as_bytes());
        h.update([0]);
        h.update((text.len() as u64).to_le_bytes());
        h.update(&text);
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// Exports a contract needs. rustc also exports the linker globals `__data_end` and
/// `__heap_base`, which the VM has no use for.
pub const CONTRACT_EXPORTS: &[&[u8]] =
    &[b"memory", b"instantiate", b"execute", b"query", b"migrate"];

/// Rewrites a module's export section keeping only [`CONTRACT_EXPORTS`]; every other byte is
/// copied unchanged. `None` if the module is truncated or malformed.
pub fn strip_exports(wasm: &[u8]) -> Option<Vec<u8>> {
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
                if CONTRACT_EXPORTS.contains(&name) {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A module with a memory and three exports: `memory`, `__data_end` (a global), `execute`.
    fn module() -> Vec<u8> {
        let mut m = b"\0asm\x01\0\0\0".to_vec();
        // type section: one type () -> ()
        m.extend_from_slice(&[1, 4, 1, 0x60, 0, 0]);
        // function section: one function of type 0
        m.extend_from_slice(&[3, 2, 1, 0]);
        // memory section: one memory, min 1
        m.extend_from_slice(&[5, 3, 1, 0, 1]);
        // global section: one immutable i32 = 0
        m.extend_from_slice(&[6, 6, 1, 0x7f, 0, 0x41, 0, 0x0b]);
        // export section
        let mut exports = vec![3u8];
        for (name, kind) in [(&b"memory"[..], 2u8), (b"__data_end", 3), (b"execute", 0)] {
            exports.push(name.len() as u8);
            exports.extend_from_slice(name);
            exports.extend_from_slice(&[kind, 0]);
        }
        m.push(7);
        m.push(exports.len() as u8);
        m.extend_from_slice(&exports);
        // code section: one empty body
        m.extend_from_slice(&[10, 4, 1, 2, 0, 0x0b]);
        m
    }

    #[test]
    fn strip_keeps_only_contract_exports_and_every_other_byte() {
        let m = module();
        let stripped = strip_exports(&m).unwrap_or_default();
        let text = String::from_utf8_lossy(&stripped);
        assert!(text.contains("memory") && text.contains("execute"));
        assert!(!text.contains("__data_end"));
        // Only the export section shrank: by the removed entry (1 len + 10 name + 2).
        assert_eq!(m.len() - stripped.len(), 13);
        // Stripping is idempotent.
        assert_eq!(strip_exports(&stripped), Some(stripped.clone()));
    }

    #[test]
    fn remap_flags_cover_the_workspace_cargo_home_and_target_dir_longest_last() {
        let b = WasmBuild::new(Path::new("/nonexistent/ws"), "target/wasm");
        let flags = b.remap_flags();
        let at = |flag: &str| flags.iter().position(|f| f == flag);
        let ws = at("--remap-path-prefix=/nonexistent/ws=/workspace");
        let target = at("--remap-path-prefix=/nonexistent/ws/target/wasm=/target");
        assert!(ws.is_some() && target > ws, "{flags:?}");
        if cargo_home().is_some() {
            assert!(flags.iter().any(|f| f.ends_with("=/cargo")), "{flags:?}");
        }
        let from_len = |f: &String| f.rsplit_once('=').map_or(0, |(from, _)| from.len());
        assert!(
            flags.windows(2).all(|w| from_len(&w[0]) <= from_len(&w[1])),
            "{flags:?}"
        );
    }

    #[test]
    fn truncated_modules_are_refused() {
        let m = module();
        for cut in [3, 9, m.len() - 1] {
            assert_eq!(strip_exports(&m[..cut]), None, "cut at {cut}");
        }
    }
}

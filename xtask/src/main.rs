//! `cargo xtask`: the workspace's own maintenance commands, never shipped in the `hanok` binary.
//!
//! `cargo xtask contracts` rebuilds every committed contract artifact — the six system
//! contracts and `examples/first-home` — with the pinned toolchain, in one nested
//! `cargo build --profile contract --target wasm32-unknown-unknown` (`hanok-wasm-build`, host
//! paths remapped), trims each module to the exports the VM expects, and writes them with their
//! manifest to `contracts/artifacts/wasm/`. `cargo xtask contracts --check` does the same build
//! but only compares: it fails naming each artifact whose bytes differ from the committed ones.
//!
//! Why an xtask and not `hanok contracts --rebuild`: rebuilding needs the workspace's sources,
//! the wasm32 target and cargo, none of which a member running the node has or should need; the
//! `hanok` binary only ever carries the committed bytes. An xtask is plain Rust in the workspace
//! (linted and tested like the rest), needs nothing installed, and `cargo xtask` (an alias in
//! `.cargo/config.toml`) works from any directory of the checkout.

use anyhow::{bail, ensure, Context, Result};
use hanok_wasm_build::{check_wasm_target, sources_fingerprint, strip_exports, WasmBuild, TARGET};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::{BTreeSet, HashMap};
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

/// One committed artifact: what it is called in `contracts/artifacts/wasm/` and which crate
/// it is built from.
struct Artifact {
    /// The file stem in the artifacts folder and the name in the manifest.
    name: &'static str,
    /// The cargo package (`-p`).
    package: &'static str,
    /// Deployed at genesis (`hanok_contracts::ALL`), or an example for contract authors.
    kind: &'static str,
}

/// Every committed artifact, in the order of `hanok_contracts::ALL` then the examples. Adding a
/// contract means adding it here, to `contracts/artifacts/src/lib.rs`, and rerunning.
const ARTIFACTS: &[Artifact] = &[
    Artifact {
        name: "identity",
        package: "hanok-identity",
        kind: "system",
    },
    Artifact {
        name: "registry",
        package: "hanok-registry",
        kind: "system",
    },
    Artifact {
        name: "krw",
        package: "hanok-krw",
        kind: "system",
    },
    Artifact {
        name: "escrow",
        package: "hanok-escrow",
        kind: "system",
    },
    Artifact {
        name: "deal",
        package: "hanok-deal",
        kind: "system",
    },
    Artifact {
        name: "tax",
        package: "hanok-tax",
        kind: "system",
    },
    Artifact {
        name: "first-home",
        package: "hanok-first-home",
        kind: "example",
    },
];

/// Where the artifacts are committed, relative to the workspace root.
const ARTIFACTS_DIR: &str = "contracts/artifacts/wasm";
/// The manifest's file name in [`ARTIFACTS_DIR`].
const MANIFEST: &str = "manifest.toml";
/// The nested build's target dir, relative to the workspace root. Fixed, so a refresh after a
/// check (or the reverse) reuses the build; its path never reaches the wasm (it is remapped).
const BUILD_DIR: &str = "target/contracts";
/// Where every run stages the finished set (trimmed wasm + manifest) before copying or
/// comparing it, so a failed check leaves the rebuilt files to diff against the committed ones.
const STAGE_DIR: &str = "target/contracts-rebuilt";

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  contracts           rebuild every contract artifact (the six system contracts and
                      examples/first-home) with the pinned toolchain and write them, with
                      their manifest, to contracts/artifacts/wasm/; commit what changed
  contracts --check   rebuild into target/contracts-rebuilt/ and fail if any artifact differs
                      from the committed one (what .ci/run does)
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = match args.as_slice() {
        ["contracts"] => contracts(Mode::Refresh),
        ["contracts", "--check"] => contracts(Mode::Check),
        ["help" | "--help" | "-h"] => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        _ => {
            eprint!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Refresh,
    Check,
}

/// The workspace root: this crate sits directly below it.
fn workspace() -> Result<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    dir.canonicalize()
        .with_context(|| format!("finding the workspace root from {}", dir.display()))
}

fn contracts(mode: Mode) -> Result<()> {
    let ws = workspace()?;
    let toolchain = pinned_toolchain(&ws)?;
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| String::from("rustc"));
    check_wasm_target(&rustc).map_err(anyhow::Error::msg)?;

    let build = ARTIFACTS
        .iter()
        .fold(WasmBuild::new(&ws, BUILD_DIR), |b, a| b.package(a.package));
    eprintln!(
        "building {} contracts to wasm with {toolchain} (paths remapped: {})",
        ARTIFACTS.len(),
        build.remap_flags().join(" ")
    );
    let out = build.run().map_err(anyhow::Error::msg)?;

    // Stage the finished set: the manifest is derived from exactly these bytes.
    let stage = ws.join(STAGE_DIR);
    if stage.exists() {
        fs::remove_dir_all(&stage).with_context(|| format!("clearing {}", stage.display()))?;
    }
    fs::create_dir_all(&stage).with_context(|| format!("creating {}", stage.display()))?;
    let mut built = Vec::with_capacity(ARTIFACTS.len());
    for a in ARTIFACTS {
        let from = out.join(format!("{}.wasm", a.package.replace('-', "_")));
        let raw = fs::read(&from).with_context(|| format!("reading {}", from.display()))?;
        let Some(wasm) = strip_exports(&raw) else {
            bail!("{} is not a well-formed wasm module", from.display());
        };
        write(&stage.join(file_name(a)), &wasm)?;
        built.push(wasm);
    }
    let mut sources = Vec::with_capacity(ARTIFACTS.len());
    for (a, dirs) in ARTIFACTS.iter().zip(source_dirs(&ws)?) {
        let hash = sources_fingerprint(&ws, &dirs)
            .with_context(|| format!("hashing the sources of {}", a.package))?;
        sources.push((dirs, hash));
    }
    let manifest = render_manifest(&toolchain, &built, &sources);
    write(&stage.join(MANIFEST), manifest.as_bytes())?;

    let committed = ws.join(ARTIFACTS_DIR);
    match mode {
        Mode::Refresh => refresh(&stage, &committed, &built),
        Mode::Check => check(&stage, &committed, &built),
    }
}

fn file_name(a: &Artifact) -> String {
    format!("{}.wasm", a.name)
}

/// The toolchain the artifacts must be built with: `channel` in `rust-toolchain.toml`, checked
/// against the `rustc` that will run. Returns rustc's one-line version for the manifest.
fn pinned_toolchain(ws: &Path) -> Result<String> {
    let path = ws.join("rust-toolchain.toml");
    let text = fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let channel = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("channel"))
        .filter_map(|l| l.trim_start().strip_prefix('='))
        .map(|v| v.trim().trim_matches('"').to_string())
        .next()
        .with_context(|| format!("{} names no `channel`", path.display()))?;
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| String::from("rustc"));
    let output = Command::new(&rustc)
        .arg("-vV")
        .current_dir(ws)
        .output()
        .with_context(|| format!("running {rustc} -vV"))?;
    ensure!(output.status.success(), "{rustc} -vV failed");
    let text = String::from_utf8_lossy(&output.stdout);
    let release = text
        .lines()
        .find_map(|l| l.strip_prefix("release: "))
        .unwrap_or_default();
    ensure!(
        release == channel,
        "contracts are built with the toolchain pinned in rust-toolchain.toml ({channel}), \
         but {rustc} is {release}; run this from the checkout without RUSTUP_TOOLCHAIN or \
         `+toolchain` overrides"
    );
    Ok(text.lines().next().unwrap_or_default().trim().to_string())
}

/// For each artifact, the workspace directories of the path crates it is built from (itself
/// and its normal and build dependencies inside the workspace, e.g. `sdk/abi`), sorted, from
/// `cargo metadata` for the wasm32 target, so a new shared crate is picked up on the next run.
fn source_dirs(ws: &Path) -> Result<Vec<Vec<String>>> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| String::from("cargo"));
    let output = Command::new(&cargo)
        .args(["metadata", "--format-version", "1", "--locked"])
        .args(["--filter-platform", TARGET])
        .current_dir(ws)
        .output()
        .with_context(|| format!("running {cargo} metadata"))?;
    ensure!(
        output.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let meta: Value = serde_json::from_slice(&output.stdout).context("parsing cargo metadata")?;
    let empty = Vec::new();
    let packages = meta["packages"].as_array().unwrap_or(&empty);
    // Path packages only (no `source`): id → (name, directory relative to the workspace).
    let mut local: HashMap<&str, (&str, String)> = HashMap::new();
    for p in packages {
        if !p["source"].is_null() {
            continue;
        }
        let (Some(id), Some(name), Some(manifest)) = (
            p["id"].as_str(),
            p["name"].as_str(),
            p["manifest_path"].as_str(),
        ) else {
            continue;
        };
        let dir = Path::new(manifest).parent().unwrap_or(ws);
        let rel = dir.strip_prefix(ws).unwrap_or(dir);
        let rel = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/");
        local.insert(id, (name, rel));
    }
    let nodes = meta["resolve"]["nodes"].as_array().unwrap_or(&empty);
    let deps: HashMap<&str, Vec<&str>> = nodes
        .iter()
        .filter_map(|n| {
            let id = n["id"].as_str()?;
            let deps = n["deps"]
                .as_array()?
                .iter()
                .filter(|d| {
                    // A dev-dependency never reaches the wasm.
                    d["dep_kinds"]
                        .as_array()
                        .is_some_and(|k| k.iter().any(|k| k["kind"].as_str() != Some("dev")))
                })
                .filter_map(|d| d["pkg"].as_str())
                .collect();
            Some((id, deps))
        })
        .collect();
    ARTIFACTS
        .iter()
        .map(|a| {
            let root = local
                .iter()
                .find(|(_, (name, _))| *name == a.package)
                .map(|(id, _)| *id)
                .with_context(|| format!("{} is not a workspace package", a.package))?;
            let mut seen = BTreeSet::new();
            let mut todo = vec![root];
            while let Some(id) = todo.pop() {
                if let Some((_, dir)) = local.get(id) {
                    if seen.insert(dir.clone()) {
                        todo.extend(deps.get(id).into_iter().flatten());
                    }
                }
            }
            Ok(seen.into_iter().collect())
        })
        .collect()
}

/// The manifest: a TOML file a member can read, and check with `sha256sum` alone. Nothing in
/// it depends on the machine or the time, so it is as reproducible as the wasm.
fn render_manifest(
    toolchain: &str,
    built: &[Vec<u8>],
    sources: &[(Vec<String>, String)],
) -> String {
    let mut m = String::new();
    m.push_str(
        "# The committed wasm of hanok's contracts: the bytes `hanok-contracts` embeds and the\n\
         # node deploys at genesis (kind = \"system\"), and examples/first-home (kind = \"example\").\n\
         # Generated by `cargo xtask contracts`; `cargo xtask contracts --check` (in .ci/run) fails\n\
         # when a rebuild differs. Do not edit: change a contract, rerun the command, commit both.\n\
         # Check a file without Rust: `sha256sum contracts/artifacts/wasm/deal.wasm`.\n\
         # `sources_sha256` fingerprints the crates in `sources` (hanok_wasm_build::sources_fingerprint)\n\
         # so that `cargo test -p hanok-contracts` notices a contract edited without a rebuild.\n\n",
    );
    // `writeln!` into a String cannot fail.
    let _ = writeln!(m, "toolchain = \"{toolchain}\"");
    let _ = writeln!(m, "target = \"{TARGET}\"");
    let _ = writeln!(m, "profile = \"contract\"");
    let _ = writeln!(m, "remapped = [\"/workspace\", \"/cargo\", \"/target\"]");
    for ((a, wasm), (dirs, hash)) in ARTIFACTS.iter().zip(built).zip(sources) {
        let _ = writeln!(m, "\n[[contract]]");
        let _ = writeln!(m, "name = \"{}\"", a.name);
        let _ = writeln!(m, "kind = \"{}\"", a.kind);
        let _ = writeln!(m, "package = \"{}\"", a.package);
        let _ = writeln!(m, "file = \"{}\"", file_name(a));
        let _ = writeln!(m, "size = {}", wasm.len());
        let _ = writeln!(m, "sha256 = \"{}\"", hex::encode(Sha256::digest(wasm)));
        let dirs: Vec<String> = dirs.iter().map(|d| format!("\"{d}\"")).collect();
        let _ = writeln!(m, "sources = [{}]", dirs.join(", "));
        let _ = writeln!(m, "sources_sha256 = \"{hash}\"");
    }
    m
}

fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))
}

/// Copies the staged set over the committed one and removes committed wasm no longer built.
fn refresh(stage: &Path, committed: &Path, built: &[Vec<u8>]) -> Result<()> {
    fs::create_dir_all(committed).with_context(|| format!("creating {}", committed.display()))?;
    let mut changed = Vec::new();
    for (a, wasm) in ARTIFACTS.iter().zip(built) {
        let to = committed.join(file_name(a));
        if fs::read(&to).ok().as_deref() != Some(wasm.as_slice()) {
            changed.push(a.name);
            write(&to, wasm)?;
        }
        println!(
            "{:<10} {:>7} bytes  {}",
            a.name,
            wasm.len(),
            hex::encode(Sha256::digest(wasm))
        );
    }
    let manifest = fs::read(stage.join(MANIFEST)).context("reading the staged manifest")?;
    write(&committed.join(MANIFEST), &manifest)?;
    let known: Vec<String> = ARTIFACTS.iter().map(file_name).collect();
    for entry in fs::read_dir(committed)? {
        let path = entry?.path();
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if name.ends_with(".wasm") && !known.contains(&name) {
            fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
            println!("removed {name} (no longer built)");
        }
    }
    if changed.is_empty() {
        println!("{ARTIFACTS_DIR}: unchanged");
    } else {
        println!(
            "{ARTIFACTS_DIR}: rewrote {}; commit them with the source change",
            changed.join(", ")
        );
    }
    Ok(())
}

/// The lines of two manifests that differ, each with the contract it belongs to, e.g.
/// `deal: sources_sha256 = "…" (committed) vs "…" (rebuilt)`: a source change that leaves the
/// wasm as it was shows up here alone.
fn manifest_diff(committed: &str, rebuilt: &str) -> String {
    let (a, b): (Vec<&str>, Vec<&str>) = (committed.lines().collect(), rebuilt.lines().collect());
    if a.len() != b.len() {
        return format!(
            "{} lines committed, {} rebuilt (diff {ARTIFACTS_DIR}/{MANIFEST} {STAGE_DIR}/{MANIFEST})",
            a.len(),
            b.len()
        );
    }
    let mut section = String::from("manifest");
    let mut out = Vec::new();
    for (old, new) in a.iter().zip(&b) {
        if let Some(name) = new.strip_prefix("name = ") {
            section = name.trim_matches('"').to_string();
        }
        if old != new {
            let key = new.split(" = ").next().unwrap_or_default();
            let value = |line: &str| line.split_once(" = ").map_or(line, |(_, v)| v).to_string();
            out.push(format!(
                "{section}: {key} = {} (committed) vs {} (rebuilt)",
                value(old),
                value(new)
            ));
        }
    }
    out.join("; ")
}

/// Compares the staged set with the committed one; fails naming every difference.
fn check(stage: &Path, committed: &Path, built: &[Vec<u8>]) -> Result<()> {
    let mut problems = Vec::new();
    for (a, wasm) in ARTIFACTS.iter().zip(built) {
        let path = committed.join(file_name(a));
        match fs::read(&path) {
            Ok(old) if old == *wasm => {}
            Ok(old) => problems.push(format!(
                "{}: committed {} bytes sha256 {}, rebuilt {} bytes sha256 {}",
                a.name,
                old.len(),
                hex::encode(Sha256::digest(&old)),
                wasm.len(),
                hex::encode(Sha256::digest(wasm))
            )),
            Err(e) => problems.push(format!("{}: {}: {e}", a.name, path.display())),
        }
    }
    let staged = fs::read_to_string(stage.join(MANIFEST)).context("reading the staged manifest")?;
    match fs::read_to_string(committed.join(MANIFEST)) {
        Ok(old) if old == staged => {}
        Ok(old) => problems.push(format!("{MANIFEST}: {}", manifest_diff(&old, &staged))),
        Err(e) => problems.push(format!("{MANIFEST}: {e}")),
    }
    if problems.is_empty() {
        println!(
            "{ARTIFACTS_DIR}: all {} artifacts and the manifest match a fresh build",
            ARTIFACTS.len()
        );
        return Ok(());
    }
    bail!(
        "the committed contract artifacts are not what their sources build to:\n  {}\n\
         The rebuilt files are in {STAGE_DIR}/. If the source change is intended, refresh \
         them with `cargo xtask contracts` and commit {ARTIFACTS_DIR}/ with it.",
        problems.join("\n  ")
    )
}

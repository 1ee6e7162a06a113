//! `hanok-contracts`: the system contracts (identity, registry, krw, escrow, deal, tax) as committed
//! wasm, embedded as byte constants, for genesis, the test harness and benchmarks; and the
//! example contract `examples/first-home`, for its own tests.
//!
//! The modules are files in `contracts/artifacts/wasm/`, listed with their size, sha256, the
//! toolchain that built them and a fingerprint of their sources in `wasm/manifest.toml`. They
//! are rebuilt — reproducibly: pinned toolchain, host paths remapped, byte-identical on any
//! machine — by `cargo xtask contracts` (see `xtask/src/main.rs`), and `.ci/run` fails when a
//! rebuild differs from what is committed (`cargo xtask contracts --check`). Because the bytes
//! are committed, building the node needs neither the wasm32 target nor a nested cargo build,
//! and every member of a consortium deploys the same genesis code.
//!
//! The tests here check the embedded bytes against the manifest, the manifest's toolchain
//! against `rust-toolchain.toml`, the contracts' sources against the fingerprint taken at the
//! last rebuild (so an edited contract whose wasm was not rebuilt fails `cargo test`, with the
//! command that fixes it), and that the committed JSON Schemas of every contract's messages
//! under `contracts/<name>/schema/` are current (regenerate with
//! `UPDATE_SCHEMA=1 cargo test -p hanok-contracts`).
//!
//! Architecture Invariant: this crate has no dependency and no build script; it only carries
//! bytes. The VM validates them like any uploaded code.

/// The identity (roles) contract.
pub const IDENTITY: &[u8] = include_bytes!("../wasm/identity.wasm");
/// The land registry contract.
pub const REGISTRY: &[u8] = include_bytes!("../wasm/registry.wasm");
/// The KRW deposit token contract.
pub const KRW: &[u8] = include_bytes!("../wasm/krw.wasm");
/// The escrow contract.
pub const ESCROW: &[u8] = include_bytes!("../wasm/escrow.wasm");
/// The deal (title-transfer) contract.
pub const DEAL: &[u8] = include_bytes!("../wasm/deal.wasm");
/// The acquisition-tax contract (rates by price band, the first-home relief).
pub const TAX: &[u8] = include_bytes!("../wasm/tax.wasm");

/// Every system contract as `(name, wasm)`, in deployment order (each one's dependencies first,
/// though addresses are known in advance so the order is not required).
pub const ALL: &[(&str, &[u8])] = &[
    ("identity", IDENTITY),
    ("registry", REGISTRY),
    ("krw", KRW),
    ("escrow", ESCROW),
    ("deal", DEAL),
    ("tax", TAX),
];

/// The example contract of `examples/first-home` (a first-home-buyer benefit register). Not a
/// system contract: not in [`ALL`], never deployed at genesis; its tests upload it.
pub const FIRST_HOME: &[u8] = include_bytes!("../wasm/first-home.wasm");

/// Every committed artifact as `(name in the manifest, wasm)`: [`ALL`] and then the examples.
pub const ARTIFACTS: &[(&str, &[u8])] = &[
    ("identity", IDENTITY),
    ("registry", REGISTRY),
    ("krw", KRW),
    ("escrow", ESCROW),
    ("deal", DEAL),
    ("tax", TAX),
    ("first-home", FIRST_HOME),
];

/// `wasm/manifest.toml`: name, kind, package, file, size, sha256 and sources of every artifact,
/// and the toolchain that built them.
pub const MANIFEST: &str = include_str!("../wasm/manifest.toml");

#[cfg(test)]
mod tests {
    use super::*;
    use schemars::schema::RootSchema;
    use schemars::schema_for;
    use std::path::PathBuf;

    /// The VM's upload limit.
    const MAX_CODE: usize = 800 * 1024;

    /// An unsigned LEB128 number, consumed from the front of `b`.
    fn leb(b: &mut &[u8]) -> usize {
        let (mut v, mut shift) = (0usize, 0);
        while let Some((&byte, rest)) = b.split_first() {
            *b = rest;
            v |= usize::from(byte & 0x7f) << shift;
            shift += 7;
            if byte & 0x80 == 0 {
                break;
            }
        }
        v
    }

    /// The export names of a module (a minimal walk of its sections).
    fn exports(wasm: &[u8]) -> Vec<String> {
        let mut rest = wasm.get(8..).unwrap_or_default();
        let mut names = Vec::new();
        while let Some((&id, mut r)) = rest.split_first() {
            let size = leb(&mut r);
            let (mut body, after) = r.split_at(size.min(r.len()));
            if id == 7 {
                for _ in 0..leb(&mut body) {
                    let len = leb(&mut body);
                    let (name, tail) = body.split_at(len.min(body.len()));
                    names.push(String::from_utf8_lossy(name).into_owned());
                    body = tail.get(1..).unwrap_or_default();
                    leb(&mut body);
                }
            }
            rest = after;
        }
        names.sort();
        names
    }

    /// The initial page count of a module's memory (section 5), if it declares one.
    fn initial_pages(wasm: &[u8]) -> Option<usize> {
        let mut rest = wasm.get(8..)?;
        while let Some((&id, mut r)) = rest.split_first() {
            let size = leb(&mut r);
            let (mut body, after) = r.split_at(size.min(r.len()));
            if id == 5 && leb(&mut body) >= 1 {
                body = body.get(1..)?;
                return Some(leb(&mut body));
            }
            rest = after;
        }
        None
    }

    #[test]
    fn every_contract_starts_with_room_for_a_calls_heap() {
        // Linked with hanok_wasm_build::INITIAL_MEMORY_BYTES, so a call allocates without
        // growing memory (and the VM changes no page's protection per call).
        let want = hanok_wasm_build::INITIAL_MEMORY_BYTES as usize / 65_536;
        for (name, wasm) in ARTIFACTS {
            assert_eq!(initial_pages(wasm), Some(want), "{name}: {REFRESH}");
        }
    }

    #[derive(serde::Deserialize)]
    struct Manifest {
        toolchain: String,
        contract: Vec<Entry>,
    }

    #[derive(serde::Deserialize)]
    struct Entry {
        name: String,
        kind: String,
        file: String,
        size: usize,
        sha256: String,
        sources: Vec<String>,
        sources_sha256: String,
    }

    fn manifest() -> Manifest {
        toml::from_str(MANIFEST).unwrap_or_else(|e| panic!("wasm/manifest.toml: {e}"))
    }

    const REFRESH: &str =
        "refresh with `cargo xtask contracts` and commit contracts/artifacts/wasm/";

    #[test]
    fn embedded_bytes_are_the_ones_the_manifest_lists() {
        let m = manifest();
        let listed: Vec<&str> = m.contract.iter().map(|c| c.name.as_str()).collect();
        let embedded: Vec<&str> = ARTIFACTS.iter().map(|(n, _)| *n).collect();
        assert_eq!(listed, embedded, "manifest entries vs ARTIFACTS");
        for (entry, (name, wasm)) in m.contract.iter().zip(ARTIFACTS) {
            assert_eq!(entry.file, format!("{name}.wasm"));
            let system = ALL.iter().any(|(n, _)| n == name);
            assert_eq!(
                entry.kind,
                if system { "system" } else { "example" },
                "{name}"
            );
            assert_eq!(entry.size, wasm.len(), "{name}: size");
            let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(wasm));
            assert_eq!(entry.sha256, sha, "{name}: sha256 of the embedded bytes");
        }
    }

    #[test]
    fn artifacts_were_built_with_the_pinned_toolchain() {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../rust-toolchain.toml");
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let channel = text
            .lines()
            .find_map(|l| l.trim().strip_prefix("channel = "))
            .map(|v| v.trim_matches('"'))
            .unwrap_or_else(|| panic!("{}: no channel", path.display()));
        assert!(
            manifest()
                .toolchain
                .starts_with(&format!("rustc {channel} ")),
            "the artifacts were built with {}, but rust-toolchain.toml pins {channel}; {REFRESH}",
            manifest().toolchain
        );
    }

    #[test]
    fn artifacts_were_built_from_the_current_sources() {
        let ws = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
        let stale: Vec<String> = manifest()
            .contract
            .iter()
            .filter(|c| {
                hanok_wasm_build::sources_fingerprint(&ws, &c.sources)
                    .map_or(true, |h| h != c.sources_sha256)
            })
            .map(|c| format!("{} (built from {})", c.name, c.sources.join(", ")))
            .collect();
        assert!(
            stale.is_empty(),
            "the sources of these contracts changed since their wasm was built: {}; {REFRESH}",
            stale.join("; ")
        );
    }

    #[test]
    fn every_contract_is_a_wasm_module_within_the_size_limit() {
        for (name, wasm) in ARTIFACTS {
            assert_eq!(
                wasm.get(..8),
                Some(&b"\0asm\x01\0\0\0"[..]),
                "{name}: not a wasm module"
            );
            assert!(
                wasm.len() <= MAX_CODE,
                "{name}: {} bytes exceeds 800 KiB",
                wasm.len()
            );
            assert_eq!(
                exports(wasm),
                ["execute", "instantiate", "memory", "query"],
                "{name}"
            );
        }
    }

    fn schemas() -> Vec<(&'static str, [(&'static str, RootSchema); 3])> {
        vec![
            (
                "identity",
                [
                    ("instantiate", schema_for!(hanok_identity::InstantiateMsg)),
                    ("execute", schema_for!(hanok_identity::ExecuteMsg)),
                    ("query", schema_for!(hanok_identity::QueryMsg)),
                ],
            ),
            (
                "registry",
                [
                    ("instantiate", schema_for!(hanok_registry::InstantiateMsg)),
                    ("execute", schema_for!(hanok_registry::ExecuteMsg)),
                    ("query", schema_for!(hanok_registry::QueryMsg)),
                ],
            ),
            (
                "krw",
                [
                    ("instantiate", schema_for!(hanok_krw::InstantiateMsg)),
                    ("execute", schema_for!(hanok_krw::ExecuteMsg)),
                    ("query", schema_for!(hanok_krw::QueryMsg)),
                ],
            ),
            (
                "escrow",
                [
                    ("instantiate", schema_for!(hanok_escrow::InstantiateMsg)),
                    ("execute", schema_for!(hanok_escrow::ExecuteMsg)),
                    ("query", schema_for!(hanok_escrow::QueryMsg)),
                ],
            ),
            (
                "deal",
                [
                    ("instantiate", schema_for!(hanok_deal::InstantiateMsg)),
                    ("execute", schema_for!(hanok_deal::ExecuteMsg)),
                    ("query", schema_for!(hanok_deal::QueryMsg)),
                ],
            ),
            (
                "tax",
                [
                    ("instantiate", schema_for!(hanok_tax::InstantiateMsg)),
                    ("execute", schema_for!(hanok_tax::ExecuteMsg)),
                    ("query", schema_for!(hanok_tax::QueryMsg)),
                ],
            ),
        ]
    }

    #[test]
    fn committed_schemas_are_fresh() {
        let update = std::env::var_os("UPDATE_SCHEMA").is_some();
        let contracts = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
        let mut stale = Vec::new();
        for (name, files) in schemas() {
            let dir = contracts.join(name).join("schema");
            for (file, schema) in files {
                let path = dir.join(format!("{file}.json"));
                let mut text = serde_json::to_string_pretty(&schema).unwrap_or_default();
                text.push('\n');
                if update {
                    std::fs::create_dir_all(&dir)
                        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
                    std::fs::write(&path, &text)
                        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                } else if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
                    stale.push(path.display().to_string());
                }
            }
        }
        assert!(
            stale.is_empty(),
            "stale JSON Schemas (regenerate with UPDATE_SCHEMA=1 cargo test -p hanok-contracts): {stale:?}"
        );
    }
}

//! `hanok-contracts`: the system contracts (identity, registry, krw, escrow, deal) compiled to
//! wasm and embedded as byte constants, for genesis, the test harness and benchmarks.
//!
//! `build.rs` runs a nested `cargo build --profile contract --target wasm32-unknown-unknown`
//! of the contract crates into `target/contracts` (see it for how the environment is isolated)
//! and copies the `.wasm` files into `OUT_DIR`, keeping only the exports the VM expects (`memory`
//! and the entry points; rustc's `__data_end`/`__heap_base` globals are dropped). The JSON Schemas of every contract's messages
//! are committed under `contracts/<name>/schema/`; a test here fails when they are stale
//! (regenerate with `UPDATE_SCHEMA=1 cargo test -p hanok-contracts`).
//!
//! Architecture Invariant: this crate has no runtime dependency; it only carries bytes. The VM
//! validates them like any uploaded code.

/// The identity (roles) contract.
pub const IDENTITY: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/identity.wasm"));
/// The land registry contract.
pub const REGISTRY: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/registry.wasm"));
/// The KRW deposit token contract.
pub const KRW: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/krw.wasm"));
/// The escrow contract.
pub const ESCROW: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/escrow.wasm"));
/// The deal (title-transfer) contract.
pub const DEAL: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/deal.wasm"));

/// Every system contract as `(name, wasm)`, in deployment order (each one's dependencies first,
/// though addresses are known in advance so the order is not required).
pub const ALL: &[(&str, &[u8])] = &[
    ("identity", IDENTITY),
    ("registry", REGISTRY),
    ("krw", KRW),
    ("escrow", ESCROW),
    ("deal", DEAL),
];

#[cfg(test)]
mod tests {
    use super::*;
    use schemars::schema::RootSchema;
    use schemars::schema_for;
    use std::path::PathBuf;

    /// The VM's upload limit.
    const MAX_CODE: usize = 800 * 1024;

    /// The export names of a module (a minimal walk of its sections).
    fn exports(wasm: &[u8]) -> Vec<String> {
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

    #[test]
    fn every_contract_is_a_wasm_module_within_the_size_limit() {
        for (name, wasm) in ALL {
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

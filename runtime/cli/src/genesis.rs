//! `hanok genesis dev|check` and the loading of a real genesis for `hanok node --config`.
//! The file format is `hanok_node::genesis_file` (see `docs/node.md`, "A real genesis").

use anyhow::{bail, Context, Result};
use clap::Subcommand;
use hanok_node::genesis_file::GenesisFile;
use hanok_node::{NodeConfig, NodeGenesis};
use std::path::{Path, PathBuf};

#[derive(Subcommand)]
pub enum GenesisCmd {
    /// Print the dev genesis as a genesis file (JSON), to start a real one from: replace
    /// `chain_id`, `time`, `authority`, `proposers` and the registry's officials.
    ///
    /// It has the dev genesis hash, but not the dev accounts' enrolments (`hanok node --dev`
    /// commits them as a bootstrap block 1, which a genesis file cannot express): on a node
    /// started from it, the authority enrols people with `hanok identity enrol`.
    Dev,
    /// Check a genesis file as `hanok node` would load it, and print its genesis hash, the
    /// authority and every contract's address.
    Check {
        /// The genesis file (JSON).
        file: PathBuf,
    },
}

/// The dev genesis in the genesis file format.
pub fn dev_json() -> String {
    GenesisFile::dev().to_json()
}

pub fn run(cmd: GenesisCmd) -> Result<()> {
    match cmd {
        GenesisCmd::Dev => {
            print!("{}", dev_json());
            Ok(())
        }
        GenesisCmd::Check { file } => check(&file),
    }
}

fn check(path: &Path) -> Result<()> {
    let resolved = GenesisFile::load(path)?.resolve(path)?;
    let g = &resolved.genesis;
    println!("genesis hash  {}", g.hash().to_hex());
    println!("chain id      {}", g.chain_id);
    println!("time          {}", g.time);
    println!(
        "authority     {} {}",
        g.authority.address(),
        g.authority.did()
    );
    for p in resolved.chain.proposers.iter().flatten() {
        println!("proposer      {} {}", p.address(), p.did());
    }
    println!("contracts (deployed in this order):");
    for c in &g.contracts {
        println!(
            "  {:<12} {} code {}",
            c.label,
            g.contract_address(&c.label),
            hanok_vm::CodeHash::of(&c.wasm)
        );
    }
    Ok(())
}

/// `hanok node` without `--dev`: the config file must name a genesis file and a proposer key.
pub fn load_for_node(config: Option<&Path>) -> Result<(NodeConfig, NodeGenesis)> {
    let Some(path) = config else {
        bail!(
            "`hanok node` needs `--dev` (the built-in dev genesis) or `--config node.toml` \
             naming `genesis` and `proposer_key` (see `hanok genesis dev` to start a genesis file)"
        );
    };
    let config = NodeConfig::load(path).with_context(|| format!("loading {}", path.display()))?;
    let genesis = config
        .node_genesis()
        .with_context(|| format!("starting from {}", path.display()))?;
    Ok((config, genesis))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `hanok genesis dev`, loaded back, has the dev genesis hash. Block 0 only: the dev
    /// accounts' enrolments (bootstrap block 1 of `hanok node --dev`) are not in the file.
    #[test]
    fn dev_output_has_the_dev_genesis_hash() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("genesis.json");
        std::fs::write(&path, dev_json())?;
        let resolved = GenesisFile::load(&path)?.resolve(&path)?;
        assert_eq!(
            resolved.genesis.hash(),
            hanok_node::dev::dev_genesis().genesis.hash()
        );
        Ok(())
    }
}

//! `hanok consortium init`: everything a trial consortium on one machine needs — a CA, each
//! member's certificate, node key and config, a shared genesis, and a client certificate.
//! See docs/consortium.md for a real consortium (its own CA, its own addresses).

use crate::cmd::keys::{random_signer, write_secret};
use anyhow::{bail, Context, Result};
use clap::Subcommand;
use hanok_node::config::{ConsortiumConfig, ConsortiumMember};
use hanok_node::genesis_file::GenesisFile;
use hanok_node::NodeConfig;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};

#[derive(Subcommand)]
pub enum ConsortiumCmd {
    /// Write a trial consortium on this machine into DIR: `ca.pem` (and `ca.key`), a shared
    /// `genesis.json` (the system contracts and the dev accounts, with the members' node keys
    /// as the proposers), per member `<member>.toml` (start it with `hanok node --config
    /// DIR/<member>.toml`), its certificate, TLS key and node key, and `client.pem` +
    /// `client.key` for client commands (`--ca DIR/ca.pem --cert DIR/client.pem --key
    /// DIR/client.key`).
    Init {
        /// The members' organisation names, comma-separated, e.g. `registry,bank-a,bank-b`.
        #[arg(long, value_delimiter = ',', required = true)]
        members: Vec<String>,
        /// The directory to write (created; must not hold a consortium already).
        #[arg(long)]
        out: PathBuf,
        /// First port: member i listens on 127.0.0.1:(PORT + i). Default: free ports.
        #[arg(long, value_name = "PORT")]
        base_port: Option<u16>,
        /// The organisation named in the client certificate.
        #[arg(long, default_value = "client")]
        client_org: String,
    },
}

pub fn run(cmd: ConsortiumCmd) -> Result<()> {
    match cmd {
        ConsortiumCmd::Init {
            members,
            out,
            base_port,
            client_org,
        } => {
            let written = init(&members, &out, base_port, &client_org)?;
            println!(
                "consortium of {} written to {}",
                members.len(),
                written.dir.display()
            );
            for (name, config) in members.iter().zip(&written.configs) {
                println!("  {name:<12} hanok node --config {}", config.display());
            }
            println!(
                "clients:     --ca {0}/ca.pem --cert {0}/client.pem --key {0}/client.key",
                written.dir.display()
            );
            Ok(())
        }
    }
}

/// What [`init`] wrote.
pub struct Written {
    /// The directory, absolute.
    pub dir: PathBuf,
    /// Each member's config file, in the order of the members.
    pub configs: Vec<PathBuf>,
}

/// A free port on 127.0.0.1 (the kernel's choice; released at once).
fn free_port() -> Result<u16> {
    let l = TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(l.local_addr()?.port())
}

/// Writes the trial consortium (see [`ConsortiumCmd::Init`]).
pub fn init(
    members: &[String],
    out: &Path,
    base_port: Option<u16>,
    client_org: &str,
) -> Result<Written> {
    if members.is_empty() {
        bail!("--members names no member");
    }
    for (i, m) in members.iter().enumerate() {
        if m.is_empty()
            || !m
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            bail!("member name `{m}`: use letters, digits, `-` and `_` (it names files)");
        }
        if m == "client" || m == "ca" || m == "genesis" {
            bail!("member name `{m}` is reserved for the consortium's own files");
        }
        if members[..i].contains(m) {
            bail!("member `{m}` is named twice");
        }
    }
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let dir = out
        .canonicalize()
        .with_context(|| format!("resolving {}", out.display()))?;
    if dir.join("genesis.json").exists() {
        bail!(
            "{} already holds a consortium (genesis.json); choose another --out",
            dir.display()
        );
    }
    hanok_node::tls::write_consortium_certs(&dir, members, client_org)?;

    let mut keys = Vec::with_capacity(members.len());
    for m in members {
        let signer = random_signer()?;
        let path = dir.join(format!("{m}.node.key"));
        write_secret(&path, &signer.secret_hex())?;
        keys.push((path, signer.did()));
    }
    let mut genesis = GenesisFile::dev();
    genesis.proposers = keys.iter().map(|(_, did)| did.clone()).collect();
    genesis.enrol_dev_accounts = true;
    let genesis_path = dir.join("genesis.json");
    std::fs::write(&genesis_path, genesis.to_json())
        .with_context(|| format!("writing {}", genesis_path.display()))?;

    let mut addrs = Vec::with_capacity(members.len());
    for i in 0..members.len() {
        let port = match base_port {
            Some(p) => u16::try_from(i)
                .ok()
                .and_then(|i| p.checked_add(i))
                .context("--base-port too high for this many members")?,
            None => free_port()?,
        };
        addrs.push(SocketAddr::from(([127, 0, 0, 1], port)));
    }
    let section = |id: u64| ConsortiumConfig {
        id,
        members: members
            .iter()
            .zip(&addrs)
            .enumerate()
            .map(|(i, (name, addr))| ConsortiumMember {
                id: i as u64 + 1,
                name: name.clone(),
                addr: addr.to_string(),
            })
            .collect(),
        heartbeat_ms: 100,
        election_timeout_ms: 1_000,
        snapshot_every: 5_000,
        keep_logs: 1_000,
    };
    let mut configs = Vec::with_capacity(members.len());
    for (i, m) in members.iter().enumerate() {
        let config = NodeConfig {
            data_dir: dir.join(format!("{m}-data")),
            listen: addrs[i],
            genesis: Some(genesis_path.clone()),
            proposer_key: Some(keys[i].0.clone()),
            tls_cert: Some(dir.join(format!("{m}.pem"))),
            tls_key: Some(dir.join(format!("{m}.key"))),
            client_ca: Some(dir.join("ca.pem")),
            consortium: Some(section(i as u64 + 1)),
            ..NodeConfig::default()
        };
        let path = dir.join(format!("{m}.toml"));
        std::fs::write(&path, config.to_toml()?)
            .with_context(|| format!("writing {}", path.display()))?;
        configs.push(path);
    }
    Ok(Written { dir, configs })
}

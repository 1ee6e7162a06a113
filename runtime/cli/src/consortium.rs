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
    /// Prepare a new member for the trial consortium in DIR (written by `init`): its
    /// certificate (from DIR/ca.key), TLS key, node key and `<name>.toml`, which sets
    /// `join = true` (it waits to be added instead of starting a cluster). Then the authority
    /// adds it (`hanok consortium add-member`) and it starts with `hanok node --config`, in
    /// either order.
    NewMember {
        /// The consortium's directory (from `hanok consortium init`).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// The new member's organisation, e.g. `bank-c`.
        #[arg(long)]
        name: String,
        /// Its port on 127.0.0.1. Default: a free port.
        #[arg(long)]
        port: Option<u16>,
    },
    /// Add a member to a running consortium: a transaction signed by the genesis authority
    /// (`--key FILE` or `--dev authority`) that records the member (id, organisation, address,
    /// node key) on chain. The leader then adds its node to Raft, first as a learner and, once
    /// it holds the chain, as a voter; this command waits for that unless `--no-wait`.
    // Boxed: its flags outweigh the other variants by far.
    AddMember(Box<AddMemberArgs>),
}

/// The flags of [`ConsortiumCmd::AddMember`].
#[derive(clap::Args)]
pub struct AddMemberArgs {
    /// The new member's config (from `new-member`): its id, name, address and node key
    /// are read from it. Or give them with --id, --name, --addr and --node-key.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["id", "name", "addr", "node_key"])]
    pub config: Option<PathBuf>,
    /// Its Raft id (unique among the members).
    #[arg(long, requires_all = ["name", "addr", "node_key"])]
    pub id: Option<u64>,
    /// Its organisation: the organisation its node certificate names.
    #[arg(long)]
    pub name: Option<String>,
    /// `host:port` where the other members reach its node.
    #[arg(long)]
    pub addr: Option<String>,
    /// The did:key of its node key (the key that signs the blocks it proposes).
    #[arg(long, value_name = "DID")]
    pub node_key: Option<String>,
    /// Return once the transaction is committed, without waiting for the member to vote.
    #[arg(long)]
    pub no_wait: bool,
    #[command(flatten)]
    pub node: crate::cmd::NodeOpts,
    #[command(flatten)]
    pub signer: crate::cmd::SignerOpts,
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
        ConsortiumCmd::NewMember { out, name, port } => {
            let m = new_member(&out, &name, port)?;
            println!(
                "member {} `{name}` prepared: {} (node key {})",
                m.id,
                m.config.display(),
                m.node_key
            );
            println!(
                "  add it:   hanok consortium add-member --config {} --dev authority \
                 --endpoint https://<a member's address> --ca {d}/ca.pem --cert {d}/client.pem \
                 --key {d}/client.key",
                m.config.display(),
                d = m.dir.display()
            );
            println!("  start it: hanok node --config {}", m.config.display());
            Ok(())
        }
        ConsortiumCmd::AddMember(args) => {
            let AddMemberArgs {
                config,
                id,
                name,
                addr,
                node_key,
                no_wait,
                node,
                signer,
            } = *args;
            let member = match config {
                Some(path) => MemberSpec::from_config(&path)?,
                None => MemberSpec {
                    id: id.context("give --config FILE, or --id, --name, --addr and --node-key")?,
                    name: name.context("--name is missing")?,
                    addr: addr.context("--addr is missing")?,
                    node_key: node_key.context("--node-key is missing")?,
                },
            };
            let rt = tokio::runtime::Runtime::new().context("starting the async runtime")?;
            rt.block_on(add_member(member, !no_wait, &node, &signer))
        }
    }
}

/// What [`new_member`] wrote.
pub struct NewMember {
    /// The consortium's directory, absolute.
    pub dir: PathBuf,
    /// The new member's config file.
    pub config: PathBuf,
    /// Its id.
    pub id: u64,
    /// The did:key of its node key.
    pub node_key: String,
}

/// Prepares a member for the trial consortium in `out` (see [`ConsortiumCmd::NewMember`]).
pub fn new_member(out: &Path, name: &str, port: Option<u16>) -> Result<NewMember> {
    check_name(name)?;
    let dir = out
        .canonicalize()
        .with_context(|| format!("{} (run `hanok consortium init` first)", out.display()))?;
    let genesis_path = dir.join("genesis.json");
    if !genesis_path.exists() {
        bail!(
            "{} holds no consortium (no genesis.json); run `hanok consortium init` first",
            dir.display()
        );
    }
    let config_path = dir.join(format!("{name}.toml"));
    if config_path.exists() {
        bail!(
            "{} exists: `{name}` is a member already",
            config_path.display()
        );
    }
    // Every member's config in the directory: the new one lists them all (it dials them).
    let mut members: Vec<ConsortiumMember> = Vec::new();
    let mut template: Option<ConsortiumConfig> = None;
    let mut entries: Vec<PathBuf> = std::fs::read_dir(&dir)
        .with_context(|| format!("listing {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    entries.sort();
    for path in entries {
        let Ok(config) = NodeConfig::load(&path) else {
            continue;
        };
        let Some(c) = config.consortium else { continue };
        for m in &c.members {
            if !members.iter().any(|x| x.id == m.id) {
                members.push(m.clone());
            }
        }
        template.get_or_insert(c);
    }
    let Some(template) = template else {
        bail!("{} holds no member config (*.toml)", dir.display());
    };
    let id = members.iter().map(|m| m.id).max().unwrap_or(0) + 1;
    let addr = SocketAddr::from((
        [127, 0, 0, 1],
        match port {
            Some(p) => p,
            None => free_port()?,
        },
    ));
    members.push(ConsortiumMember {
        id,
        name: name.to_string(),
        addr: addr.to_string(),
    });
    hanok_node::tls::write_member_cert(&dir, name)?;
    let signer = random_signer()?;
    let key_path = dir.join(format!("{name}.node.key"));
    write_secret(&key_path, &signer.secret_hex())?;
    let config = NodeConfig {
        data_dir: dir.join(format!("{name}-data")),
        listen: addr,
        genesis: Some(genesis_path),
        proposer_key: Some(key_path),
        tls_cert: Some(dir.join(format!("{name}.pem"))),
        tls_key: Some(dir.join(format!("{name}.key"))),
        client_ca: Some(dir.join("ca.pem")),
        consortium: Some(ConsortiumConfig {
            id,
            members,
            join: true,
            ..template
        }),
        ..NodeConfig::default()
    };
    std::fs::write(&config_path, config.to_toml()?)
        .with_context(|| format!("writing {}", config_path.display()))?;
    Ok(NewMember {
        dir,
        config: config_path,
        id,
        node_key: signer.did(),
    })
}

/// The member an `add_member` transaction records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberSpec {
    /// Raft id.
    pub id: u64,
    /// Organisation.
    pub name: String,
    /// `host:port`.
    pub addr: String,
    /// did:key of its node key.
    pub node_key: String,
}

impl MemberSpec {
    /// Reads the member from its own config: `consortium.id`, its entry in
    /// `consortium.members`, and the public half of `proposer_key`.
    pub fn from_config(path: &Path) -> Result<MemberSpec> {
        let config = NodeConfig::load(path)?;
        let c = config
            .consortium
            .as_ref()
            .with_context(|| format!("{} has no [consortium] section", path.display()))?;
        let me = c.me().with_context(|| {
            format!(
                "{}: consortium.id {} is not among its members",
                path.display(),
                c.id
            )
        })?;
        let key = config
            .proposer_key
            .as_deref()
            .with_context(|| format!("{} names no proposer_key", path.display()))?;
        let node_key = crate::cmd::read_key_file(key)?.did();
        Ok(MemberSpec {
            id: me.id,
            name: me.name.clone(),
            addr: me.addr.clone(),
            node_key,
        })
    }
}

/// Submits the authority's `add_member` transaction and, with `wait`, waits until the member
/// votes (see [`ConsortiumCmd::AddMember`]).
async fn add_member(
    member: MemberSpec,
    wait: bool,
    node: &crate::cmd::NodeOpts,
    signer: &crate::cmd::SignerOpts,
) -> Result<()> {
    let signer = crate::cmd::signer_of(node, signer)?.context(
        "adding a member is signed by the genesis authority: pass --key FILE (its key) or \
         --dev authority (a trial consortium's dev authority)",
    )?;
    let client = crate::cmd::connect(node).await?;
    let msg = serde_json::json!({"add_member": {
        "id": member.id,
        "name": member.name,
        "addr": member.addr,
        "node_key": member.node_key,
    }});
    let receipt = client
        .execute(&signer, hanok_types::layout::CONSORTIUM_ADDRESS, &msg)
        .await
        .map_err(crate::cmd::refused(format!(
            "adding member `{}`",
            member.name
        )))?;
    println!(
        "member {} `{}` ({}) recorded on chain in block {} (tx {})",
        member.id,
        member.name,
        member.addr,
        receipt.height,
        hex::encode(&receipt.tx_hash)
    );
    if !wait {
        return Ok(());
    }
    println!("waiting for the leader to add its node to Raft (start it with `hanok node --config ...` if it is not running)");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(node.wait.max(1));
    let mut last = String::new();
    loop {
        let status = client.status().await.context("reading the node's status")?;
        let state = status.consensus.as_ref().and_then(|c| {
            c.members
                .iter()
                .find(|m| m.member.as_ref().is_some_and(|x| x.id == member.id))
                .map(|m| if m.learner { "learner" } else { "voter" })
        });
        let now = state.unwrap_or("not yet in Raft").to_string();
        if now != last {
            println!("  {now}");
            last = now;
        }
        if state == Some("voter") {
            println!("member `{}` votes", member.name);
            return Ok(());
        }
        if std::time::Instant::now() >= deadline {
            bail!(
                "member `{}` is recorded on chain but its node is not a voter after {}s ({last}); \
                 is it running at {} with `join = true`? The leader keeps trying; see `hanok \
                 status` on the leader",
                member.name,
                node.wait.max(1),
                member.addr
            );
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
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

/// A member name names files: letters, digits, `-` and `_`, and not one of the consortium's
/// own files.
fn check_name(m: &str) -> Result<()> {
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
    Ok(())
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
        check_name(m)?;
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
        election_timeout_ms: 500,
        snapshot_every: 5_000,
        keep_logs: 1_000,
        join: false,
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

/// The members `hanok demo --consortium` starts.
const DEMO_MEMBERS: [&str; 3] = ["registry", "bank-a", "bank-b"];
/// The step at whose start the demo stops the leader: the settlement then closes on the next.
const DEMO_KILL_AT_STEP: u8 = 7;

/// One member of the in-process demo consortium.
struct DemoNode {
    name: &'static str,
    config: PathBuf,
    url: String,
    handle: Option<hanok_node::NodeHandle>,
}

async fn start_member(config: &Path) -> Result<hanok_node::NodeHandle> {
    let c = NodeConfig::load(config)?;
    let genesis = c.node_genesis()?;
    Ok(hanok_node::start(c, genesis).await?)
}

async fn member_status(url: &str, tls: &hanok_client::Tls) -> Result<hanok_client::NodeStatus> {
    let client = hanok_client::Client::connect_with(url, Some(tls)).await?;
    Ok(client.status().await?)
}

/// Polls until one of `nodes` (the running ones) leads and the others name it.
async fn demo_leader(nodes: &[DemoNode], tls: &hanok_client::Tls) -> Result<usize> {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let mut leader = None;
        let mut agreed = true;
        for (i, n) in nodes.iter().enumerate().filter(|(_, n)| n.handle.is_some()) {
            let named = member_status(&n.url, tls)
                .await
                .ok()
                .and_then(|s| s.consensus)
                .and_then(|c| {
                    if c.role == "leader" {
                        leader = Some(i);
                    }
                    c.leader.map(|l| l.name)
                });
            agreed &=
                named.is_some_and(|l| nodes.iter().any(|m| m.name == l && m.handle.is_some()));
        }
        if let (Some(i), true) = (leader, agreed) {
            return Ok(i);
        }
        if tokio::time::Instant::now() > deadline {
            bail!("the demo consortium elected no leader within 30 s");
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// Prints the story, and stops the leader when step [`DEMO_KILL_AT_STEP`] starts.
struct KillingNarrator<'a> {
    out: hanok_closing::Stdout,
    nodes: &'a mut Vec<DemoNode>,
    tls: &'a hanok_client::Tls,
    /// When the leader was stopped and who it was, once it was.
    killed: Option<(std::time::Instant, &'static str)>,
}

impl hanok_closing::Narrator for KillingNarrator<'_> {
    fn step(&mut self, number: u8, title: &str) {
        if number == DEMO_KILL_AT_STEP && self.killed.is_none() {
            // Between two steps no transaction is in flight: the story goes on through its
            // follower, which hands the next transactions to whoever leads next.
            let rt = tokio::runtime::Handle::current();
            let nodes = &mut *self.nodes;
            let tls = self.tls;
            let stopped = tokio::task::block_in_place(|| {
                rt.block_on(async {
                    let i = demo_leader(nodes, tls).await?;
                    let name = nodes[i].name;
                    if let Some(h) = nodes[i].handle.take() {
                        h.shutdown().await?;
                    }
                    let stopped_at = std::time::Instant::now();
                    let next = demo_leader(nodes, tls).await?;
                    Ok::<_, anyhow::Error>((name, stopped_at, nodes[next].name))
                })
            });
            match stopped {
                Ok((name, at, next)) => {
                    println!(
                        "\n*** the leader, {name}, is stopped; {next} was elected in {:.1?} ***",
                        at.elapsed()
                    );
                    self.killed = Some((at, name));
                }
                Err(e) => println!("\n*** could not stop the leader: {e:#} ***"),
            }
        }
        self.out.step(number, title);
    }
    fn line(&mut self, text: &str) {
        self.out.line(text);
    }
}

/// `hanok demo --consortium`: three members in this process on loopback over mutual TLS; the
/// acceptance story through a follower; the leader stopped when the settlement starts; the
/// story finished on the new leader; the stopped member restarted; every member's head hash
/// and state root printed.
pub async fn demo(failure_deadline: std::time::Duration) -> Result<()> {
    let started = std::time::Instant::now();
    let tmp = tempfile::Builder::new()
        .prefix("hanok-consortium-demo-")
        .tempdir()
        .context("creating a temporary directory")?;
    let members: Vec<String> = DEMO_MEMBERS.iter().map(|m| m.to_string()).collect();
    let written = init(&members, &tmp.path().join("trial"), None, "client")?;
    let tls = hanok_client::Tls::from_files(
        Some(&written.dir.join("ca.pem")),
        Some(&written.dir.join("client.pem")),
        Some(&written.dir.join("client.key")),
    )?;
    let mut nodes = Vec::new();
    for (name, config) in DEMO_MEMBERS.iter().zip(&written.configs) {
        let handle = start_member(config)
            .await
            .with_context(|| format!("starting member {name}"))?;
        let url = format!("https://{}", handle.local_addr);
        println!("member {name:<9} serving at {url}");
        nodes.push(DemoNode {
            name,
            config: config.clone(),
            url,
            handle: Some(handle),
        });
    }
    let leader = demo_leader(&nodes, &tls).await?;
    let follower = (leader + 1) % nodes.len();
    println!(
        "leader: {}; the story talks to {}, a follower, which forwards its transactions",
        nodes[leader].name, nodes[follower].name
    );
    let path = written.dir.join("genesis.json");
    let proposers = GenesisFile::load(&path)?
        .resolve(&path)?
        .chain
        .proposers
        .unwrap_or_default();
    let terms = hanok_closing::Terms {
        failure_deadline,
        trusted_proposers: proposers,
        ..hanok_closing::Terms::default()
    };
    let url = nodes[follower].url.clone();
    let mut narrator = KillingNarrator {
        out: hanok_closing::Stdout,
        nodes: &mut nodes,
        tls: &tls,
        killed: None,
    };
    let outcome = hanok_closing::run_with(&url, Some(&tls), &terms, &mut narrator).await;
    let killed = narrator.killed;
    let outcome = outcome?;
    let (killed_at, killed_name) = killed.context("the leader was never stopped")?;
    let new_leader = demo_leader(&nodes, &tls).await?;
    println!(
        "\nthe story finished on the new leader, {} ({:.1?} after {killed_name} stopped)",
        nodes[new_leader].name,
        killed_at.elapsed()
    );
    // The stopped member comes back and catches up by itself.
    for n in nodes.iter_mut().filter(|n| n.handle.is_none()) {
        n.handle = Some(start_member(&n.config).await?);
        println!("member {} restarted; it catches up from the others", n.name);
    }
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    let heads = loop {
        let mut heads = Vec::new();
        for n in &nodes {
            let s = member_status(&n.url, &tls).await?;
            heads.push((n.name, s.height, s.latest_block_hash, s.state_root));
        }
        let same = heads
            .iter()
            .all(|h| (h.1, &h.2, &h.3) == (heads[0].1, &heads[0].2, &heads[0].3));
        if same && heads[0].1 >= outcome.verified.height {
            break heads;
        }
        if tokio::time::Instant::now() > deadline {
            bail!("the members did not reach the same head within 60 s: {heads:?}");
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    println!();
    for (name, height, hash, root) in &heads {
        println!(
            "{name:<9} height {height}  head {}  state root {}",
            hex::encode(hash),
            hex::encode(root)
        );
    }
    println!(
        "\nEvery member holds the same head and state root. All steps passed in {:.1?}: parcel {} \
         belongs to the buyer (deal #{}).",
        started.elapsed(),
        outcome.parcel_id,
        outcome.deal_id
    );
    for n in &mut nodes {
        if let Some(h) = n.handle.take() {
            h.shutdown().await?;
        }
    }
    Ok(())
}

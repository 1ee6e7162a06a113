//! The `hanok` binary: `hanok demo` runs the acceptance story on the real contracts and VM;
//! `hanok contracts` and `hanok validate` inspect wasm against the upload limits.

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::time::Instant;

mod cmd;
mod console;
mod consortium;
mod genesis;

/// hanok: a permissioned ledger for real-estate transactions.
#[derive(Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    /// Log filter for stderr: a level (error, warn, info, debug, trace) or a `tracing`
    /// directive list such as `hanok_node=debug,info`. Default: `info` for `node`, `warn`
    /// otherwise. `RUST_LOG` is used when this flag is absent.
    #[arg(long, global = true, env = "HANOK_LOG")]
    log: Option<String>,
    /// How log lines are written to stderr: `text` for people, `json` (one object per line:
    /// timestamp, level, target, fields, spans) for a log collector.
    #[arg(long, global = true, env = "HANOK_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

/// The format of log lines.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Logs go to stderr so that command output on stdout stays machine-readable.
fn init_logging(flag: Option<&str>, default: &str, format: LogFormat) -> Result<()> {
    use tracing_subscriber::EnvFilter;
    let filter = match flag {
        Some(f) => EnvFilter::try_new(f).with_context(|| format!("--log `{f}`"))?,
        None => EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default)),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
    }
    .map_err(|e| anyhow::anyhow!("initialising logs: {e}"))
}

#[derive(Subcommand)]
enum Command {
    /// Run the acceptance story over gRPC: the spouses sell their co-owned flat (a tenant's
    /// lease on it, Bank A's lien paid on its payoff statement, three staged payments, the
    /// acquisition tax with the first-home relief, refused to the same person's second home),
    /// settled in one atomic transaction, then a title proof checked against a signed block
    /// header. Prints each step; exits non-zero if any step fails. Runs again and again on the
    /// same node.
    Demo {
        /// A node's gRPC endpoint (e.g. http://127.0.0.1:50051, a `hanok node --dev`).
        /// Absent: a dev node is started in this process on a temporary data dir.
        #[arg(long, env = "HANOK_ENDPOINT")]
        endpoint: Option<String>,
        /// Step 8 waits for a deal's deadline to pass: seconds from opening it to its deadline.
        #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u64).range(2..=600))]
        deadline_secs: u64,
        /// The chain's genesis file: step 9 trusts a block header signed by any of its
        /// `proposers` (a consortium's member nodes). Default: the dev authority, which signs a
        /// dev node's blocks.
        #[arg(long, value_name = "FILE")]
        genesis: Option<PathBuf>,
        /// Start a three-member consortium in this process instead (registry, bank-a, bank-b,
        /// mutual TLS on loopback), run the story through a follower, stop the leader when the
        /// settlement starts, finish on the new leader, and show every member's head.
        #[arg(long, conflicts_with_all = ["endpoint", "genesis"])]
        consortium: bool,
        #[command(flatten)]
        tls: ClientTlsArgs,
    },
    /// Run a node. `--dev` uses the embedded dev genesis (registry authority, 3 officials,
    /// 2 banks, a broker, seller, spouse, tenant and buyer; system contracts deployed) and prints
    /// the dev keys.
    Node {
        /// Use the embedded dev genesis.
        #[arg(long)]
        dev: bool,
        /// Data directory (default: ./hanok-data).
        #[arg(long, default_value = "hanok-data")]
        data_dir: PathBuf,
        /// gRPC listen address.
        #[arg(long, default_value = "127.0.0.1:50051")]
        listen: std::net::SocketAddr,
        /// A TOML node config (overrides --data-dir and --listen). Without --dev it must name
        /// `genesis` (a genesis file, see `hanok genesis dev`) and `proposer_key`.
        #[arg(long)]
        config: Option<PathBuf>,
        #[command(flatten)]
        tls: NodeTlsArgs,
        #[command(flatten)]
        ops: NodeOpsArgs,
    },
    /// TLS certificates: `dev-certs` writes a throwaway CA with a node and a client certificate
    /// for trying mutual TLS on one machine.
    #[command(after_help = TLS_EXAMPLES)]
    Tls {
        #[command(subcommand)]
        cmd: TlsCmd,
    },
    /// A consortium: `init` writes a trial one on this machine (CA, certificates, node keys,
    /// genesis and one config per member); start each member with `hanok node --config`.
    Consortium {
        #[command(subcommand)]
        cmd: consortium::ConsortiumCmd,
    },
    /// Genesis files for a real chain (`hanok node --config node.toml` with `genesis` and
    /// `proposer_key`): `dev` prints the dev genesis in that format, `check` validates one.
    Genesis {
        #[command(subcommand)]
        cmd: genesis::GenesisCmd,
    },
    /// List the system contracts built into this binary: size and code hash.
    Contracts,
    /// Check a wasm file against hanok's upload limits, as an upload would.
    Validate {
        /// Path to a .wasm file.
        wasm: PathBuf,
    },
    /// Load generator over real gRPC: pre-signed transactions at a fixed concurrency or rate
    /// against --endpoint or an in-process dev node; prints a table (and JSON with --json).
    Bench(hanok_bench::BenchArgs),
    /// The per-user commands (status, keys, parcel, lien, deal, token, identity, contract,
    /// verify): see `src/cmd/mod.rs`.
    // Boxed: the per-user commands carry many fields, the other variants few.
    #[command(flatten)]
    User(Box<cmd::UserCommand>),
}

/// The node's TLS flags (each overrides the config file's field of the same name).
#[derive(clap::Args, Debug, Clone, Default)]
struct NodeTlsArgs {
    /// Serve gRPC over TLS with this certificate chain (PEM); needs --tls-key.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Mutual TLS: every client must present a certificate issued by this CA (PEM); its
    /// organisation is logged with each request (at debug level).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    client_ca: Option<PathBuf>,
    /// Allow plaintext gRPC on a non-loopback --listen address (refused otherwise).
    #[arg(long)]
    insecure: bool,
}

impl NodeTlsArgs {
    fn apply(self, config: &mut hanok_node::NodeConfig) {
        if let Some(c) = self.tls_cert {
            config.tls_cert = Some(c);
        }
        if let Some(k) = self.tls_key {
            config.tls_key = Some(k);
        }
        if let Some(ca) = self.client_ca {
            config.client_ca = Some(ca);
        }
        config.insecure |= self.insecure;
    }
}

/// The node's operations flags (each overrides the config file's field of the same name).
#[derive(clap::Args, Debug, Clone, Default)]
struct NodeOpsArgs {
    /// Serve Prometheus metrics over plain HTTP at http://ADDR/metrics (e.g. 127.0.0.1:9184;
    /// keep it on a private address).
    #[arg(long, value_name = "ADDR")]
    metrics: Option<std::net::SocketAddr>,
    /// Most client connections open at once (lowered at start if the descriptor limit is too
    /// low for it; see docs/operations.md).
    #[arg(long, value_name = "N")]
    max_connections: Option<usize>,
}

impl NodeOpsArgs {
    fn apply(self, config: &mut hanok_node::NodeConfig) {
        if let Some(m) = self.metrics {
            config.metrics = Some(m);
        }
        if let Some(n) = self.max_connections {
            config.max_connections = n;
        }
    }
}

/// TLS material to reach a node at an `https://` endpoint.
#[derive(clap::Args, Debug, Clone, Default)]
struct ClientTlsArgs {
    /// The CA that issued the node's certificate (PEM), for an https:// endpoint.
    #[arg(long, env = "HANOK_CA", value_name = "FILE")]
    ca: Option<PathBuf>,
    /// This client's certificate (PEM), for a node that requires mutual TLS.
    #[arg(long, env = "HANOK_CERT", value_name = "FILE", requires = "key")]
    cert: Option<PathBuf>,
    /// The private key of --cert (PEM).
    #[arg(long, env = "HANOK_TLS_KEY", value_name = "FILE", requires = "cert")]
    key: Option<PathBuf>,
}

impl ClientTlsArgs {
    fn tls(&self) -> Result<Option<hanok_client::Tls>> {
        if self.ca.is_none() && self.cert.is_none() {
            return Ok(None);
        }
        Ok(Some(hanok_client::Tls::from_files(
            self.ca.as_deref(),
            self.cert.as_deref(),
            self.key.as_deref(),
        )?))
    }
}

#[derive(Subcommand)]
enum TlsCmd {
    /// Write a throwaway CA and, signed by it, a node certificate for 127.0.0.1 and localhost
    /// and a client certificate: ca.pem, node.pem, node.key, client.pem, client.key. For trials
    /// on one machine only; a real consortium uses its own CA.
    DevCerts {
        /// Directory to write the files to (created if missing).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// The organisation named in the client certificate (logged by the node with each
        /// request).
        #[arg(long, default_value = "hanok dev client", value_name = "NAME")]
        client_org: String,
    },
}

const TLS_EXAMPLES: &str = "Example: a node with mutual TLS, and a client\n  \
hanok tls dev-certs --out certs\n  \
hanok node --dev --tls-cert certs/node.pem --tls-key certs/node.key --client-ca certs/ca.pem &\n  \
hanok status --endpoint https://127.0.0.1:50051 --ca certs/ca.pem --cert certs/client.pem --key certs/client.key";

fn tls(cmd: TlsCmd) -> Result<()> {
    match cmd {
        TlsCmd::DevCerts { out, client_org } => {
            let files = hanok_node::tls::write_dev_certs(&out, &client_org)?;
            for f in files {
                println!("wrote {}", f.display());
            }
            println!(
                "DEV ONLY: a throwaway CA. Start a node with\n  hanok node --dev --tls-cert {0}/node.pem \
                 --tls-key {0}/node.key --client-ca {0}/ca.pem\nand talk to it with\n  hanok status \
                 --endpoint https://127.0.0.1:50051 --ca {0}/ca.pem --cert {0}/client.pem --key {0}/client.key",
                out.display()
            );
            Ok(())
        }
    }
}

/// Resolves when the process is asked to stop: Ctrl-C (SIGINT) or SIGTERM, which is what
/// systemd and Kubernetes send.
async fn stop_signal() -> Result<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
        let mut int = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM: stopping"),
            _ = int.recv() => tracing::info!("SIGINT: stopping"),
        }
        Ok(())
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await.context("waiting for Ctrl-C")
    }
}

/// `hanok demo`: the acceptance story over gRPC with the client SDK (`hanok-closing`), against
/// `endpoint` or, given none, a dev node started in this process on a temporary data dir.
fn demo(
    endpoint: Option<String>,
    failure_deadline_secs: u64,
    genesis: Option<PathBuf>,
    tls: Option<hanok_client::Tls>,
) -> Result<()> {
    let started = Instant::now();
    let trusted = match &genesis {
        Some(path) => {
            let resolved = hanok_node::genesis_file::GenesisFile::load(path)?.resolve(path)?;
            resolved.chain.proposers.unwrap_or_default()
        }
        None => hanok_closing::Terms::default().trusted_proposers,
    };
    let rt = tokio::runtime::Runtime::new().context("starting tokio")?;
    rt.block_on(async move {
        let terms = hanok_closing::Terms {
            failure_deadline: std::time::Duration::from_secs(failure_deadline_secs),
            trusted_proposers: trusted,
            ..hanok_closing::Terms::default()
        };
        let mut out = hanok_closing::Stdout;
        let outcome = match endpoint {
            Some(url) => {
                println!("hanok demo against {url}");
                hanok_closing::run_with(&url, tls.as_ref(), &terms, &mut out).await?
            }
            None => {
                let dir = tempfile::Builder::new()
                    .prefix("hanok-demo-")
                    .tempdir()
                    .context("creating a temporary data dir")?;
                let mut config = hanok_node::NodeConfig::dev(dir.path());
                config.listen = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
                let node = hanok_node::start(config, hanok_node::dev::dev_genesis())
                    .await
                    .context("starting the in-process dev node")?;
                let url = format!("http://{}", node.local_addr);
                println!(
                    "hanok demo: started a dev node at {url} on {} (removed at exit)",
                    dir.path().display()
                );
                let result = hanok_closing::run(&url, &terms, &mut out).await;
                node.shutdown().await.context("stopping the dev node")?;
                result?
            }
        };
        println!(
            "\nAll steps passed in {:.1?}: parcel {} belongs to the buyer (deal #{}); its title \
             proof checked against block {}.",
            started.elapsed(),
            outcome.parcel_id,
            outcome.deal_id,
            outcome.verified.height
        );
        Ok(())
    })
}

fn node(
    dev: bool,
    data_dir: PathBuf,
    listen: std::net::SocketAddr,
    config: Option<PathBuf>,
    tls: NodeTlsArgs,
    ops: NodeOpsArgs,
) -> Result<()> {
    let (mut config, genesis) = if dev {
        let config = match config {
            Some(path) => hanok_node::NodeConfig::load(&path)
                .with_context(|| format!("loading {}", path.display()))?,
            None => {
                let mut c = hanok_node::NodeConfig::dev(data_dir);
                c.listen = listen;
                c
            }
        };
        if config.genesis.is_some() {
            bail!(
                "--dev uses the built-in dev genesis, but the config names a `genesis` file: \
                 drop --dev to use it"
            );
        }
        (config, hanok_node::dev::dev_genesis())
    } else {
        genesis::load_for_node(config.as_deref())?
    };
    tls.apply(&mut config);
    ops.apply(&mut config);
    let scheme = if config.tls_cert.is_some() {
        "https"
    } else {
        "http"
    };
    println!(
        "hanok {}node: chain {}, genesis {}, data dir {}",
        if dev { "dev " } else { "" },
        config.chain_id,
        genesis.genesis.hash().to_hex(),
        config.data_dir.display()
    );
    let rt = hanok_node::runtime("hanok-node").context("starting tokio")?;
    rt.block_on(async move {
        // Installed before the node starts, so a signal that arrives while it opens (or
        // before anyone reads the endpoint line) stops it gracefully instead of killing it.
        let stop = stop_signal();
        tokio::pin!(stop);
        let early = tokio::select! {
            biased;
            r = &mut stop => { r?; true }
            () = std::future::ready(()) => false,
        };
        let proposer = genesis.proposer.address();
        let starting = hanok_node::launch(config, genesis).await?;
        // The port is bound before the ledger opens (a replay can take a while): health says
        // NOT_SERVING, with the replay's progress, until the node serves.
        println!(
            "listening on {scheme}://{}; opening the ledger",
            starting.local_addr
        );
        if let Some(m) = starting.metrics_addr {
            println!("metrics: http://{m}/metrics");
        }
        std::io::Write::flush(&mut std::io::stdout()).context("writing to stdout")?;
        let handle = if early {
            starting.abandon().await;
            return Ok(());
        } else {
            match starting
                .ready_unless(async {
                    let _ = (&mut stop).await;
                })
                .await?
            {
                Some(h) => h,
                None => return Ok(()),
            }
        };
        // Printed once the node serves, so `--listen 127.0.0.1:0` shows the real port.
        println!("gRPC endpoint: {scheme}://{}", handle.local_addr);
        if dev {
            println!("dev keys (DEV ONLY — never use on a real network):");
            for a in hanok_node::dev::DevKeys::new().all() {
                let roles: Vec<&str> = a.roles.iter().map(|r| r.as_str()).collect();
                println!("  {:<10} {} {} roles={roles:?}", a.name, a.address, a.did);
            }
        } else {
            println!("signing blocks as {proposer}");
        }
        std::io::Write::flush(&mut std::io::stdout()).context("writing to stdout")?;
        stop.await?;
        handle.shutdown().await.context("stopping the node")
    })?;
    // A stop during the replay leaves it running on a blocking thread: do not wait for it (it
    // writes only what is rebuilt from the block log, and survives being cut short).
    rt.shutdown_timeout(std::time::Duration::from_secs(1));
    Ok(())
}

/// Errors end here: the message with its causes, no backtrace (a user error is not a crash),
/// and exit status 1.
fn main() -> std::process::ExitCode {
    limit_malloc_arenas();
    match run(Cli::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Bounds glibc's malloc to two arenas per core (its default is eight per core). The node's
/// threads (gRPC, signature checks, the producer, sled's) each grow an arena of their own and
/// glibc rarely gives their free pages back. On two cores under load: 16 arenas (the default)
/// 4,151 token tx/s at 219 MiB; 4 arenas 3,816 tx/s at 180 MiB; 2 arenas 3,514 tx/s at 169 MiB;
/// fewer arenas mean more lock contention in malloc. Called first, before any thread starts;
/// `MALLOC_ARENA_MAX` in the environment still wins for whoever wants to tune it.
fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let arenas = libc::c_int::try_from(cores.saturating_mul(2)).unwrap_or(libc::c_int::MAX);
        // SAFETY: `mallopt` only sets a glibc tunable; no thread has started yet, and an
        // unsupported value is refused (returns 0) without side effects.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, arenas);
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    let default_log = if matches!(cli.command, Command::Node { .. }) {
        "info"
    } else {
        "warn"
    };
    init_logging(cli.log.as_deref(), default_log, cli.log_format)?;
    match cli.command {
        Command::Demo {
            deadline_secs,
            consortium: true,
            ..
        } => {
            let rt = tokio::runtime::Runtime::new().context("starting tokio")?;
            rt.block_on(consortium::demo(std::time::Duration::from_secs(
                deadline_secs,
            )))
        }
        Command::Demo {
            endpoint,
            deadline_secs,
            genesis,
            tls,
            ..
        } => demo(endpoint, deadline_secs, genesis, tls.tls()?),
        Command::Node {
            dev,
            data_dir,
            listen,
            config,
            tls,
            ops,
        } => node(dev, data_dir, listen, config, tls, ops),
        Command::Tls { cmd } => tls(cmd),
        Command::Genesis { cmd } => genesis::run(cmd),
        Command::Consortium { cmd } => consortium::run(cmd),
        Command::Contracts => {
            for (name, wasm) in hanok_contracts::ALL {
                println!(
                    "{name:<9} {:>7} bytes  {}",
                    wasm.len(),
                    hanok_vm::CodeHash::of(wasm)
                );
            }
            Ok(())
        }
        Command::Validate { wasm } => {
            let bytes =
                std::fs::read(&wasm).with_context(|| format!("reading {}", wasm.display()))?;
            match hanok_vm::validate_default(&bytes) {
                Ok(()) => {
                    println!(
                        "{}: accepted ({} bytes, code hash {})",
                        wasm.display(),
                        bytes.len(),
                        hanok_vm::CodeHash::of(&bytes)
                    );
                    Ok(())
                }
                Err(e) => bail!("{}: refused: {e}", wasm.display()),
            }
        }
        Command::User(c) => cmd::run(*c),
        Command::Bench(args) => hanok_bench::run_cli(args).map(drop).map_err(Into::into),
    }
}

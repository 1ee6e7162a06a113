//! The `hanok` binary: `hanok demo` runs the acceptance story on the real contracts and VM;
//! `hanok contracts` and `hanok validate` inspect wasm against the upload limits.

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use hanok_acceptance::{DealStatus, EncumbranceKind, Story, Terms, EOK};
use std::path::PathBuf;
use std::time::Instant;

/// hanok: a permissioned ledger for real-estate transactions.
#[derive(Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the acceptance story (a home sale with a lien payoff, settled atomically) on the
    /// real system contracts and VM, printing each step; exits non-zero if any step fails.
    Demo,
    /// Run a node. `--dev` uses the embedded dev genesis (registry authority, 3 officials,
    /// 2 banks, a broker, seller and buyer; system contracts deployed) and prints the dev keys.
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
        /// A TOML node config (overrides --data-dir and --listen).
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// List the system contracts built into this binary: size and code hash.
    Contracts,
    /// Check a wasm file against hanok's upload limits, as an upload would.
    Validate {
        /// Path to a .wasm file.
        wasm: PathBuf,
    },
}

fn krw(v: u128) -> String {
    let digits = v.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    format!("{out} KRW")
}

fn step(n: &str, text: &str) {
    println!("\n[{n}] {text}");
}

fn demo() -> Result<()> {
    let started = Instant::now();
    step("1", "Genesis: registry authority, 3 officials (policy 2 of 3), banks A and B, a broker; system contracts deployed");
    let mut s = Story::genesis(Terms::default()).context("genesis")?;
    let sys = s.system;
    for (name, addr) in [
        ("identity", sys.identity),
        ("registry", sys.registry),
        ("krw", sys.krw),
        ("escrow", sys.escrow),
        ("deal", sys.deal),
    ] {
        println!("    {name:<9} {addr}");
    }
    let a = s.actors.clone();

    step("2", "An official registers parcel P to the seller; Bank A's 300,000,000 KRW mortgage lien is recorded");
    let p = s
        .register_parcel_with_lien()
        .context("register parcel and lien")?;
    println!(
        "    parcel {} ({}), {} m², owner {}",
        p.parcel_id,
        p.address,
        p.area_m2_hundredths as f64 / 100.0,
        p.owners[0].owner
    );

    step(
        "3",
        "Bank B mints 900,000,000 KRW deposit tokens to the buyer (cash + loan)",
    );
    println!(
        "    buyer balance: {}",
        krw(s.mint_to_buyer().context("mint")?)
    );

    step(
        "4",
        "The broker opens the deal; Bank B attaches the buyer's new 600,000,000 KRW mortgage",
    );
    let d = s.open_deal().context("open deal")?;
    println!(
        "    deal #{} price {} deadline {} status {:?}",
        d.deal_id,
        krw(d.price.0),
        d.deadline,
        d.status
    );

    step("5", "The buyer funds the escrow; seller and buyer sign");
    s.fund().context("fund escrow")?;
    println!("    escrow holds {}", krw(s.balance(sys.escrow)?));
    println!("    status {:?}", s.sign_both().context("sign")?.status);

    step("6", "Officials approve under the registry's 2-of-3 policy");
    let d = s.approve(2).context("approve")?;
    println!(
        "    approvals {} → status {:?}",
        d.approvals.len(),
        d.status
    );

    step("7", "Settlement: ONE atomic transaction");
    let r = s.settle().context("settle")?;
    for e in &r.events {
        let attrs: Vec<String> = e
            .attributes
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        println!("    event {:<18} {}", e.ty, attrs.join(" "));
    }
    println!("    gas used: {}", r.gas_used);
    println!(
        "    Bank A {} | seller {} | buyer {} | escrow {}",
        krw(s.balance(a.bank_a)?),
        krw(s.balance(a.seller)?),
        krw(s.balance(a.buyer)?),
        krw(s.balance(sys.escrow)?)
    );
    let p = s.parcel()?;
    println!(
        "    owner of P: {} (the buyer: {})",
        p.owners[0].owner,
        p.owners[0].owner == a.buyer
    );
    for e in &p.encumbrances {
        if let EncumbranceKind::Mortgage { holder, amount } = &e.kind {
            println!(
                "    lien rank {} holder {} {} {}",
                e.rank,
                holder,
                krw(amount.0),
                if e.active { "active" } else { "discharged" }
            );
        }
    }
    if s.deal()?.status != DealStatus::Settled
        || p.owners[0].owner != a.buyer
        || s.balance(a.bank_a)? != 3 * EOK
    {
        bail!("settlement did not produce the expected state");
    }

    step("8", "If anything fails, settlement reverts entirely; after the deadline the buyer reclaims the escrow");
    let mut f = Story::up_to_approval(Terms {
        lien_a: 10 * EOK,
        parcel_id: "1168010300-1-0456-0000".into(),
        ..Terms::default()
    })?;
    let before = f.chain.dump();
    let err = f
        .settle()
        .err()
        .context("a settlement with a short payoff must fail")?;
    println!(
        "    payoff short → refused: {}",
        err.contract_message().unwrap_or_default()
    );
    println!("    state unchanged: {}", f.chain.dump() == before);
    f.chain.advance_time(f.terms.deadline_in + 1);
    let id = f.deal_id()?;
    f.tx(
        f.actors.buyer,
        f.system.deal,
        serde_json::json!({"refund": {"deal_id": id}}),
    )
    .context("refund")?;
    println!(
        "    after the deadline the buyer is refunded: {}",
        krw(f.balance(f.actors.buyer)?)
    );

    println!("\nAll steps passed in {:.2?}. (Step 9, a title proof against a committed block, needs the node: see README.)", started.elapsed());
    Ok(())
}

fn node(
    dev: bool,
    data_dir: PathBuf,
    listen: std::net::SocketAddr,
    config: Option<PathBuf>,
) -> Result<()> {
    if !dev {
        bail!("only the dev genesis is built in so far: run `hanok node --dev`");
    }
    let config = match config {
        Some(path) => hanok_node::NodeConfig::load(&path)
            .with_context(|| format!("loading {}", path.display()))?,
        None => {
            let mut c = hanok_node::NodeConfig::dev(data_dir);
            c.listen = listen;
            c
        }
    };
    println!(
        "hanok dev node: chain {}, data dir {}",
        config.chain_id,
        config.data_dir.display()
    );
    println!("gRPC endpoint: http://{}", config.listen);
    println!("dev keys (DEV ONLY — never use on a real network):");
    for a in hanok_node::dev::DevKeys::new().all() {
        println!(
            "  {:<10} {} {} roles={:?}",
            a.name, a.address, a.did, a.roles
        );
    }
    let rt = tokio::runtime::Runtime::new().context("starting tokio")?;
    rt.block_on(async move {
        let shutdown = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        hanok_node::serve(config, hanok_node::dev::dev_genesis(), shutdown).await
    })?;
    Ok(())
}

fn main() -> Result<()> {
    match Cli::parse().command {
        Command::Demo => demo(),
        Command::Node {
            dev,
            data_dir,
            listen,
            config,
        } => node(dev, data_dir, listen, config),
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
    }
}

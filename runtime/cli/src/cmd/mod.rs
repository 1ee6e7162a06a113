//! The per-user commands of `hanok` (`status`, `keys`, `parcel`, `lien`, `deal`, `token`,
//! `identity`, `contract`, `verify`): each a thin layer over the client SDK (`hanok-client`). They parse
//! and check the user's input, call the SDK, and print the answer as text or, with `--json`,
//! as JSON. Nothing is enforced here: roles and rules are checked on chain, and a contract's
//! refusal is printed as the contract worded it.
//!
//! Shared plumbing lives in this module: the global options ([`NodeOpts`], [`SignerOpts`],
//! [`SystemOpts`]), the connection context ([`Ctx`]: client, signer, system contract lookup)
//! and the parsers and printers every command uses.

pub(crate) mod certificate;
mod contract;
mod deal;
mod identity;
pub(crate) mod keys;
mod parcel;
mod tax;
mod token;
mod verify;

use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, Subcommand};
use hanok_client::{v1, Client, ClientError, Signer, Tls};
use hanok_node::dev::{DevKeys, SystemContracts};
use hanok_types::{Address, Hash};
use serde_json::{json, Value};
use std::fmt::Display;
use std::path::PathBuf;
use std::time::Duration;

/// The endpoint used when neither `--endpoint` nor `HANOK_ENDPOINT` is set: where
/// `hanok node --dev` listens.
pub const DEFAULT_ENDPOINT: &str = "http://127.0.0.1:50051";

/// The per-user commands, flattened into the binary's top-level commands.
#[derive(Subcommand)]
pub enum UserCommand {
    /// Show the node's chain head: chain id, height, latest block hash, state root, block time
    /// and node version. A quick way to check that a node is reachable.
    #[command(
        after_help = "Example:\n  hanok node --dev &        # in another terminal\n  hanok status"
    )]
    Status {
        #[command(flatten)]
        node: NodeOpts,
    },
    /// Create or inspect an account key (secp256k1): its address and did:key.
    ///
    /// `keys new` makes a fresh random key and writes it to a file (give that file to the other
    /// commands with `--key FILE`). `keys show` prints the address and did:key of a key file or
    /// of a dev account; with `--online` it also asks the node for the next nonce and roles.
    /// An account can send transactions only once the registry authority has enrolled it.
    #[command(after_help = KEYS_EXAMPLES)]
    Keys {
        #[command(flatten)]
        node: NodeOpts,
        #[command(subcommand)]
        cmd: keys::KeysCmd,
    },
    /// Land parcels: register one (official), show its title, list its history and past
    /// encumbrances.
    ///
    /// Transactions are signed with `--key FILE` or `--dev NAME`; the registry contract is
    /// looked up on the node by its label unless `--registry ADDR` is given.
    #[command(after_help = PARCEL_EXAMPLES)]
    Parcel {
        #[command(flatten)]
        opts: Opts,
        #[command(subcommand)]
        cmd: parcel::ParcelCmd,
    },
    /// Mortgage liens on a parcel: record one (official; the amount is the registered
    /// maximum), file its payoff statement (the holder bank: the debt a sale pays), discharge one
    /// (its holder bank or an official). Active liens are shown by `hanok parcel show`, discharged ones by
    /// `hanok parcel past`.
    #[command(after_help = LIEN_EXAMPLES)]
    Lien {
        #[command(flatten)]
        opts: Opts,
        #[command(subcommand)]
        cmd: parcel::LienCmd,
    },
    /// Registered leases (전세권) on a parcel: record one (official), discharge one (its tenant
    /// or an official). They rank among the encumbrances; a sale keeps them.
    #[command(after_help = LEASE_EXAMPLES)]
    Lease {
        #[command(flatten)]
        opts: Opts,
        #[command(subcommand)]
        cmd: parcel::LeaseCmd,
    },
    /// Deals: the sale of a parcel from open to settlement.
    ///
    /// The lifecycle: a broker proposes the deal (naming the buyer's lender, if any) → the
    /// seller accepts it, which binds the parcel until the deadline → the named lender may
    /// attach the buyer's new mortgage → the buyer funds the escrow with the price in KRW
    /// tokens → seller and buyer sign the exact terms → officials approve under the registry's
    /// policy (e.g. 2 of 3) → anyone party to it settles, in one atomic transaction (liens paid
    /// off, seller paid, title moved, new lien recorded). Before funding it may be cancelled;
    /// after a rejection or the deadline the buyer reclaims the escrow with `refund`.
    #[command(after_help = DEAL_EXAMPLES)]
    Deal {
        #[command(flatten)]
        opts: Opts,
        #[command(subcommand)]
        cmd: deal::DealCmd,
    },
    /// The KRW deposit token: mint and burn (banks), transfer, balance, total supply.
    #[command(after_help = TOKEN_EXAMPLES)]
    Token {
        #[command(flatten)]
        opts: Opts,
        #[command(subcommand)]
        cmd: token::TokenCmd,
    },
    /// Accounts and roles (the identity contract): enrol, revoke, show roles, list members.
    ///
    /// A new key (`hanok keys new`) can send transactions only once the registry authority has
    /// enrolled it with its roles: authority, official, bank, broker, citizen.
    #[command(after_help = IDENTITY_EXAMPLES)]
    Identity {
        #[command(flatten)]
        opts: Opts,
        #[command(subcommand)]
        cmd: identity::IdentityCmd,
    },
    /// Acquisition tax (취득세): the rate table by price band and the first-home relief (set
    /// by a tax-official), a quote for a price, whether a buyer's person already claimed the
    /// relief.
    ///
    /// A deal quotes the full-rate tax when every seller has accepted; the buyer pays it into
    /// escrow with the last payment, and settlement pays the municipality (less the relief,
    /// which goes back to the buyer, once per person).
    #[command(after_help = TAX_EXAMPLES)]
    Tax {
        #[command(flatten)]
        opts: Opts,
        #[command(subcommand)]
        cmd: tax::TaxCmd,
    },
    /// Any contract: upload wasm code, instantiate it, query, execute, list deployed contracts.
    #[command(after_help = CONTRACT_EXAMPLES)]
    Contract {
        #[command(flatten)]
        opts: Opts,
        #[command(subcommand)]
        cmd: contract::ContractCmd,
    },
    /// Fetch a parcel's title with a proof tied to a committed block, and check it offline.
    ///
    /// Without `--proof`, the proof is fetched from the node (`--save FILE` keeps it as JSON).
    /// With `--proof FILE`, nothing is fetched: the saved proof is checked on this machine.
    /// The check recomputes the Merkle path from the parcel to the header's state root and checks
    /// the proposer's signature over the header; pass `--trusted-header HEX` (a block hash you
    /// obtained independently) to also require that header. Exits non-zero if any check fails.
    #[command(after_help = VERIFY_EXAMPLES)]
    Verify {
        #[command(flatten)]
        node: NodeOpts,
        #[command(flatten)]
        system: SystemOpts,
        #[command(flatten)]
        args: verify::VerifyArgs,
    },
    /// Write a parcel's title certificate, the file a bank files with a loan: `--out
    /// FILE.html` the printable page (owners and shares, encumbrances in rank, recent history,
    /// the block it speaks for, a QR code) with the machine-checkable part embedded, `--out
    /// FILE.json` that part alone. `hanok verify --certificate FILE --genesis HASH` checks
    /// either offline.
    #[command(after_help = CERTIFICATE_EXAMPLES)]
    Certificate {
        #[command(flatten)]
        node: NodeOpts,
        #[command(flatten)]
        system: SystemOpts,
        #[command(flatten)]
        args: certificate::CertificateArgs,
    },
    /// The registry official's console in a browser: the approval queue with the checks to
    /// make before signing, each deal with the settlement's effect and approve / reject (with a
    /// reason) buttons, parcels with their certificates, live as blocks land; in Korean or
    /// English by the browser's language. Serves on this machine only; the signing key
    /// (`--key FILE` or `--dev official-1`) stays in this process. Open the link it prints.
    #[command(after_help = CONSOLE_EXAMPLES)]
    Console {
        #[command(flatten)]
        opts: Opts,
        #[command(flatten)]
        args: crate::console::ConsoleArgs,
    },
}

const CONSOLE_EXAMPLES: &str = "Examples:\n  hanok node --dev &                 # a dev node\n  \
     hanok console --dev official-1     # prints: open http://127.0.0.1:8080/login?token=…\n  \
     hanok console --key official.key --endpoint https://registry.example:50051 \\\n      \
     --ca ca.pem --cert client.pem --key client.key --listen 127.0.0.1:8081";

const CERTIFICATE_EXAMPLES: &str =
    "Examples:\n  hanok certificate --parcel 1168010100-1 --out title.html\n  \
     hanok status                     # its `genesis hash` line\n  \
     hanok verify --certificate title.html --genesis <that hash>";

/// Printed under the examples of every command that takes addresses or amounts.
macro_rules! addr_note {
    () => {
        "\n\nADDR is 0x and 40 hex digits, or dev:NAME for a dev account of `hanok node --dev` \
         (e.g. dev:seller).\nKRW amounts are whole numbers: 900000000, 900_000_000 and \
         900,000,000 are the same."
    };
}

const KEYS_EXAMPLES: &str = "Examples:
  hanok keys new --out alice.key         # then enrol it: `hanok identity enrol --help`
  hanok keys show --key alice.key
  hanok keys show --dev official-1 --online";

const VERIFY_EXAMPLES: &str = concat!(
    "Examples:
  hanok verify --parcel P-1 --save p1-title.json
  hanok verify --parcel P-1 --proof p1-title.json --trusted-header <block hash you trust>
  hanok verify --parcel P-1 --expect-owner dev:buyer",
    addr_note!()
);

const LIEN_EXAMPLES: &str = concat!(
    "Examples:
  hanok lien record --parcel P-1 --holder dev:bank-a --amount 300,000,000 --dev official-1
  hanok lien payoff --parcel P-1 --rank 1 --amount 250,000,000 --valid-until +14d --dev bank-a
  hanok lien discharge --parcel P-1 --rank 1 --dev bank-a",
    addr_note!()
);

const TOKEN_EXAMPLES: &str = concat!(
    "Examples:
  hanok token mint --to dev:buyer --amount 900,000,000 --dev bank-b
  hanok token balance dev:buyer
  hanok token transfer --to dev:seller --amount 1,000 --dev buyer",
    addr_note!()
);

const IDENTITY_EXAMPLES: &str = concat!(
    "Examples:
  hanok keys new --out bank-c.key                              # prints its address
  hanok identity enrol 0x… --role bank --dev authority
  hanok identity enrol 0x… --role citizen --person-hash <sha256(salt||resident no.)> --dev authority
  hanok identity roles 0x…
  hanok identity person 0x…
  hanok identity members official",
    addr_note!()
);

const TAX_EXAMPLES: &str = concat!(
    "Examples:
  hanok tax set-rates --band 600000000:100 --band 900000000:100-300 --band max:300 \\
      --relief 1200000000:2000000 --municipality dev:city --dev tax-official
  hanok tax rates
  hanok tax quote 900000000
  hanok tax relief dev:buyer

A band is UP_TO:RATE in basis points (100 = 1 %), UP_TO `max` for the last one; UP_TO:LOW-HIGH
is a sliding band whose rate rises from LOW to HIGH across it (the 6억-9억 band for homes).
--relief is MAX_PRICE:MAX_REDUCTION.",
    addr_note!()
);

const PARCEL_EXAMPLES: &str = concat!(
    "Examples:
  hanok parcel register --id P-1 --address \"Seoul Gangnam-gu Daechi-dong 123\" \\
      --area-m2 84.97 --owner dev:seller --dev official-1
  hanok parcel show P-1
  hanok parcel history P-1
  hanok parcel past P-1                            # discharged liens, lifted seizures
  hanok parcel freeze P-1 --court-order-hash <64 hex digits> --dev official-1",
    addr_note!()
);

const LEASE_EXAMPLES: &str = concat!(
    "Examples:
  hanok lease record --parcel P-1 --tenant dev:buyer --deposit 300,000,000 --end +730d \\
      --dev official-1                             # prints the lease's rank
  hanok parcel show P-1                            # the lease among the encumbrances
  hanok lease discharge --parcel P-1 --rank 2 --dev official-1",
    addr_note!()
);

const DEAL_EXAMPLES: &str = concat!(
    "Example (the dev accounts of `hanok node --dev`):
  hanok deal open --parcel P-1 --seller dev:seller --buyer dev:buyer --price 900,000,000 \\
      --deadline +7d --lender dev:bank-b --max-mortgage 600,000,000 \\
      --dev broker                                 # prints the deal id, say 1
  hanok deal accept 1 --dev seller
  hanok deal attach-mortgage 1 --amount 600,000,000 --dev bank-b
  hanok deal fund 1 --dev buyer
  hanok deal sign 1 --dev seller
  hanok deal sign 1 --dev buyer
  hanok deal queue                             # the officials' queue: signed, awaiting approval
  hanok deal approve 1 --dev official-1
  hanok deal approve 1 --dev official-2
  hanok deal settle 1 --dev broker
  hanok deal show 1
  # or, instead of approving: an official rejects it, saying why
  hanok deal reject 1 --reason \"The seller's seal does not match\" --dev official-3",
    addr_note!()
);

const CONTRACT_EXAMPLES: &str = concat!(
    "Examples:
  hanok contract upload my_contract.wasm --dev authority           # prints the code hash
  hanok contract instantiate --code-hash <HASH> --label my-v1 --msg '{}' --dev authority
  hanok contract query --contract 0x… --msg '{\"config\": {}}'
  hanok contract execute --contract 0x… --msg '{\"do_it\": {}}' --dev seller
  hanok contract list",
    addr_note!()
);

/// How to reach the node and how to print. Global: may be given before or after the
/// subcommand.
#[derive(Args, Debug, Clone)]
pub struct NodeOpts {
    /// The node's gRPC endpoint.
    #[arg(
        long,
        global = true,
        env = "HANOK_ENDPOINT",
        default_value = DEFAULT_ENDPOINT,
        value_name = "URL",
        help_heading = "Node"
    )]
    pub endpoint: String,
    /// Print the result as JSON (the raw contract answer, or the receipt of a transaction).
    #[arg(long, global = true, help_heading = "Node")]
    pub json: bool,
    /// How long to wait for a transaction to be committed, in seconds.
    #[arg(
        long,
        global = true,
        default_value_t = 30,
        value_name = "SECS",
        help_heading = "Node"
    )]
    pub wait: u64,
    /// Gas limit of each transaction (a failed transaction is charged all of it).
    #[arg(long, global = true, value_name = "GAS", help_heading = "Node")]
    pub gas_limit: Option<u64>,
    /// The CA that issued the node's TLS certificate, for an `https://` endpoint.
    #[arg(
        long,
        global = true,
        env = "HANOK_CA",
        value_name = "FILE",
        help_heading = "TLS"
    )]
    pub ca: Option<PathBuf>,
    /// This client's certificate, for a node that requires mutual TLS (`hanok tls dev-certs`
    /// writes one). Its key is `--key FILE` (a PEM key) or `--tls-key FILE`.
    #[arg(
        long,
        global = true,
        env = "HANOK_CERT",
        value_name = "FILE",
        help_heading = "TLS"
    )]
    pub cert: Option<PathBuf>,
    /// The private key of `--cert` (PEM), when `--key` is taken by the signing key.
    #[arg(
        long,
        global = true,
        env = "HANOK_TLS_KEY",
        value_name = "FILE",
        help_heading = "TLS"
    )]
    pub tls_key: Option<PathBuf>,
    /// A key file: the signing key (64 hex digits, from `hanok keys new`), or the PEM key of
    /// `--cert`. Give it twice to pass both; each file is recognised by its content.
    #[arg(
        long = "key",
        global = true,
        value_name = "FILE",
        action = clap::ArgAction::Append,
        help_heading = "Signer"
    )]
    pub keys: Vec<PathBuf>,
}

/// The key files of `--key`, sorted by what they hold.
struct KeyFiles {
    signing: Option<(Signer, PathBuf)>,
    tls: Option<PathBuf>,
}

fn is_pem(path: &std::path::Path) -> Result<bool> {
    let bytes =
        std::fs::read(path).with_context(|| format!("reading the key file {}", path.display()))?;
    Ok(bytes.windows(11).any(|w| w == b"-----BEGIN "))
}

impl NodeOpts {
    fn key_files(&self) -> Result<KeyFiles> {
        let mut files = KeyFiles {
            signing: None,
            tls: None,
        };
        for path in &self.keys {
            if is_pem(path)? {
                if let Some(first) = files.tls.replace(path.clone()) {
                    bail!(
                        "two PEM keys given with --key ({} and {}); give the TLS client key once",
                        first.display(),
                        path.display()
                    );
                }
            } else {
                let signer = read_key_file(path)?;
                if let Some((_, first)) = files.signing.replace((signer, path.clone())) {
                    bail!(
                        "two signing keys given with --key ({} and {}); a transaction has one signer",
                        first.display(),
                        path.display()
                    );
                }
            }
        }
        Ok(files)
    }

    /// The TLS material of `--ca`, `--cert` and `--tls-key` / a PEM `--key`, if any is given.
    pub fn tls(&self) -> Result<Option<Tls>> {
        let pem_key = self.key_files()?.tls;
        let key = match (&self.tls_key, pem_key) {
            (Some(_), Some(k)) => bail!(
                "both --tls-key and a PEM --key ({}) were given; give the TLS client key once",
                k.display()
            ),
            (Some(k), None) => Some(k.clone()),
            (None, k) => k,
        };
        if self.ca.is_none() && self.cert.is_none() && key.is_none() {
            return Ok(None);
        }
        Ok(Some(Tls::from_files(
            self.ca.as_deref(),
            self.cert.as_deref(),
            key.as_deref(),
        )?))
    }
}

/// Which account signs, besides `--key FILE` (see [`NodeOpts::keys`]). Global: may be given
/// before or after the subcommand.
#[derive(Args, Debug, Clone, Default)]
pub struct SignerOpts {
    // The signing key file is `--key FILE`, which lives in `NodeOpts` because it may also be
    // the TLS client key (recognised by its content).
    /// Sign as a dev account of `hanok node --dev`: authority, official-1, official-2,
    /// official-3, bank-a, bank-b, broker, seller, spouse, tenant or buyer. DEV ONLY: these keys
    /// are public.
    #[arg(long, global = true, value_name = "NAME", help_heading = "Signer")]
    pub dev: Option<String>,
}

const SYSTEM_HEADING: &str = "System contracts (default: looked up on the node by label)";

/// Where the system contracts are. By default each is looked up on the node by its label
/// (the dev genesis addresses if the node cannot list contracts).
#[derive(Args, Debug, Clone, Default)]
pub struct SystemOpts {
    /// The registry contract.
    #[arg(
        long,
        global = true,
        value_name = "ADDR",
        value_parser = parse_address,
        help_heading = SYSTEM_HEADING
    )]
    pub registry: Option<Address>,
    /// The KRW deposit token contract.
    #[arg(
        long,
        global = true,
        value_name = "ADDR",
        value_parser = parse_address,
        help_heading = SYSTEM_HEADING
    )]
    pub krw: Option<Address>,
    /// The escrow contract.
    #[arg(
        long,
        global = true,
        value_name = "ADDR",
        value_parser = parse_address,
        help_heading = SYSTEM_HEADING
    )]
    pub escrow: Option<Address>,
    /// The deal contract.
    #[arg(
        long,
        global = true,
        value_name = "ADDR",
        value_parser = parse_address,
        help_heading = SYSTEM_HEADING
    )]
    pub deal: Option<Address>,
    /// The identity (roles) contract.
    #[arg(
        long,
        global = true,
        value_name = "ADDR",
        value_parser = parse_address,
        help_heading = SYSTEM_HEADING
    )]
    pub identity: Option<Address>,
    /// The acquisition-tax contract.
    #[arg(
        long,
        global = true,
        value_name = "ADDR",
        value_parser = parse_address,
        help_heading = SYSTEM_HEADING
    )]
    pub tax: Option<Address>,
}

/// Every global option of a command that talks to the node and may sign.
#[derive(Args, Debug, Clone)]
pub struct Opts {
    #[command(flatten)]
    pub node: NodeOpts,
    #[command(flatten)]
    pub signer: SignerOpts,
    #[command(flatten)]
    pub system: SystemOpts,
}

/// Runs a per-user command.
///
/// # Errors
/// Whatever the command reports; the message says what to fix.
pub fn run(cmd: UserCommand) -> Result<()> {
    // `keys new` and `keys show` without `--online` need no node and no runtime.
    if let UserCommand::Keys { node, cmd } = &cmd {
        if !cmd.needs_node() {
            return keys::run_offline(node, cmd);
        }
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting tokio")?;
    let node = match &cmd {
        UserCommand::Status { node }
        | UserCommand::Keys { node, .. }
        | UserCommand::Verify { node, .. }
        | UserCommand::Certificate { node, .. } => node,
        UserCommand::Parcel { opts, .. }
        | UserCommand::Lien { opts, .. }
        | UserCommand::Lease { opts, .. }
        | UserCommand::Deal { opts, .. }
        | UserCommand::Token { opts, .. }
        | UserCommand::Identity { opts, .. }
        | UserCommand::Tax { opts, .. }
        | UserCommand::Contract { opts, .. }
        | UserCommand::Console { opts, .. } => &opts.node,
    };
    // A node that requires mutual TLS completes the handshake and then drops a client without
    // a certificate, so the first call fails with a bare broken connection: say why it likely
    // happened.
    let tls_without_cert = node.endpoint.starts_with("https://") && node.cert.is_none();
    let result = rt.block_on(async move {
        match cmd {
            UserCommand::Status { node } => status(node).await,
            UserCommand::Keys { node, cmd } => keys::run_online(node, cmd).await,
            UserCommand::Parcel { opts, cmd } => parcel::run(Ctx::connect(opts).await?, cmd).await,
            UserCommand::Lien { opts, cmd } => {
                parcel::run_lien(Ctx::connect(opts).await?, cmd).await
            }
            UserCommand::Lease { opts, cmd } => {
                parcel::run_lease(Ctx::connect(opts).await?, cmd).await
            }
            UserCommand::Deal { opts, cmd } => deal::run(Ctx::connect(opts).await?, cmd).await,
            UserCommand::Token { opts, cmd } => token::run(Ctx::connect(opts).await?, cmd).await,
            UserCommand::Identity { opts, cmd } => {
                identity::run(Ctx::connect(opts).await?, cmd).await
            }
            UserCommand::Tax { opts, cmd } => tax::run(Ctx::connect(opts).await?, cmd).await,
            UserCommand::Contract { opts, cmd } => {
                contract::run(Ctx::connect(opts).await?, cmd).await
            }
            UserCommand::Verify { node, system, args } => verify::run(node, system, args).await,
            UserCommand::Certificate { node, system, args } => {
                certificate::run(node, system, args).await
            }
            UserCommand::Console { opts, args } => crate::console::run(opts, args).await,
        }
    });
    result.map_err(|e| {
        let transport = e.chain().any(|c| {
            matches!(
                c.downcast_ref::<ClientError>(),
                Some(ClientError::Transport(_))
            )
        });
        if tls_without_cert && transport {
            e.context(
                "the node closed the connection: if it requires mutual TLS, pass this client's \
                 certificate with --cert FILE and its key with --key FILE (or --tls-key FILE)",
            )
        } else {
            e
        }
    })
}

async fn status(node: NodeOpts) -> Result<()> {
    let client = connect(&node).await?;
    let s = client
        .status()
        .await
        .context("asking the node for its status")?;
    let c = s.consensus.as_ref();
    let role = c.map_or("single", |c| c.role.as_str());
    let leader = c.and_then(|c| c.leader.as_ref());
    if node.json {
        let mut v = json!({
            "chain_id": s.chain_id,
            "height": s.height,
            "latest_block_hash": hex::encode(&s.latest_block_hash),
            "state_root": hex::encode(&s.state_root),
            "latest_block_time": s.latest_block_time,
            "node_version": s.node_version,
            "genesis_hash": hex::encode(&s.genesis_hash),
            "endpoint": node.endpoint,
            "role": role,
            "leader": leader.map(|l| json!({"id": l.id, "name": l.name, "addr": l.addr})),
        });
        if let Some(c) = c {
            v["consensus"] = json!({
                "node": c.node.as_ref().map(|n| json!({"id": n.id, "name": n.name, "addr": n.addr})),
                "term": c.term,
                "committed_index": c.committed_index,
                "applied_index": c.applied_index,
                "applied_height": c.applied_height,
                "halted": (!c.halted.is_empty()).then_some(&c.halted),
                "members": c.members.iter().map(|m| json!({
                    "id": m.member.as_ref().map(|x| x.id),
                    "name": m.member.as_ref().map(|x| x.name.clone()),
                    "addr": m.member.as_ref().map(|x| x.addr.clone()),
                    "height": m.height_known.then_some(m.height),
                    "learner": m.learner,
                })).collect::<Vec<_>>(),
            });
        }
        return print_json(&v);
    }
    println!("endpoint      {}", node.endpoint);
    println!("chain id      {}", s.chain_id);
    println!(
        "genesis hash  {}  (give it to `hanok verify --certificate`)",
        hex::encode(&s.genesis_hash)
    );
    println!("height        {}", s.height);
    println!("block hash    {}", hex::encode(&s.latest_block_hash));
    println!(
        "state root    {}  (state after block {})",
        hex::encode(&s.state_root),
        s.height
    );
    println!(
        "block time    {} ({})",
        utc(s.latest_block_time),
        s.latest_block_time
    );
    if let Some(c) = c {
        let me = c
            .node
            .as_ref()
            .map_or_else(String::new, |n| format!("{} (node {})", n.name, n.id));
        println!("role          {role} — {me}, term {}", c.term);
        match leader {
            Some(l) => println!("leader        {} (node {}) at {}", l.name, l.id, l.addr),
            None => println!("leader        none elected at the moment"),
        }
        for m in &c.members {
            let Some(x) = &m.member else { continue };
            let h = if m.height_known {
                m.height.to_string()
            } else {
                "-".to_string()
            };
            let learner = if m.learner {
                "  (learner: catching up)"
            } else {
                ""
            };
            println!(
                "  member      {:<12} node {} {:<22} height {h}{learner}",
                x.name, x.id, x.addr
            );
        }
        if !c.halted.is_empty() {
            println!("HALTED        {}", c.halted);
        }
    }
    println!("node version  {}", s.node_version);
    Ok(())
}

/// Connects to the node of `node.endpoint`, with its wait and gas settings.
pub(crate) async fn connect(node: &NodeOpts) -> Result<Client> {
    let tls = node.tls()?;
    let client = Client::connect_with(&node.endpoint, tls.as_ref())
        .await
        .with_context(|| {
            format!(
                "cannot reach a node at {} (start one with `hanok node --dev`, or pass \
                 --endpoint URL / set HANOK_ENDPOINT)",
                node.endpoint
            )
        })?;
    let client = client.with_wait(Duration::from_secs(node.wait.max(1)));
    Ok(match node.gas_limit {
        Some(gas) => client.with_gas_limit(gas),
        None => client,
    })
}

/// A deployed contract as listed by the node.
#[derive(Debug, Clone)]
pub(crate) struct Listed {
    pub address: Address,
    pub label: String,
    pub creator: Option<Address>,
    pub code_hash: String,
    pub admin: Option<Address>,
}

impl Listed {
    fn from_proto(c: v1::ContractInfo) -> Result<Listed> {
        let address = Address::from_slice(&c.address).ok_or_else(|| {
            anyhow!(
                "the node listed a contract address of {} bytes",
                c.address.len()
            )
        })?;
        Ok(Listed {
            address,
            label: c.label,
            creator: Address::from_slice(&c.creator),
            code_hash: hex::encode(&c.code_hash),
            admin: c.admin.as_deref().and_then(Address::from_slice),
        })
    }
}

/// A connected command: the client, the options, and the system contracts once looked up.
pub(crate) struct Ctx {
    pub client: Client,
    pub node: NodeOpts,
    signer: SignerOpts,
    system: SystemOpts,
    listed: Option<Vec<Listed>>,
}

impl Ctx {
    pub(crate) async fn connect(opts: Opts) -> Result<Ctx> {
        let client = connect(&opts.node).await?;
        Ok(Ctx {
            client,
            node: opts.node,
            signer: opts.signer,
            system: opts.system,
            listed: None,
        })
    }

    /// The signer chosen by `--key` or `--dev`.
    pub fn signer(&self) -> Result<Signer> {
        signer_of(&self.node, &self.signer)?.ok_or_else(|| {
            anyhow!(
                "this command signs a transaction: pass --key FILE (see `hanok keys new`) or \
                 --dev NAME (a dev account, e.g. --dev official-1)"
            )
        })
    }

    /// The signer's address if one was chosen.
    pub fn signer_address(&self) -> Result<Option<Address>> {
        Ok(signer_of(&self.node, &self.signer)?.map(|s| s.address()))
    }

    /// Every contract deployed on the node (listed once per command).
    pub async fn listed(&mut self) -> Result<&[Listed]> {
        if self.listed.is_none() {
            let all = self
                .client
                .all_contracts()
                .await
                .context("listing the node's contracts")?;
            let all = all
                .into_iter()
                .map(Listed::from_proto)
                .collect::<Result<Vec<_>>>()?;
            self.listed = Some(all);
        }
        Ok(self.listed.as_deref().unwrap_or_default())
    }

    pub async fn registry(&mut self) -> Result<Address> {
        let flag = self.system.registry;
        self.system_contract("registry", flag).await
    }

    pub async fn krw(&mut self) -> Result<Address> {
        let flag = self.system.krw;
        self.system_contract("krw", flag).await
    }

    pub async fn escrow(&mut self) -> Result<Address> {
        let flag = self.system.escrow;
        self.system_contract("escrow", flag).await
    }

    pub async fn deal(&mut self) -> Result<Address> {
        let flag = self.system.deal;
        self.system_contract("deal", flag).await
    }

    pub async fn identity(&mut self) -> Result<Address> {
        let flag = self.system.identity;
        self.system_contract("identity", flag).await
    }

    pub async fn tax(&mut self) -> Result<Address> {
        let flag = self.system.tax;
        self.system_contract("tax", flag).await
    }

    async fn system_contract(&mut self, label: &str, flag: Option<Address>) -> Result<Address> {
        resolve_system(&self.client, &mut self.listed, label, flag).await
    }
}

/// The address of system contract `label`: the flag if given; else the contract the node
/// lists under that label (the dev genesis one when several are, since the dev authority
/// deployed the system contracts); else, if the node cannot list contracts, the dev genesis
/// address.
pub(crate) async fn resolve_system(
    client: &Client,
    cache: &mut Option<Vec<Listed>>,
    label: &str,
    flag: Option<Address>,
) -> Result<Address> {
    if let Some(a) = flag {
        return Ok(a);
    }
    let dev = dev_system_address(label)?;
    if cache.is_none() {
        match client.all_contracts().await {
            Ok(all) => {
                *cache = Some(
                    all.into_iter()
                        .map(Listed::from_proto)
                        .collect::<Result<Vec<_>>>()?,
                );
            }
            Err(ClientError::Status {
                code: tonic::Code::Unimplemented,
                ..
            }) => {
                return Ok(dev);
            }
            Err(e) => {
                return Err(e).with_context(|| {
                    format!(
                        "listing the node's contracts to find the {label} contract (or pass \
                         --{label} ADDR)"
                    )
                })
            }
        }
    }
    let listed = cache.as_deref().unwrap_or_default();
    let found: Vec<&Listed> = listed.iter().filter(|c| c.label == label).collect();
    if found.iter().any(|c| c.address == dev) {
        return Ok(dev);
    }
    match found.as_slice() {
        [one] => Ok(one.address),
        [] => bail!(
            "the node has no contract labelled `{label}`; pass --{label} ADDR \
             (`hanok contract list` shows what is deployed)"
        ),
        many => bail!(
            "several contracts are labelled `{label}` ({}); pass --{label} ADDR to choose",
            many.iter()
                .map(|c| c.address.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// The dev genesis address of system contract `label`.
fn dev_system_address(label: &str) -> Result<Address> {
    SystemContracts::of(&DevKeys::new().authority().address)
        .get(label)
        .ok_or_else(|| anyhow!("`{label}` is not a system contract"))
}

/// The signer of `--key FILE` / `--dev NAME`, if either was given.
pub(crate) fn signer_of(node: &NodeOpts, opts: &SignerOpts) -> Result<Option<Signer>> {
    match (node.key_files()?.signing, &opts.dev) {
        (Some((_, path)), Some(name)) => bail!(
            "both --key {} and --dev {name} were given; a transaction has one signer",
            path.display()
        ),
        (Some((signer, _)), None) => Ok(Some(signer)),
        (None, Some(name)) => dev_signer(name).map(Some),
        (None, None) => Ok(None),
    }
}

fn dev_signer(name: &str) -> Result<Signer> {
    let keys = DevKeys::new();
    let account = keys.get(name).ok_or_else(|| {
        anyhow!(
            "unknown dev account `{name}`; the dev accounts are {}",
            dev_names()
        )
    })?;
    Ok(Signer::new(account.key.clone()))
}

fn dev_names() -> String {
    DevKeys::new()
        .all()
        .iter()
        .map(|a| a.name)
        .collect::<Vec<_>>()
        .join(", ")
}

pub(crate) fn read_key_file(path: &std::path::Path) -> Result<Signer> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the key file {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(path) {
            if meta.permissions().mode() & 0o077 != 0 {
                eprintln!(
                    "warning: {} can be read by other users; `chmod 600 {}`",
                    path.display(),
                    path.display()
                );
            }
        }
    }
    Signer::from_hex(&text).with_context(|| {
        format!(
            "{} does not hold a secret key (expected 64 hex digits, as `hanok keys new` writes)",
            path.display()
        )
    })
}

/// Parses an address: `0x` and 40 hex digits (the `0x` may be left out), or `dev:NAME`.
pub(crate) fn parse_address(s: &str) -> Result<Address, String> {
    let t = s.trim();
    if let Some(name) = t.strip_prefix("dev:") {
        return DevKeys::new()
            .get(name)
            .map(|a| a.address)
            .ok_or_else(|| format!("unknown dev account `{name}` (one of {})", dev_names()));
    }
    let digits = t
        .strip_prefix("0x")
        .or_else(|| t.strip_prefix("0X"))
        .unwrap_or(t);
    format!("0x{digits}")
        .parse::<Address>()
        .map_err(|_| format!("`{s}` is not an address: expected 0x and 40 hex digits, or dev:NAME"))
}

/// Parses a 32-byte hash: 64 hex digits, with or without `0x`.
pub(crate) fn parse_hash(s: &str) -> Result<Hash, String> {
    let t = s.trim();
    let digits = t
        .strip_prefix("0x")
        .or_else(|| t.strip_prefix("0X"))
        .unwrap_or(t);
    hex::decode(digits)
        .ok()
        .and_then(|b| Hash::from_slice(&b))
        .ok_or_else(|| format!("`{s}` is not a hash: expected 64 hex digits"))
}

/// Parses a KRW amount: a whole number, `_` and `,` allowed as separators.
pub(crate) fn parse_amount(s: &str) -> Result<u128, String> {
    let digits: String = s
        .trim()
        .chars()
        .filter(|c| *c != '_' && *c != ',')
        .collect();
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "`{s}` is not an amount: expected a whole number of KRW, e.g. 900,000,000"
        ));
    }
    digits
        .parse::<u128>()
        .map_err(|_| format!("`{s}` is too large for an amount"))
}

/// Parses a JSON message given on the command line.
pub(crate) fn parse_json(s: &str) -> Result<Value, String> {
    serde_json::from_str(s)
        .map_err(|e| format!("not valid JSON ({e}); quote it, e.g. '{{\"x\": 1}}'"))
}

/// `1234567` → `1,234,567 KRW`.
pub(crate) use hanok_client::format_krw as krw;

/// Basis points as a percentage, `2.50 %` for 250: shares, tax rates.
pub(crate) fn percent(bps: u32) -> String {
    format!("{}.{:02} %", bps / 100, bps % 100)
}

/// Unix seconds as `YYYY-MM-DDTHH:MM:SSZ` (proleptic Gregorian, UTC).
pub(crate) use hanok_client::format_utc as utc;

/// Prints pretty JSON on stdout.
pub(crate) fn print_json(v: &impl serde::Serialize) -> Result<()> {
    println!(
        "{}",
        serde_json::to_string_pretty(v).context("formatting JSON")?
    );
    Ok(())
}

/// Turns a client error into the message a user acts on: a contract's refusal in the
/// contract's words, anything else with `what` as context.
pub(crate) fn refused(what: impl Display) -> impl FnOnce(ClientError) -> anyhow::Error {
    move |e| match e {
        ClientError::Contract {
            message, tx_hash, ..
        } => anyhow!(
            "{what}: refused by the contract: {message}\n(transaction {tx_hash} was included; \
             its writes were reverted)"
        ),
        ClientError::Status { code, message } => {
            anyhow!("{what}: the node refused ({code:?}): {message}")
        }
        other => anyhow::Error::new(other).context(what.to_string()),
    }
}

/// A call's return data as JSON: `null` when empty, the JSON value when it is JSON, else its
/// bytes as hex (an upload returns the 32-byte code hash, an instantiate the 20-byte address).
pub(crate) fn result_value(data: &[u8]) -> Value {
    if data.is_empty() {
        return Value::Null;
    }
    serde_json::from_slice(data)
        .unwrap_or_else(|_| Value::String(format!("0x{}", hex::encode(data))))
}

fn event_json(e: &v1::Event) -> Value {
    let contract = Address::from_slice(&e.contract)
        .map(|a| a.to_string())
        .unwrap_or_else(|| hex::encode(&e.contract));
    let attrs: serde_json::Map<String, Value> = e
        .attributes
        .iter()
        .map(|a| (a.key.clone(), Value::String(a.value.clone())))
        .collect();
    json!({"contract": contract, "type": e.r#type, "attributes": attrs})
}

/// A receipt as JSON.
pub(crate) fn receipt_json(r: &v1::Receipt) -> Value {
    json!({
        "tx_hash": hex::encode(&r.tx_hash),
        "height": r.height,
        "index": r.index,
        "gas_used": r.gas_used,
        "results": r.results.iter().map(|d| result_value(d)).collect::<Vec<_>>(),
        "events": r.events.iter().map(event_json).collect::<Vec<_>>(),
    })
}

/// Prints a committed transaction: with `--json` the receipt, else one line and its events.
pub(crate) fn print_receipt(ctx: &Ctx, r: &v1::Receipt) -> Result<()> {
    if ctx.node.json {
        return print_json(&receipt_json(r));
    }
    println!(
        "committed in block {} (tx {}, gas {})",
        r.height,
        hex::encode(&r.tx_hash),
        r.gas_used
    );
    for e in &r.events {
        let attrs: Vec<String> = e
            .attributes
            .iter()
            .map(|a| format!("{}={}", a.key, a.value))
            .collect();
        println!("  event {} {}", e.r#type, attrs.join(" "));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_amounts() {
        assert_eq!(parse_amount("900,000,000"), Ok(900_000_000));
        assert_eq!(parse_amount("900_000_000"), Ok(900_000_000));
        assert_eq!(parse_amount("0"), Ok(0));
        assert!(parse_amount("-5").is_err());
        assert!(parse_amount("1.5").is_err());
        assert!(parse_amount("").is_err());
        assert!(parse_amount("1e9").is_err());
        assert!(parse_amount(&"9".repeat(40)).is_err());
    }

    #[test]
    fn parses_addresses() {
        let a = Address([0xab; 20]);
        assert_eq!(parse_address(&a.to_string()), Ok(a));
        assert_eq!(parse_address(&"AB".repeat(20)), Ok(a));
        assert_eq!(
            parse_address("dev:buyer"),
            Ok(DevKeys::new()
                .get("buyer")
                .map(|x| x.address)
                .unwrap_or_default())
        );
        assert!(parse_address("dev:nobody").is_err());
        assert!(parse_address("0x1234").is_err());
    }

    #[test]
    fn formats() {
        assert_eq!(krw(900_000_000), "900,000,000 KRW");
        assert_eq!(krw(5), "5 KRW");
        assert_eq!(utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc(1_767_225_600), "2026-01-01T00:00:00Z");
        assert_eq!(utc(951_825_599), "2000-02-29T11:59:59Z");
        assert_eq!(result_value(b""), Value::Null);
        assert_eq!(result_value(br#"{"a":1}"#), json!({"a": 1}));
        assert_eq!(result_value(&[1, 2]), json!("0x0102"));
    }
}

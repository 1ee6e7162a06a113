//! `hanok keys new` and `hanok keys show`.

use super::{connect, print_json, signer_of, NodeOpts, SignerOpts};
use anyhow::{anyhow, bail, Context, Result};
use clap::Subcommand;
use hanok_client::Signer;
use serde_json::json;
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Subcommand)]
pub enum KeysCmd {
    /// Generate a new random secp256k1 key and print its address and did:key.
    ///
    /// With `--out FILE` the secret key is written there as 64 hex digits (readable by you
    /// only, on unix); without it the secret key is printed, with a warning. Keep it secret:
    /// whoever holds it acts as this account. To send transactions the account must be
    /// enrolled by the registry authority (`hanok identity enrol`).
    New {
        /// Write the hex secret key to FILE (refuses to overwrite an existing file).
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Print the address and did:key of a key (offline), and with `--online` also its next
    /// nonce and roles as the node sees them.
    Show {
        #[command(flatten)]
        signer: SignerOpts,
        /// Also ask the node (see --endpoint) for the account's next nonce and roles.
        #[arg(long)]
        online: bool,
    },
}

impl KeysCmd {
    /// Whether the command talks to a node.
    pub fn needs_node(&self) -> bool {
        matches!(self, KeysCmd::Show { online: true, .. })
    }
}

/// `keys new`, and `keys show` without `--online`.
pub fn run_offline(node: &NodeOpts, cmd: &KeysCmd) -> Result<()> {
    match cmd {
        KeysCmd::New { out } => new_key(node, out.as_deref()),
        KeysCmd::Show { signer, .. } => {
            let s = chosen(node, signer)?;
            if node.json {
                return print_json(&json!({"address": s.address(), "did": s.did()}));
            }
            println!("address  {}", s.address());
            println!("did      {}", s.did());
            Ok(())
        }
    }
}

/// `keys show --online`.
pub async fn run_online(node: NodeOpts, cmd: KeysCmd) -> Result<()> {
    let KeysCmd::Show { signer, .. } = &cmd else {
        return run_offline(&node, &cmd);
    };
    let s = chosen(&node, signer)?;
    let client = connect(&node).await?;
    let account = client
        .account(s.address())
        .await
        .with_context(|| format!("asking the node about {}", s.address()))?;
    if node.json {
        return print_json(&json!({
            "address": s.address(),
            "did": s.did(),
            "next_nonce": account.next_nonce,
            "roles": account.roles,
            "enrolled": account.enrolled,
        }));
    }
    println!("address     {}", s.address());
    println!("did         {}", s.did());
    println!("next nonce  {}", account.next_nonce);
    if account.enrolled {
        println!("roles       {}", account.roles.join(", "));
    } else {
        println!("roles       (not enrolled: the node refuses this account's transactions)");
    }
    Ok(())
}

fn chosen(node: &NodeOpts, signer: &SignerOpts) -> Result<Signer> {
    signer_of(node, signer)?.ok_or_else(|| {
        anyhow!("which key? pass --key FILE or --dev NAME (e.g. `hanok keys show --dev buyer`)")
    })
}

pub(crate) fn random_signer() -> Result<Signer> {
    // A random 32-byte string is a valid key unless it is zero or not below the curve order
    // (probability about 2^-128); draw again in that case.
    for _ in 0..8 {
        let mut bytes = [0u8; 32];
        getrandom::getrandom(&mut bytes)
            .map_err(|e| anyhow!("reading the operating system's randomness: {e}"))?;
        if let Ok(s) = Signer::from_bytes(&bytes) {
            return Ok(s);
        }
    }
    bail!("the operating system's randomness produced no valid key")
}

fn new_key(node: &NodeOpts, out: Option<&Path>) -> Result<()> {
    let s = random_signer()?;
    if let Some(path) = out {
        write_secret(path, &s.secret_hex())?;
    }
    if node.json {
        let mut v = json!({"address": s.address(), "did": s.did()});
        match out {
            Some(path) => v["key_file"] = json!(path.display().to_string()),
            None => v["secret_key"] = json!(s.secret_hex()),
        }
        if out.is_none() {
            eprintln!(
                "warning: the secret key is printed; store it safely and clear your scrollback"
            );
        }
        return print_json(&v);
    }
    println!("address     {}", s.address());
    println!("did         {}", s.did());
    match out {
        Some(path) => println!("secret key  written to {}", path.display()),
        None => {
            eprintln!(
                "warning: printing the secret key; anyone who sees it controls this account. \
                 Prefer `hanok keys new --out FILE`."
            );
            println!("secret key  {}", s.secret_hex());
        }
    }
    Ok(())
}

/// Writes the hex key and a newline to a new file, mode 0600 on unix.
pub(crate) fn write_secret(path: &Path, hex_key: &str) -> Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).with_context(|| {
        if path.exists() {
            format!(
                "{} already exists; choose another file (keys are never overwritten)",
                path.display()
            )
        } else {
            format!("creating {}", path.display())
        }
    })?;
    file.write_all(format!("{hex_key}\n").as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("writing {}", path.display()))
}

//! `hanok verify`: a parcel's title with a proof against a committed block, checked offline.

use super::parcel::print_parcel;
use super::{
    connect, parse_address, parse_hash, print_json, refused, resolve_system, utc, NodeOpts,
    SystemOpts,
};
use anyhow::{anyhow, bail, Context, Result};
use clap::Args;
use hanok_client::{TitleCertificate, TitleProof, VerifiedTitle};
use hanok_types::{Address, Hash};
use serde_json::json;
use std::path::{Path, PathBuf};

#[derive(Args, Debug, Clone)]
pub struct VerifyArgs {
    /// The parcel id (with --certificate: optional, and then it must be the certificate's).
    #[arg(long, value_name = "ID", required_unless_present = "certificate")]
    parcel: Option<String>,
    /// Check a title certificate (from `hanok certificate`: the .html page or the .json)
    /// offline against --genesis; needs no node.
    #[arg(
        long,
        value_name = "FILE",
        requires = "genesis",
        conflicts_with_all = ["proof", "save", "trusted_header"]
    )]
    certificate: Option<PathBuf>,
    /// The chain's genesis hash, from a source you trust (`hanok status` on a node you run, or
    /// the consortium's published genesis): the certificate must be for that chain.
    #[arg(long, value_name = "HEX", value_parser = parse_hash, requires = "certificate")]
    genesis: Option<Hash>,
    /// Check this saved proof (JSON, from `--save`) instead of fetching one; needs no node.
    #[arg(long, value_name = "FILE", conflicts_with = "save")]
    proof: Option<PathBuf>,
    /// Also require the proof's block header to hash to HEX: a block hash you trust, obtained
    /// independently (e.g. from `hanok status` on a node you run).
    #[arg(long, value_name = "HEX", value_parser = parse_hash)]
    trusted_header: Option<Hash>,
    /// Write the fetched proof to FILE as JSON, to check later or elsewhere with --proof.
    #[arg(long, value_name = "FILE")]
    save: Option<PathBuf>,
    /// Also require ADDR to be one of the parcel's owners.
    #[arg(long, value_name = "ADDR", value_parser = parse_address)]
    expect_owner: Option<Address>,
}

pub async fn run(node: NodeOpts, system: SystemOpts, args: VerifyArgs) -> Result<()> {
    if let (Some(path), Some(genesis)) = (&args.certificate, &args.genesis) {
        return certificate(&node, &args, path, genesis);
    }
    let parcel = args.parcel.clone().unwrap_or_default();
    let proof = match &args.proof {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            let proof = TitleProof::from_json(&text)
                .map_err(|e| anyhow!("{} is not a title proof: {e}", path.display()))?;
            if proof.parcel_id != parcel {
                bail!(
                    "{} proves parcel `{}`, not `{parcel}`",
                    path.display(),
                    proof.parcel_id,
                );
            }
            if let Some(registry) = system.registry {
                if !proof.registry.eq_ignore_ascii_case(&registry.to_string()) {
                    bail!(
                        "{} is about the registry at {}, not {registry}",
                        path.display(),
                        proof.registry
                    );
                }
            }
            proof
        }
        None => {
            let client = connect(&node).await?;
            let registry = resolve_system(&client, &mut None, "registry", system.registry).await?;
            let proof = client
                .title_proof(registry, &parcel)
                .await
                .map_err(refused(format!(
                    "fetching the title proof of parcel {parcel}"
                )))?;
            if let Some(path) = &args.save {
                let text = proof.to_json().map_err(refused("encoding the proof"))?;
                std::fs::write(path, format!("{text}\n"))
                    .with_context(|| format!("writing {}", path.display()))?;
            }
            proof
        }
    };
    let checked = match &args.trusted_header {
        Some(h) => proof.verify_against_header(h),
        None => proof.verify(),
    };
    let title = checked.map_err(|e| {
        anyhow!("VERIFICATION FAILED for parcel {parcel}: {e}\nDo not rely on this title.")
    })?;
    expect_owner(&args, &parcel, &title)?;
    if node.json {
        return print_json(&json!({
            "verified": true,
            "parcel_id": proof.parcel_id,
            "registry": proof.registry,
            "chain_id": title.chain_id,
            "height": title.height,
            "time": title.time,
            "header_hash": title.header_hash.to_hex(),
            "state_root": title.state_root.to_hex(),
            "trusted_header_checked": args.trusted_header.is_some(),
            "signed_by": title.signed_by.as_ref().map(|k| k.did()),
            "registered": title.parcel.is_some(),
            "parcel": title.parcel,
        }));
    }
    print_title(&proof, &title, args.trusted_header.is_some());
    Ok(())
}

/// The owners' addresses in the proven parcel (none if it is not registered).
fn owners(title: &VerifiedTitle) -> Vec<String> {
    title.parcel.as_ref().map_or_else(Vec::new, |p| {
        p.owners.iter().map(|o| o.owner.to_string()).collect()
    })
}

fn print_title(proof: &TitleProof, title: &VerifiedTitle, trusted: bool) {
    match &title.parcel {
        Some(_) => println!("title proof VERIFIED for parcel {}", proof.parcel_id),
        None => println!(
            "title proof VERIFIED: parcel {} is NOT registered (absence proven)",
            proof.parcel_id
        ),
    }
    println!("registry      {}", proof.registry);
    println!("chain         {}", title.chain_id);
    println!(
        "block         height {}, time {}",
        title.height,
        utc(title.time)
    );
    println!(
        "header hash   {}  {}",
        title.header_hash,
        if trusted {
            "(equals --trusted-header)"
        } else {
            "(compare it with a block hash you trust, or pass --trusted-header)"
        }
    );
    println!("state root    {}", title.state_root);
    match &title.signed_by {
        Some(k) => println!("signed by     {} (the block's proposer)", k.did()),
        None => println!("signed by     nobody: the proof carries no block signature"),
    }
    if let Some(parcel) = &title.parcel {
        println!();
        print_parcel(parcel);
    }
}

/// `--expect-owner`: the proven title must list it.
fn expect_owner(args: &VerifyArgs, parcel: &str, title: &VerifiedTitle) -> Result<()> {
    let Some(expected) = args.expect_owner else {
        return Ok(());
    };
    let owners = owners(title);
    if !owners.iter().any(|o| o == &expected.to_string()) {
        bail!(
            "VERIFICATION FAILED: the proof checks, but {expected} is not an owner of parcel \
             {parcel} at height {} (owners: {})",
            title.height,
            if owners.is_empty() {
                "none: the parcel is not registered".to_string()
            } else {
                owners.join(", ")
            }
        );
    }
    Ok(())
}

/// `--certificate FILE --genesis HASH`: the certificate checked offline, in plain words.
fn certificate(node: &NodeOpts, args: &VerifyArgs, path: &Path, genesis: &Hash) -> Result<()> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let cert = TitleCertificate::from_html_or_json(&text)
        .map_err(|e| anyhow!("{} is not a title certificate: {e}", path.display()))?;
    let parcel = cert.title.parcel_id.clone();
    if let Some(wanted) = &args.parcel {
        if wanted != &parcel {
            bail!(
                "{} certifies parcel `{parcel}`, not `{wanted}`",
                path.display()
            );
        }
    }
    let checked = cert.verify(genesis).map_err(|e| {
        anyhow!("VERIFICATION FAILED for the certificate of parcel {parcel}: {e}\nDo not rely on this title.")
    })?;
    let title = &checked.title;
    expect_owner(args, &parcel, title)?;
    if node.json {
        return print_json(&json!({
            "verified": true,
            "certificate": path,
            "parcel_id": parcel,
            "genesis_hash": checked.genesis_hash.to_hex(),
            "chain_id": title.chain_id,
            "height": title.height,
            "time": title.time,
            "header_hash": title.header_hash.to_hex(),
            "signed_by": title.signed_by.as_ref().map(|k| k.did()),
            "vouched_by": checked.signers.iter().map(|k| k.did()).collect::<Vec<_>>(),
            "proposers": checked.proposers,
            "quorum": checked.quorum,
            "registered": title.parcel.is_some(),
            "parcel": title.parcel,
        }));
    }
    match &title.parcel {
        Some(_) => println!("title certificate VERIFIED for parcel {parcel}"),
        None => println!(
            "title certificate VERIFIED: parcel {parcel} is NOT registered (absence proven)"
        ),
    }
    println!(
        "It proves: block {} of chain {} (genesis hash {}), vouched for by {} of the {} node \
         keys that chain's genesis names (a quorum is {}), commits to a state in which this is \
         the parcel's title, as of {}. It says nothing of later blocks.",
        title.height,
        title.chain_id,
        checked.genesis_hash,
        checked.signers.len(),
        checked.proposers,
        checked.quorum,
        utc(title.time)
    );
    for k in &checked.signers {
        println!("  vouched by  {}", k.did());
    }
    if let Some(p) = &title.parcel {
        println!();
        print_parcel(p);
    }
    Ok(())
}

//! `hanok identity ...`: enrolment and roles (the identity contract).

use super::{parse_address, print_json, print_receipt, refused, Ctx};
use anyhow::Result;
use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::Subcommand;
use hanok_client::Role;
use hanok_types::Address;

/// Parses a role by its name in the identity contract's JSON (`bank`, `official`, …); `--help`
/// lists the names.
fn role_parser() -> impl TypedValueParser<Value = Role> {
    PossibleValuesParser::new(Role::NAMES).try_map(|s| s.parse::<Role>())
}

#[derive(Subcommand)]
pub enum IdentityCmd {
    /// Enrol an account with its roles, replacing any it had (the registry authority). Only
    /// enrolled accounts may send transactions.
    Enrol {
        /// The account (e.g. the address printed by `hanok keys new`).
        #[arg(value_name = "ADDR", value_parser = parse_address)]
        address: Address,
        /// A role; repeat for several (--role bank --role citizen).
        #[arg(long, value_name = "ROLE", required = true, value_parser = role_parser())]
        role: Vec<Role>,
        /// The person behind the key: sha256(salt || resident number) as 64 lowercase hex,
        /// computed off-chain with a salt that never reaches the ledger. Several keys of one
        /// person carry the same hash, so a once-per-person benefit (the first-home relief)
        /// sees a second claim. Omitted: the account keeps the hash it has.
        #[arg(long, value_name = "HEX")]
        person_hash: Option<String>,
    },
    /// Show the person hash enrolled with an account, if any.
    Person {
        /// The account.
        #[arg(value_name = "ADDR", value_parser = parse_address)]
        address: Address,
    },
    /// Remove every role of an account (the registry authority).
    Revoke {
        /// The account.
        #[arg(value_name = "ADDR", value_parser = parse_address)]
        address: Address,
    },
    /// Show an account's roles.
    Roles {
        /// The account.
        #[arg(value_name = "ADDR", value_parser = parse_address)]
        address: Address,
    },
    /// List the accounts holding a role.
    Members {
        /// The role.
        #[arg(value_name = "ROLE", value_parser = role_parser())]
        role: Role,
        /// Start after this address (paging).
        #[arg(long, value_name = "ADDR", value_parser = parse_address)]
        after: Option<Address>,
        /// Most accounts to show.
        #[arg(long, value_name = "N")]
        limit: Option<u32>,
    },
}

pub async fn run(mut ctx: Ctx, cmd: IdentityCmd) -> Result<()> {
    let addr = ctx.identity().await?;
    let identity = ctx.client.identity(addr);
    match cmd {
        IdentityCmd::Enrol {
            address,
            role,
            person_hash,
        } => {
            let signer = ctx.signer()?;
            let roles: Vec<&str> = role.iter().map(|r| r.as_str()).collect();
            let r = identity
                .enrol_person(&signer, address, &role, person_hash.as_deref())
                .await
                .map_err(refused(format!("enrolling {address}")))?;
            if !ctx.node.json {
                println!("{address} enrolled as {}", roles.join(", "));
            }
            print_receipt(&ctx, &r)
        }
        IdentityCmd::Person { address } => {
            let hash = identity
                .person(address)
                .await
                .map_err(refused(format!("reading the person hash of {address}")))?;
            if ctx.node.json {
                return print_json(&serde_json::json!({
                    "address": address,
                    "person_hash": hash,
                }));
            }
            match hash {
                Some(h) => println!("{address}  person {h}"),
                None => println!("{address}  no person hash enrolled"),
            }
            Ok(())
        }
        IdentityCmd::Revoke { address } => {
            let signer = ctx.signer()?;
            let r = identity
                .revoke(&signer, address)
                .await
                .map_err(refused(format!("revoking {address}")))?;
            if !ctx.node.json {
                println!("{address} has no roles any more");
            }
            print_receipt(&ctx, &r)
        }
        IdentityCmd::Roles { address } => {
            let v = identity
                .roles(address)
                .await
                .map_err(refused(format!("reading the roles of {address}")))?;
            if ctx.node.json {
                return print_json(&v);
            }
            let roles: Vec<&str> = v.roles.iter().map(|r| r.as_str()).collect();
            if v.enrolled && !roles.is_empty() {
                println!("{address}  {}", roles.join(", "));
            } else {
                println!("{address}  not enrolled");
            }
            Ok(())
        }
        IdentityCmd::Members { role, after, limit } => {
            let page = identity
                .members(role, after, limit)
                .await
                .map_err(refused(format!("listing the {role} members")))?;
            if ctx.node.json {
                return print_json(&page);
            }
            if page.members.is_empty() {
                println!("no {role} members");
            }
            for a in &page.members {
                println!("{a}");
            }
            Ok(())
        }
    }
}

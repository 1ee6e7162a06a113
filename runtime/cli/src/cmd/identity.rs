//! `hanok identity ...`: enrolment and roles (the identity contract).

use super::{parse_address, print_json, print_receipt, refused, Ctx};
use anyhow::Result;
use clap::{Subcommand, ValueEnum};
use hanok_types::Address;
use serde_json::Value;

/// A role of the identity contract.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Role {
    Authority,
    Official,
    Bank,
    Broker,
    Citizen,
    /// May upload code and instantiate contracts.
    Deployer,
}

impl Role {
    fn as_str(self) -> &'static str {
        match self {
            Role::Authority => "authority",
            Role::Official => "official",
            Role::Bank => "bank",
            Role::Broker => "broker",
            Role::Citizen => "citizen",
            Role::Deployer => "deployer",
        }
    }
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
        #[arg(long, value_enum, required = true)]
        role: Vec<Role>,
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
        #[arg(value_enum)]
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
        IdentityCmd::Enrol { address, role } => {
            let signer = ctx.signer()?;
            let roles: Vec<&str> = role.iter().map(|r| r.as_str()).collect();
            let r = identity
                .enrol(&signer, address, &roles)
                .await
                .map_err(refused(format!("enrolling {address}")))?;
            if !ctx.node.json {
                println!("{address} enrolled as {}", roles.join(", "));
            }
            print_receipt(&ctx, &r)
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
            let roles: Vec<&str> = v
                .get("roles")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let enrolled = v.get("enrolled").and_then(Value::as_bool).unwrap_or(false);
            if enrolled && !roles.is_empty() {
                println!("{address}  {}", roles.join(", "));
            } else {
                println!("{address}  not enrolled");
            }
            Ok(())
        }
        IdentityCmd::Members { role, after, limit } => {
            let v = identity
                .members(role.as_str(), after, limit)
                .await
                .map_err(refused(format!("listing the {} members", role.as_str())))?;
            if ctx.node.json {
                return print_json(&v);
            }
            let members = v.get("members").and_then(Value::as_array);
            match members {
                Some(m) if !m.is_empty() => {
                    for a in m {
                        println!("{}", a.as_str().unwrap_or_default());
                    }
                }
                _ => println!("no {} members", role.as_str()),
            }
            Ok(())
        }
    }
}

//! `hanok token ...`: the KRW deposit token.

use super::{krw, parse_address, parse_amount, print_json, print_receipt, refused, Ctx};
use anyhow::{anyhow, Result};
use clap::Subcommand;
use hanok_types::Address;
use serde_json::json;

#[derive(Subcommand)]
pub enum TokenCmd {
    /// Issue deposit tokens to an account (an enrolled bank), e.g. against a cash deposit or
    /// a loan.
    Mint {
        /// Who receives them.
        #[arg(long, value_name = "ADDR", value_parser = parse_address)]
        to: Address,
        /// How many KRW.
        #[arg(long, value_name = "KRW", value_parser = parse_amount)]
        amount: u128,
    },
    /// Redeem deposit tokens from the signing bank's own balance (an enrolled bank).
    Burn {
        /// How many KRW.
        #[arg(long, value_name = "KRW", value_parser = parse_amount)]
        amount: u128,
    },
    /// Move tokens from the signer to another account.
    Transfer {
        /// Who receives them.
        #[arg(long, value_name = "ADDR", value_parser = parse_address)]
        to: Address,
        /// How many KRW.
        #[arg(long, value_name = "KRW", value_parser = parse_amount)]
        amount: u128,
    },
    /// Show an account's balance (default: the signer's, from --key or --dev).
    Balance {
        /// The account.
        #[arg(value_name = "ADDR", value_parser = parse_address)]
        address: Option<Address>,
    },
    /// Show the total supply.
    Supply,
}

pub async fn run(mut ctx: Ctx, cmd: TokenCmd) -> Result<()> {
    let token_addr = ctx.krw().await?;
    let token = ctx.client.krw(token_addr);
    match cmd {
        TokenCmd::Mint { to, amount } => {
            let signer = ctx.signer()?;
            let r = token
                .mint(&signer, to, amount)
                .await
                .map_err(refused(format!("minting {} to {to}", krw(amount))))?;
            if !ctx.node.json {
                println!("minted {} to {to}", krw(amount));
            }
            print_receipt(&ctx, &r)
        }
        TokenCmd::Burn { amount } => {
            let signer = ctx.signer()?;
            let r = token
                .burn(&signer, amount)
                .await
                .map_err(refused(format!("burning {}", krw(amount))))?;
            if !ctx.node.json {
                println!("burned {} from {}", krw(amount), signer.address());
            }
            print_receipt(&ctx, &r)
        }
        TokenCmd::Transfer { to, amount } => {
            let signer = ctx.signer()?;
            let r = token
                .transfer(&signer, to, amount)
                .await
                .map_err(refused(format!("transferring {} to {to}", krw(amount))))?;
            if !ctx.node.json {
                println!(
                    "transferred {} from {} to {to}",
                    krw(amount),
                    signer.address()
                );
            }
            print_receipt(&ctx, &r)
        }
        TokenCmd::Balance { address } => {
            let who = match address {
                Some(a) => a,
                None => ctx.signer_address()?.ok_or_else(|| {
                    anyhow!("whose balance? give an address, or --key FILE / --dev NAME")
                })?,
            };
            let balance = token
                .balance(who)
                .await
                .map_err(refused(format!("reading the balance of {who}")))?;
            if ctx.node.json {
                return print_json(&json!({"address": who, "balance": balance.to_string()}));
            }
            println!("{who}  {}", krw(balance));
            Ok(())
        }
        TokenCmd::Supply => {
            let supply = token
                .supply()
                .await
                .map_err(refused("reading the total supply"))?;
            if ctx.node.json {
                return print_json(&json!({ "total_supply": supply.to_string() }));
            }
            println!("total supply  {}", krw(supply));
            Ok(())
        }
    }
}

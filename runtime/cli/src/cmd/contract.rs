//! `hanok contract ...`: upload, instantiate, query and execute any contract; list them.

use super::{
    parse_address, parse_hash, parse_json, print_json, print_receipt, receipt_json, refused,
    result_value, Ctx,
};
use anyhow::{anyhow, bail, Context, Result};
use clap::Subcommand;
use hanok_client::v1;
use hanok_types::{Address, Hash};
use serde_json::{json, Value};
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum ContractCmd {
    /// Upload a wasm module as code on chain; prints its code hash (sha256 of the file).
    ///
    /// The file is first checked against the upload limits here, as `hanok validate` does, so
    /// a module the chain would refuse costs no transaction.
    Upload {
        /// A binary .wasm file (built for wasm32-unknown-unknown with the hanok SDK).
        wasm: PathBuf,
    },
    /// Create a contract from uploaded code; prints its address, which derives from the
    /// signer and the label.
    Instantiate {
        /// The code hash printed by `upload` (64 hex digits).
        #[arg(long, value_name = "HASH", value_parser = parse_hash)]
        code_hash: Hash,
        /// A label, unique among the signer's contracts (e.g. my-contract-v1).
        #[arg(long, value_name = "LABEL")]
        label: String,
        /// The JSON instantiate message.
        #[arg(long, value_name = "JSON", value_parser = parse_json)]
        msg: Value,
        /// Who may migrate the contract (default: nobody).
        #[arg(long, value_name = "ADDR", value_parser = parse_address)]
        admin: Option<Address>,
    },
    /// Run a contract's read-only query with a JSON message; prints the JSON answer.
    Query {
        /// The contract.
        #[arg(long, value_name = "ADDR", value_parser = parse_address)]
        contract: Address,
        /// The JSON query message, e.g. '{"parcel": {"parcel_id": "P-1"}}'.
        #[arg(long, value_name = "JSON", value_parser = parse_json)]
        msg: Value,
    },
    /// Execute a contract with a JSON message in a signed transaction; prints what it
    /// returned and its events.
    Execute {
        /// The contract.
        #[arg(long, value_name = "ADDR", value_parser = parse_address)]
        contract: Address,
        /// The JSON execute message, e.g. '{"transfer": {"to": "0x…", "amount": "5"}}'.
        #[arg(long, value_name = "JSON", value_parser = parse_json)]
        msg: Value,
    },
    /// List the contracts deployed on the node: address, label, creator, code hash.
    List,
}

fn single_result<'a>(r: &'a v1::Receipt, what: &str) -> Result<&'a [u8]> {
    r.results
        .first()
        .map(Vec::as_slice)
        .ok_or_else(|| anyhow!("the receipt of the {what} has no result"))
}

pub async fn run(mut ctx: Ctx, cmd: ContractCmd) -> Result<()> {
    match cmd {
        ContractCmd::Upload { wasm } => {
            let signer = ctx.signer()?;
            let bytes =
                std::fs::read(&wasm).with_context(|| format!("reading {}", wasm.display()))?;
            if let Err(e) = hanok_vm::validate_default(&bytes) {
                bail!(
                    "{}: the chain would refuse this module: {e}",
                    wasm.display()
                );
            }
            let expected = hanok_vm::CodeHash::of(&bytes).to_string();
            let tx = ctx
                .client
                .tx_builder(&signer)
                .await
                .context("preparing the upload")?
                .upload(bytes)
                .sign(&signer)
                .map_err(refused("signing the upload"))?;
            let r = ctx
                .client
                .submit_and_wait_ok(&tx)
                .await
                .map_err(refused(format!("uploading {}", wasm.display())))?;
            let hash = hex::encode(single_result(&r, "upload")?);
            if hash != expected {
                bail!("the node reports code hash {hash}, but the file's sha256 is {expected}");
            }
            if ctx.node.json {
                let mut v = receipt_json(&r);
                v["code_hash"] = json!(hash);
                return print_json(&v);
            }
            println!("uploaded {}: code hash {hash}", wasm.display());
            print_receipt(&ctx, &r)
        }
        ContractCmd::Instantiate {
            code_hash,
            label,
            msg,
            admin,
        } => {
            let signer = ctx.signer()?;
            let tx = ctx
                .client
                .tx_builder(&signer)
                .await
                .context("preparing the instantiation")?
                .instantiate(code_hash, label.clone(), admin, &msg)
                .and_then(|b| b.sign(&signer))
                .map_err(refused("building the instantiation"))?;
            let r = ctx
                .client
                .submit_and_wait_ok(&tx)
                .await
                .map_err(refused(format!("instantiating `{label}`")))?;
            let expected = hanok_vm::contract_address(&signer.address(), &label);
            let address =
                Address::from_slice(single_result(&r, "instantiation")?).unwrap_or(expected);
            if ctx.node.json {
                let mut v = receipt_json(&r);
                v["address"] = json!(address);
                return print_json(&v);
            }
            println!("instantiated `{label}` at {address}");
            print_receipt(&ctx, &r)
        }
        ContractCmd::Query { contract, msg } => {
            let msg = serde_json::to_vec(&msg).context("encoding the query")?;
            let data = ctx
                .client
                .query_raw(contract, msg)
                .await
                .map_err(refused(format!("querying {contract}")))?;
            match result_value(&data) {
                Value::Null => println!("null"),
                v => print_json(&v)?,
            }
            Ok(())
        }
        ContractCmd::Execute { contract, msg } => {
            let signer = ctx.signer()?;
            let r = ctx
                .client
                .execute(&signer, contract, &msg)
                .await
                .map_err(refused(format!("executing {contract}")))?;
            if !ctx.node.json {
                let data = r.results.first().map(|d| result_value(d));
                match data {
                    Some(Value::Null) | None => println!("done (no data returned)"),
                    Some(v) => println!("returned {v}"),
                }
            }
            print_receipt(&ctx, &r)
        }
        ContractCmd::List => {
            let json_out = ctx.node.json;
            let listed = ctx.listed().await?;
            if json_out {
                let v: Vec<Value> = listed
                    .iter()
                    .map(|c| {
                        json!({
                            "address": c.address,
                            "label": c.label,
                            "creator": c.creator,
                            "code_hash": c.code_hash,
                            "admin": c.admin,
                        })
                    })
                    .collect();
                return print_json(&Value::Array(v));
            }
            if listed.is_empty() {
                println!("no contracts deployed");
            }
            for c in listed {
                let creator = c.creator.map_or_else(|| "?".into(), |a| a.to_string());
                println!(
                    "{}  {:<12} creator {creator}  code {}",
                    c.address, c.label, c.code_hash
                );
            }
            Ok(())
        }
    }
}

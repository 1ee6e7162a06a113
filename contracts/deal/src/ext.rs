//! The deal contract's view of the identity, registry and escrow contracts, as JSON messages.

use crate::Config;
use alloc::string::String;
use alloc::vec::Vec;
use hanok_sdk::{call, query, Address, Amount, ContractError};
use serde::Deserialize;
use serde_json::json;

#[derive(Deserialize)]
struct RolesAnswer {
    roles: Vec<String>,
}

pub(crate) fn has_role(cfg: &Config, who: Address, role: &str) -> Result<bool, ContractError> {
    let r: RolesAnswer = query(&cfg.identity, &json!({ "roles": { "address": who } }))?;
    Ok(r.roles.iter().any(|x| x == role))
}

#[derive(Deserialize)]
pub(crate) struct Policy {
    pub(crate) threshold: u32,
    pub(crate) officials: Vec<Address>,
    /// How far ahead a deal's deadline may lie. The registry always answers it; the default
    /// (the registry's own, 365 days) only guards against an older registry.
    #[serde(default = "default_max_deal_secs")]
    pub(crate) max_deal_secs: u64,
}

fn default_max_deal_secs() -> u64 {
    365 * 24 * 3600
}

pub(crate) fn policy(cfg: &Config) -> Result<Policy, ContractError> {
    query(&cfg.registry, &json!({ "policy": {} }))
}

#[derive(Deserialize)]
pub(crate) struct Owner {
    pub(crate) owner: Address,
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Kind {
    Mortgage { holder: Address, amount: Amount },
    Seizure {},
}

#[derive(Deserialize)]
pub(crate) struct Encumbrance {
    pub(crate) id: u64,
    pub(crate) rank: u64,
    pub(crate) kind: Kind,
    pub(crate) active: bool,
}

#[derive(Deserialize)]
pub(crate) struct Parcel {
    pub(crate) owners: Vec<Owner>,
    pub(crate) encumbrances: Vec<Encumbrance>,
    pub(crate) frozen: bool,
}

pub(crate) fn parcel(cfg: &Config, parcel_id: &str) -> Result<Parcel, ContractError> {
    query(
        &cfg.registry,
        &json!({ "parcel": { "parcel_id": parcel_id } }),
    )
}

pub(crate) fn discharge_lien(
    cfg: &Config,
    parcel_id: &str,
    lien_id: u64,
) -> Result<(), ContractError> {
    let msg = json!({ "discharge_lien": { "parcel_id": parcel_id, "lien_id": lien_id } });
    call::<serde_json::Value>(&cfg.registry, &msg)?;
    Ok(())
}

pub(crate) fn transfer_title(
    cfg: &Config,
    parcel_id: &str,
    to: Address,
) -> Result<(), ContractError> {
    let msg = json!({ "transfer_title": { "parcel_id": parcel_id, "to": to } });
    call::<serde_json::Value>(&cfg.registry, &msg)?;
    Ok(())
}

#[derive(Deserialize)]
struct LienAnswer {
    lien_id: u64,
}

pub(crate) fn record_lien(
    cfg: &Config,
    parcel_id: &str,
    holder: Address,
    amount: Amount,
) -> Result<u64, ContractError> {
    let msg =
        json!({ "record_lien": { "parcel_id": parcel_id, "holder": holder, "amount": amount } });
    Ok(call::<LienAnswer>(&cfg.registry, &msg)?.lien_id)
}

#[derive(Deserialize)]
struct Deposit {
    amount: Amount,
    released: Amount,
    refunded: Amount,
}

/// What the escrow still holds for the deal.
pub(crate) fn escrow_held(cfg: &Config, deal_id: u64) -> Result<Amount, ContractError> {
    let d: Deposit = query(&cfg.escrow, &json!({ "deposit": { "deal_id": deal_id } }))?;
    d.amount
        .checked_sub(d.released)
        .and_then(|a| a.checked_sub(d.refunded))
        .ok_or_else(|| ContractError::new("escrow accounting broken"))
}

pub(crate) fn escrow_release(
    cfg: &Config,
    deal_id: u64,
    to: Address,
    amount: Amount,
) -> Result<(), ContractError> {
    let msg = json!({ "release": { "deal_id": deal_id, "to": to, "amount": amount } });
    call::<serde_json::Value>(&cfg.escrow, &msg)?;
    Ok(())
}

pub(crate) fn escrow_refund(cfg: &Config, deal_id: u64) -> Result<(), ContractError> {
    call::<serde_json::Value>(&cfg.escrow, &json!({ "refund": { "deal_id": deal_id } }))?;
    Ok(())
}

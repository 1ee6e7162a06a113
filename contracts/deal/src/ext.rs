//! The deal contract's calls to the identity, registry and escrow contracts, with their message
//! types from `hanok-messages`.

use crate::{Config, Deal};
use hanok_messages::{escrow, registry, tax};
use hanok_sdk::{call, query, Address, Amount, ContractError, Role};

pub(crate) fn has_role(cfg: &Config, who: Address, role: Role) -> Result<bool, ContractError> {
    hanok_sdk::has_role(&cfg.identity, who, role)
}

pub(crate) fn require_role(
    cfg: &Config,
    who: Address,
    role: Role,
    action: &str,
) -> Result<(), ContractError> {
    hanok_sdk::require_role(&cfg.identity, who, role, action)
}

pub(crate) fn policy(cfg: &Config) -> Result<registry::Policy, ContractError> {
    query(&cfg.registry, &registry::QueryMsg::Policy {})
}

pub(crate) fn parcel(cfg: &Config, parcel_id: &str) -> Result<registry::ParcelView, ContractError> {
    let msg = registry::QueryMsg::Parcel {
        parcel_id: parcel_id.into(),
    };
    query(&cfg.registry, &msg)
}

pub(crate) fn discharge_lien(
    cfg: &Config,
    parcel_id: &str,
    lien_id: u64,
) -> Result<(), ContractError> {
    let msg = registry::ExecuteMsg::DischargeLien {
        parcel_id: parcel_id.into(),
        lien_id,
    };
    call::<serde_json::Value>(&cfg.registry, &msg)?;
    Ok(())
}

pub(crate) fn transfer_title(
    cfg: &Config,
    parcel_id: &str,
    to: Address,
) -> Result<(), ContractError> {
    let msg = registry::ExecuteMsg::TransferTitle {
        parcel_id: parcel_id.into(),
        to,
    };
    call::<serde_json::Value>(&cfg.registry, &msg)?;
    Ok(())
}

pub(crate) fn transfer_share(
    cfg: &Config,
    parcel_id: &str,
    from: Address,
    to: Address,
) -> Result<(), ContractError> {
    let msg = registry::ExecuteMsg::TransferShare {
        parcel_id: parcel_id.into(),
        from,
        to,
    };
    call::<serde_json::Value>(&cfg.registry, &msg)?;
    Ok(())
}

pub(crate) fn record_lien(
    cfg: &Config,
    parcel_id: &str,
    holder: Address,
    amount: Amount,
) -> Result<u64, ContractError> {
    let msg = registry::ExecuteMsg::RecordLien {
        parcel_id: parcel_id.into(),
        holder,
        amount,
    };
    Ok(call::<registry::LienResponse>(&cfg.registry, &msg)?.lien_id)
}

/// What the escrow still holds for the deal.
pub(crate) fn escrow_held(cfg: &Config, deal_id: u64) -> Result<Amount, ContractError> {
    let d: escrow::DepositView = query(&cfg.escrow, &escrow::QueryMsg::Deposit { deal_id })?;
    d.held()
        .ok_or_else(|| ContractError::new("escrow accounting broken"))
}

pub(crate) fn escrow_release(
    cfg: &Config,
    deal_id: u64,
    to: Address,
    amount: Amount,
) -> Result<(), ContractError> {
    let msg = escrow::ExecuteMsg::Release {
        deal_id,
        to,
        amount,
    };
    call::<serde_json::Value>(&cfg.escrow, &msg)?;
    Ok(())
}

pub(crate) fn escrow_refund(cfg: &Config, deal_id: u64) -> Result<(), ContractError> {
    call::<serde_json::Value>(&cfg.escrow, &escrow::ExecuteMsg::Refund { deal_id })?;
    Ok(())
}

/// The full-rate acquisition tax on `price` under the tax contract's current table; `None`
/// when the chain has no tax contract.
pub(crate) fn tax_quote(cfg: &Config, price: Amount) -> Result<Option<tax::Quote>, ContractError> {
    match &cfg.tax {
        Some(t) => Ok(Some(query(t, &tax::QueryMsg::Quote { price })?)),
        None => Ok(None),
    }
}

/// Has the tax contract assess the deal's tax (and record a first-home relief claim).
pub(crate) fn assess_tax(
    cfg: &Config,
    deal: &Deal,
    quote: tax::Quote,
) -> Result<tax::Assessment, ContractError> {
    let Some(t) = &cfg.tax else {
        return Err(ContractError::new(
            "the deal has a tax quote but the chain has no tax contract",
        ));
    };
    let msg = tax::ExecuteMsg::Assess {
        deal_id: deal.deal_id,
        parcel_id: deal.parcel_id.clone(),
        buyer: deal.buyer,
        price: deal.price,
        full_tax: quote.full_tax,
        rate_bps: quote.rate_bps,
    };
    call(t, &msg)
}

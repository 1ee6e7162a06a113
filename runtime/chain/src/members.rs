//! Consortium membership as chain state: the members added after genesis, each with the node
//! key that signs its blocks.
//!
//! The genesis names the first proposers (the founding members' node keys). A member added
//! later is added by a transaction of the genesis authority to [`CONSORTIUM_ADDRESS`]:
//!
//! ```json
//! {"add_member": {"id": 4, "name": "bank-c", "addr": "10.0.4.1:7300", "node_key": "did:key:zQ3s..."}}
//! ```
//!
//! The chain executes it itself (no contract lives at that address): it records the member
//! under [`consortium_members_key`] (so the state root covers it and every node holds the same
//! list at every height), and from the next block on a header signed by that node key is
//! accepted. The node's consortium layer reads the list and adds the member to Raft (as a
//! learner, then a voter); see docs/consortium.md.

use crate::error::{ChainError, Result};
use crate::exec::{Receipt, TxContext, TxStatus};
use hanok_types::layout::{push_u32, push_u64, push_var, take_u32, take_u64, take_var};
use hanok_types::{parse_did_key, Address, CheckedTx, PublicKey};
use hanok_vm::{Backend, ContractEvent, WriteSet};

pub use hanok_types::layout::{consortium_members_key, CONSORTIUM_ADDRESS};

/// Gas a membership change costs.
pub const MEMBER_CHANGE_GAS: u64 = 1_000_000;

/// Longest member name and address, in bytes.
const MAX_FIELD: usize = 256;

/// A consortium member added after genesis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberRecord {
    /// Its Raft node id (unique among members; the founding members' ids are in their configs).
    pub id: u64,
    /// Its organisation: the organisation its node certificate names.
    pub name: String,
    /// Where the other members reach its node (`host:port`).
    pub addr: String,
    /// The node key that signs the blocks it proposes.
    pub node_key: PublicKey,
}

/// The members added after genesis, in the order they were added.
///
/// # Errors
/// [`ChainError::State`] on storage failure; [`ChainError::Corrupt`] if the record does not
/// decode.
pub fn members(state: &dyn Backend) -> Result<Vec<MemberRecord>> {
    match state.get(&consortium_members_key())? {
        None => Ok(Vec::new()),
        Some(bytes) => decode(&bytes).ok_or_else(|| {
            ChainError::Corrupt("the consortium member record does not decode".into())
        }),
    }
}

fn encode(members: &[MemberRecord]) -> Vec<u8> {
    let mut out = Vec::new();
    push_u32(&mut out, u32::try_from(members.len()).unwrap_or(u32::MAX));
    for m in members {
        push_u64(&mut out, m.id);
        push_var(&mut out, m.name.as_bytes());
        push_var(&mut out, m.addr.as_bytes());
        push_var(&mut out, &m.node_key.to_bytes());
    }
    out
}

fn decode(mut bytes: &[u8]) -> Option<Vec<MemberRecord>> {
    let n = take_u32(&mut bytes)?;
    let mut out = Vec::new();
    for _ in 0..n {
        let id = take_u64(&mut bytes)?;
        let name = String::from_utf8(take_var(&mut bytes)?.to_vec()).ok()?;
        let addr = String::from_utf8(take_var(&mut bytes)?.to_vec()).ok()?;
        let node_key = PublicKey::from_compressed(take_var(&mut bytes)?)?;
        out.push(MemberRecord {
            id,
            name,
            addr,
            node_key,
        });
    }
    bytes.is_empty().then_some(out)
}

/// Who may change the membership and who the founding proposers are: the chain's
/// [`crate::Rules::membership`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    /// The only sender allowed to add members (the genesis authority).
    pub authority: Address,
    /// The genesis proposers: a new member's node key must not be one of them.
    pub founders: Vec<PublicKey>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
enum MemberMsg {
    AddMember {
        id: u64,
        name: String,
        addr: String,
        node_key: String,
    },
}

/// Whether `tx` calls [`CONSORTIUM_ADDRESS`].
pub(crate) fn is_membership_tx(tx: &CheckedTx) -> bool {
    tx.calls().iter().any(|c| {
        matches!(c, hanok_types::Call::Execute { contract, .. } if *contract == CONSORTIUM_ADDRESS)
    })
}

/// Executes a membership transaction (one that [`is_membership_tx`]) after its stateful checks:
/// the receipt, and the writes on success. A refusal is a failed transaction (contract error,
/// full gas limit charged, nothing written), never a block error.
///
/// # Errors
/// [`ChainError::State`] / [`ChainError::Corrupt`] reading the current members.
pub(crate) fn execute(
    state: &dyn Backend,
    ctx: TxContext<'_>,
    tx: &CheckedTx,
    membership: Option<&Membership>,
) -> Result<(Receipt, WriteSet)> {
    let mut receipt = Receipt {
        tx_hash: tx.hash(),
        height: ctx.block.height,
        index: ctx.index,
        status: TxStatus::Ok,
        gas_used: MEMBER_CHANGE_GAS,
        events: Vec::new(),
        error: None,
        failed_call: None,
        results: vec![Vec::new()],
        rejection: None,
    };
    match change(state, tx, membership)? {
        Ok((record, all)) => {
            receipt.events.push(ContractEvent {
                contract: CONSORTIUM_ADDRESS,
                ty: "member_added".into(),
                attributes: vec![
                    ("id".into(), record.id.to_string()),
                    ("name".into(), record.name.clone()),
                    ("addr".into(), record.addr.clone()),
                    ("node_key".into(), record.node_key.did()),
                ],
            });
            let mut writes = WriteSet::new();
            writes.insert(consortium_members_key(), Some(encode(&all)));
            Ok((receipt, writes))
        }
        Err(reason) => {
            receipt.status = TxStatus::ContractError;
            receipt.error = Some(format!("consortium membership: {reason}"));
            receipt.failed_call = Some(0);
            receipt.results = Vec::new();
            receipt.gas_used = tx.gas_limit();
            Ok((receipt, WriteSet::new()))
        }
    }
}

/// The new member and the whole list after adding it, or why the change is refused.
fn change(
    state: &dyn Backend,
    tx: &CheckedTx,
    membership: Option<&Membership>,
) -> Result<std::result::Result<(MemberRecord, Vec<MemberRecord>), String>> {
    let Some(membership) = membership else {
        return Ok(Err(
            "this chain has no proposer set in its genesis, so it has no consortium to change"
                .into(),
        ));
    };
    let msg = match tx.calls() {
        [hanok_types::Call::Execute { msg, .. }] => msg,
        _ => {
            return Ok(Err(
                "a membership change must be the only call of its transaction".into(),
            ))
        }
    };
    if tx.sender() != membership.authority {
        return Ok(Err(format!(
            "only the genesis authority ({}) may change the membership, not {}",
            membership.authority,
            tx.sender()
        )));
    }
    if tx.gas_limit() < MEMBER_CHANGE_GAS {
        return Ok(Err(format!(
            "gas limit {} is below the {MEMBER_CHANGE_GAS} a membership change costs",
            tx.gas_limit()
        )));
    }
    let MemberMsg::AddMember {
        id,
        name,
        addr,
        node_key,
    } = match serde_json::from_slice::<MemberMsg>(msg) {
        Ok(m) => m,
        Err(e) => {
            return Ok(Err(format!(
                "the message is not {{\"add_member\": {{\"id\", \"name\", \"addr\", \"node_key\"}}}}: {e}"
            )))
        }
    };
    let node_key = match parse_did_key(&node_key) {
        Ok(k) => k,
        Err(e) => return Ok(Err(format!("node_key `{node_key}` is not a did:key: {e}"))),
    };
    if id == 0 {
        return Ok(Err("id 0 is not a member id; ids start at 1".into()));
    }
    let field_ok = |s: &str| !s.is_empty() && s.len() <= MAX_FIELD && !s.contains(char::is_control);
    if !field_ok(&name) || !field_ok(&addr) {
        return Ok(Err(format!(
            "name and addr must be 1 to {MAX_FIELD} bytes without control characters"
        )));
    }
    if membership.founders.contains(&node_key) {
        return Ok(Err(format!(
            "node key {} is already a founding member's (a genesis proposer)",
            node_key.did()
        )));
    }
    let mut all = members(state)?;
    if let Some(m) = all
        .iter()
        .find(|m| m.id == id || m.name == name || m.node_key == node_key)
    {
        return Ok(Err(format!(
            "member {} `{}` (node key {}) was already added; id, name and node key must be new",
            m.id,
            m.name,
            m.node_key.did()
        )));
    }
    let record = MemberRecord {
        id,
        name,
        addr,
        node_key,
    };
    all.push(record.clone());
    Ok(Ok((record, all)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use hanok_types::SecretKey;

    #[test]
    fn records_round_trip() {
        let list = vec![
            MemberRecord {
                id: 4,
                name: "bank-c".into(),
                addr: "127.0.0.1:7304".into(),
                node_key: SecretKey::dev("n4").public_key(),
            },
            MemberRecord {
                id: 9,
                name: "은행".into(),
                addr: "[::1]:1".into(),
                node_key: SecretKey::dev("n9").public_key(),
            },
        ];
        assert_eq!(decode(&encode(&list)), Some(list.clone()));
        let mut long = encode(&list);
        long.push(0);
        assert_eq!(decode(&long), None);
        assert_eq!(decode(&encode(&list)[..10]), None);
    }
}

//! `hanok-identity`: who is enrolled on the ledger and with which roles.
//!
//! People are addresses only (no names or resident numbers). The registry authority enrols an
//! address with a set of [`Role`]s (replacing any previous set) or revokes it; the other system
//! contracts query [`QueryMsg::Roles`] to enforce roles on-chain.
//!
//! # Messages
//! - instantiate `{"authority": "0x.."}`: enrols the first authority.
//! - execute `{"enrol": {"address": "0x..", "roles": ["citizen"], "person_hash": "<64 hex>"}}`
//!   (authority only; replaces the roles; an authority cannot remove its own authority role;
//!   `person_hash`, optional, binds the key to a person as `sha256(salt ‖ resident number)`,
//!   kept when absent).
//! - execute `{"revoke": {"address": "0x.."}}` (authority only; not oneself).
//! - query `{"roles": {"address": "0x.."}}` → [`RolesResponse`] `{address, roles, enrolled}`.
//! - query `{"members": {"role": "official", "start_after": null, "limit": 30}}` →
//!   [`MembersResponse`] `{members}` (at most [`MAX_LIMIT`] per page, address order).
//! - query `{"person": {"address": "0x.."}}` → [`PersonResponse`] `{address, person_hash}`.
//!
//! Events: `enrolled {address, roles}` (with `person_hash: "set"` when one was given; the hash
//! itself is in the transaction), `revoked {address}`.
//! Storage: `roles`: address → roles; `members`: (role, address) → `true`; `persons`: address
//! → person hash (removed with the roles by `revoke`).
#![no_std]
#![deny(clippy::arithmetic_side_effects)]

extern crate alloc;
#[cfg(test)]
extern crate std;

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use hanok_sdk::{
    bail, ensure, entry_points, to_json, Address, ContractError, Env, Event, Map, Response,
};

/// The messages, answers and [`Role`] live in `hanok-messages` (one definition for the contract,
/// its callers and clients); re-exported so `hanok_identity::ExecuteMsg` keeps working.
pub use hanok_messages::identity::*;

// The node reads this map by key to admit senders (`roles_key`), so its namespace is part of
// the interface.
const ROLES: Map<Address, Vec<Role>> = Map::new(ROLES_NAMESPACE);
const MEMBERS: Map<(&str, Address), bool> = Map::new("members");
const PERSONS: Map<Address, String> = Map::new("persons");

fn roles_of(address: Address) -> Result<Vec<Role>, ContractError> {
    Ok(ROLES.may_load(&address)?.unwrap_or_default())
}

fn set_roles(address: Address, roles: &[Role]) -> Result<(), ContractError> {
    for old in roles_of(address)? {
        MEMBERS.remove(&(old.as_str(), address));
    }
    if roles.is_empty() {
        ROLES.remove(&address);
    } else {
        ROLES.save(&address, &roles.to_vec())?;
        for r in roles {
            MEMBERS.save(&(r.as_str(), address), &true)?;
        }
    }
    Ok(())
}

fn roles_text(roles: &[Role]) -> String {
    roles
        .iter()
        .map(|r| r.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

fn instantiate(_env: &Env, msg: InstantiateMsg) -> Result<Response, ContractError> {
    set_roles(msg.authority, &[Role::Authority])?;
    Ok(Response::new().event(
        Event::new("enrolled")
            .attr("address", msg.authority.to_string())
            .attr("roles", "authority"),
    ))
}

fn execute(env: &Env, msg: ExecuteMsg) -> Result<Response, ContractError> {
    ensure!(
        roles_of(env.sender)?.contains(&Role::Authority),
        "unauthorized: only the authority may enrol or revoke"
    );
    match msg {
        ExecuteMsg::Enrol {
            address,
            mut roles,
            person_hash,
        } => {
            ensure!(!roles.is_empty(), "roles must not be empty (use revoke)");
            roles.sort();
            roles.dedup();
            // Keeps at least one authority able to act: nobody demotes themselves.
            ensure!(
                address != env.sender || roles.contains(&Role::Authority),
                "the authority cannot remove its own authority role"
            );
            if let Some(hash) = &person_hash {
                hanok_messages::tax::check_person_hash(hash).map_err(ContractError::new)?;
            }
            set_roles(address, &roles)?;
            let mut event = Event::new("enrolled")
                .attr("address", address.to_string())
                .attr("roles", roles_text(&roles));
            if let Some(hash) = person_hash {
                PERSONS.save(&address, &hash)?;
                event = event.attr("person_hash", "set");
            }
            Ok(Response::new().event(event))
        }
        ExecuteMsg::Revoke { address } => {
            ensure!(address != env.sender, "the authority cannot revoke itself");
            if roles_of(address)?.is_empty() {
                bail!("{address} is not enrolled");
            }
            set_roles(address, &[])?;
            PERSONS.remove(&address);
            Ok(Response::new().event(Event::new("revoked").attr("address", address.to_string())))
        }
    }
}

fn query(_env: &Env, msg: QueryMsg) -> Result<Vec<u8>, ContractError> {
    match msg {
        QueryMsg::Roles { address } => {
            let roles = roles_of(address)?;
            to_json(&RolesResponse {
                address,
                enrolled: !roles.is_empty(),
                roles,
            })
        }
        QueryMsg::Members {
            role,
            start_after,
            limit,
        } => {
            let limit = limit.unwrap_or(DEFAULT_LIMIT).min(MAX_LIMIT);
            let page: Vec<(Address, bool)> =
                MEMBERS.prefix_range(&role.as_str(), start_after.as_ref(), limit)?;
            to_json(&MembersResponse {
                members: page.into_iter().map(|(a, _)| a).collect(),
            })
        }
        QueryMsg::Person { address } => to_json(&PersonResponse {
            address,
            person_hash: PERSONS.may_load(&address)?,
        }),
    }
}

entry_points!(instantiate, execute, query);

#[cfg(test)]
mod tests {
    use super::*;
    use hanok_sdk::mock;
    use std::{format, vec};

    const ID: Address = Address([0x1d; 20]);
    const AUTH: Address = Address([1; 20]);
    const BANK: Address = Address([2; 20]);
    const OTHER: Address = Address([3; 20]);

    fn setup() {
        mock::reset();
        mock::register(ID, ENTRY_POINTS);
        assert!(mock::instantiate(ID, AUTH, &InstantiateMsg { authority: AUTH }).is_ok());
    }

    fn roles(a: Address) -> RolesResponse {
        match mock::query(ID, &QueryMsg::Roles { address: a }) {
            Ok(r) => r,
            Err(e) => panic!("{e}"),
        }
    }

    fn err(r: Result<Vec<u8>, ContractError>) -> String {
        r.err().map(ContractError::into_message).unwrap_or_default()
    }

    #[test]
    fn authority_enrols_replaces_and_revokes() {
        setup();
        let enrol = |roles: Vec<Role>| ExecuteMsg::Enrol {
            address: BANK,
            roles,
            person_hash: None,
        };
        assert!(mock::execute(
            ID,
            AUTH,
            &enrol(vec![Role::Bank, Role::Citizen, Role::Bank])
        )
        .is_ok());
        assert_eq!(roles(BANK).roles, vec![Role::Bank, Role::Citizen]);
        assert!(mock::execute(ID, AUTH, &enrol(vec![Role::Bank])).is_ok());
        assert_eq!(roles(BANK).roles, vec![Role::Bank]);
        let citizens: MembersResponse = mock::query(
            ID,
            &QueryMsg::Members {
                role: Role::Citizen,
                start_after: None,
                limit: None,
            },
        )
        .unwrap_or(MembersResponse {
            members: vec![OTHER],
        });
        assert!(citizens.members.is_empty());
        assert!(mock::execute(ID, AUTH, &ExecuteMsg::Revoke { address: BANK }).is_ok());
        assert!(!roles(BANK).enrolled);
        assert_eq!(
            err(mock::execute(
                ID,
                AUTH,
                &ExecuteMsg::Revoke { address: BANK }
            )),
            format!("{BANK} is not enrolled")
        );
    }

    #[test]
    fn only_the_authority_may_enrol_and_it_cannot_lock_itself_out() {
        setup();
        let msg = ExecuteMsg::Enrol {
            address: OTHER,
            roles: vec![Role::Authority],
            person_hash: None,
        };
        assert_eq!(
            err(mock::execute(ID, BANK, &msg)),
            "unauthorized: only the authority may enrol or revoke"
        );
        assert_eq!(
            err(mock::execute(
                ID,
                AUTH,
                &ExecuteMsg::Revoke { address: AUTH }
            )),
            "the authority cannot revoke itself"
        );
        let demote = ExecuteMsg::Enrol {
            address: AUTH,
            roles: vec![Role::Official],
            person_hash: None,
        };
        assert!(err(mock::execute(ID, AUTH, &demote)).contains("own authority role"));
        let bad = mock::execute(
            ID,
            AUTH,
            &serde_json::json!({"enrol": {"address": "0x12", "roles": []}}),
        );
        assert!(err(bad).starts_with("invalid message"));
    }

    #[test]
    fn members_are_paged_in_address_order() {
        setup();
        for i in 10u8..15 {
            let msg = ExecuteMsg::Enrol {
                address: Address([i; 20]),
                roles: vec![Role::Official],
                person_hash: None,
            };
            assert!(mock::execute(ID, AUTH, &msg).is_ok());
        }
        let page = |start_after, limit| -> Vec<Address> {
            mock::query::<_, MembersResponse>(
                ID,
                &QueryMsg::Members {
                    role: Role::Official,
                    start_after,
                    limit,
                },
            )
            .map(|m| m.members)
            .unwrap_or_default()
        };
        assert_eq!(
            page(None, Some(2)),
            vec![Address([10; 20]), Address([11; 20])]
        );
        assert_eq!(page(Some(Address([11; 20])), None).len(), 3);
        let events = mock::events();
        assert_eq!(events.len(), 6);
        assert_eq!(events[1].1.ty, "enrolled");
    }

    fn person(a: Address) -> Option<String> {
        mock::query::<_, PersonResponse>(ID, &QueryMsg::Person { address: a })
            .ok()
            .and_then(|p| p.person_hash)
    }

    #[test]
    fn a_person_hash_is_kept_across_re_enrolment_and_removed_with_the_roles() {
        setup();
        let hash = "0f".repeat(32);
        let enrol = |roles: Vec<Role>, person_hash: Option<String>| ExecuteMsg::Enrol {
            address: OTHER,
            roles,
            person_hash,
        };
        let raw = mock::execute(
            ID,
            AUTH,
            &enrol(vec![Role::Citizen], Some("900101-1234567".into())),
        );
        let msg = err(raw);
        assert!(msg.contains("raw resident number"), "{msg}");
        assert!(
            !msg.contains("900101"),
            "the refusal repeats the input: {msg}"
        );
        assert!(
            !roles(OTHER).enrolled,
            "a refused enrolment changes nothing"
        );
        assert!(mock::execute(ID, AUTH, &enrol(vec![Role::Citizen], Some(hash.clone()))).is_ok());
        assert_eq!(person(OTHER), Some(hash.clone()));
        // A second key of the same person carries the same hash.
        let second = ExecuteMsg::Enrol {
            address: BANK,
            roles: vec![Role::Citizen],
            person_hash: Some(hash.clone()),
        };
        assert!(mock::execute(ID, AUTH, &second).is_ok());
        assert_eq!(person(BANK), Some(hash.clone()));
        assert!(mock::execute(ID, AUTH, &enrol(vec![Role::Citizen, Role::Broker], None)).is_ok());
        assert_eq!(
            person(OTHER),
            Some(hash),
            "re-enrolment without a hash keeps it"
        );
        assert!(mock::execute(ID, AUTH, &ExecuteMsg::Revoke { address: OTHER }).is_ok());
        assert_eq!(person(OTHER), None);
    }
}

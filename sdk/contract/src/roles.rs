//! Roles as the identity contract holds them: the one roles query every contract makes.
//!
//! Gas: these functions are `#[inline]` on purpose. Without it, this crate compiles the
//! query's JSON decoding (serde_json's `Deserializer<SliceRead>` methods) itself, and at the
//! contracts' opt-level `z` rustc shares those instantiations with every contract instead of
//! compiling them into each one, where they inline into the contract's own decoding. That cost
//! every transaction of every contract 5–10% more gas (measured over the acceptance story).
//! With `#[inline]` the code is generated in the contract that calls it, as when each
//! contract declared its own roles query.

use crate::{ensure, query, Address, ContractError};
use hanok_messages::identity::{QueryMsg, Role, RolesView};

/// The identity contract's answer for `who` (`{"roles": {"address": who}}`): its roles and
/// whether it is enrolled, read as the narrow [`RolesView`] (the echoed address is skipped,
/// not decoded: a role check costs no more gas than it must).
///
/// # Errors
/// The identity contract's error, or an answer that does not decode.
#[inline]
pub fn roles(identity: &Address, who: Address) -> Result<RolesView, ContractError> {
    query(identity, &QueryMsg::Roles { address: who })
}

/// Whether `who` holds `role` in the identity contract at `identity`. Asked at the time of the
/// call, never cached, so an enrolment revoked a block ago is already gone.
///
/// # Errors
/// As [`roles`].
#[inline]
pub fn has_role(identity: &Address, who: Address, role: Role) -> Result<bool, ContractError> {
    Ok(roles(identity, who)?.roles.contains(&role))
}

/// Refuses with `unauthorized: only an enrolled <role> may <action>` unless `who` holds `role`.
///
/// ```
/// # use hanok_sdk::{mock, require_role, Address, Role};
/// # mock::reset();
/// # let (identity, stranger) = (Address([1; 20]), Address([2; 20]));
/// # mock::register(identity, IDENTITY);
/// # const IDENTITY: hanok_sdk::EntryPoints = stub::ENTRY_POINTS;
/// # mod stub {
/// #     use hanok_sdk::{entry_points, to_json, ContractError, Env, Response};
/// #     use serde_json::{json, Value};
/// #     fn instantiate(_: &Env, _: Value) -> Result<Response, ContractError> { Ok(Response::new()) }
/// #     fn execute(_: &Env, _: Value) -> Result<Response, ContractError> { Ok(Response::new()) }
/// #     fn query(_: &Env, m: Value) -> Result<Vec<u8>, ContractError> {
/// #         to_json(&json!({"address": m["roles"]["address"], "roles": [], "enrolled": false}))
/// #     }
/// #     entry_points!(instantiate, execute, query);
/// # }
/// # mock::with_contract(Address([3; 20]), || {
/// let refused = require_role(&identity, stranger, Role::Bank, "mint");
/// assert_eq!(
///     refused.unwrap_err().message(),
///     "unauthorized: only an enrolled bank may mint"
/// );
/// # });
/// ```
///
/// # Errors
/// The refusal above, or as [`roles`].
#[inline]
pub fn require_role(
    identity: &Address,
    who: Address,
    role: Role,
    action: &str,
) -> Result<(), ContractError> {
    ensure!(
        has_role(identity, who, role)?,
        "unauthorized: only an enrolled {role} may {action}"
    );
    Ok(())
}

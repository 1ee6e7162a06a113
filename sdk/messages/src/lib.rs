//! `hanok-messages`: the interface of the six system contracts, defined once — every
//! instantiate, execute and query message and every answer, as serde types.
//!
//! One module per contract: [`identity`] ([`identity::Role`], the roles query), [`registry`]
//! ([`registry::Parcel`], [`registry::LandUse`], the approval policy), [`krw`] (the deposit
//! token, and [`krw::ReceiverMsg`], what a contract receives from a `send`), [`escrow`] and
//! [`deal`] ([`deal::Deal`], [`deal::Terms`], [`deal::Status`]), [`tax`] (acquisition tax and
//! the first-home relief); and [`system`], the set of
//! system-contract addresses and labels. The contracts decode these types and re-export them
//! (`hanok_deal::ExecuteMsg` is [`deal::ExecuteMsg`]); a contract that calls another (the deal
//! drives registry, escrow and identity) encodes them; the client SDK, the CLI, the bench, the
//! tests and the examples build requests and read answers with them.
//!
//! The JSON is the published interface (`docs/contracts.md`, the JSON Schemas under
//! `contracts/<name>/schema/`, which the `schema` feature derives from these types): externally
//! tagged snake_case enums, amounts as decimal strings ([`hanok_abi::Amount`]), addresses as
//! `"0x"` + 40 hex digits. A bank's Java or Python client builds the same bytes from the
//! schemas.
//!
//! Architecture Invariant: this crate has no entry points and no logic beyond a few accessors,
//! so any contract may link it: that is how the deal contract speaks to the registry, escrow
//! and identity contracts without linking their crates, whose wasm exports would clash with its
//! own. `no_std` + `alloc`; it depends on `hanok-abi` and serde only (serde_json for the one
//! free-form field type, schemars behind `schema`), never on the SDK, the VM or gRPC. SHA-256 is
//! behind the host-side `system` feature, so contracts do not link it.
#![cfg_attr(not(any(test, feature = "schema")), no_std)]
#![deny(clippy::arithmetic_side_effects)]

extern crate alloc;

use alloc::string::String;
use core::fmt;

pub use hanok_abi::{Address, Amount};

/// A name that is none of an enum's snake_case names, e.g. `"lender"` parsed as a
/// [`identity::Role`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownName {
    /// What was being parsed (`role`, `land use`, …).
    pub kind: &'static str,
    /// The name given.
    pub name: String,
    /// Every name that would have been accepted.
    pub expected: &'static [&'static str],
}

impl fmt::Display for UnknownName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}` is not a {} (one of: ", self.name, self.kind)?;
        for (i, n) in self.expected.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            f.write_str(n)?;
        }
        f.write_str(")")
    }
}

impl core::error::Error for UnknownName {}

/// For a fieldless enum serialised as snake_case names: `ALL`, `NAMES`, `as_str`, `Display` and
/// `FromStr` from one table, so the names a CLI accepts are the names the JSON carries.
macro_rules! names {
    ($ty:ident, $kind:literal, { $($variant:ident => $name:literal,)+ }) => {
        impl $ty {
            /// Every value, in declaration order.
            pub const ALL: &'static [$ty] = &[$($ty::$variant,)+];
            /// Every snake_case name, in declaration order.
            pub const NAMES: &'static [&'static str] = &[$($name,)+];

            /// The snake_case name, as in JSON.
            #[inline]
            pub fn as_str(self) -> &'static str {
                match self {
                    $($ty::$variant => $name,)+
                }
            }
        }

        impl core::fmt::Display for $ty {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl core::str::FromStr for $ty {
            type Err = $crate::UnknownName;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($name => Ok($ty::$variant),)+
                    _ => Err($crate::UnknownName {
                        kind: $kind,
                        name: alloc::string::ToString::to_string(s),
                        expected: Self::NAMES,
                    }),
                }
            }
        }
    };
}
pub(crate) use names;

pub mod deal;
pub mod escrow;
pub mod identity;
pub mod krw;
pub mod registry;
pub mod system;
pub mod tax;

#[cfg(test)]
mod tests {
    use crate::deal::{ExecuteMsg, Status};
    use crate::identity::{roles_key, QueryMsg, Role};
    use crate::registry::{parcel_key, LandUse};
    use crate::system::{SystemContracts, LABELS};
    use hanok_abi::Address;
    use serde_json::json;

    #[test]
    fn names_are_the_json_names() -> Result<(), serde_json::Error> {
        for r in Role::ALL {
            assert_eq!(serde_json::to_value(r)?, json!(r.as_str()));
            assert_eq!(r.as_str().parse::<Role>().ok(), Some(*r));
        }
        for u in LandUse::ALL {
            assert_eq!(serde_json::to_value(u)?, json!(u.to_string()));
        }
        assert_eq!(Status::Approved.as_str(), "approved");
        let refused = "lender".parse::<Role>().err().map(|e| e.to_string());
        assert_eq!(
            refused.as_deref(),
            Some("`lender` is not a role (one of: authority, official, bank, broker, citizen, deployer, tax-official, municipality)")
        );
        Ok(())
    }

    #[test]
    fn messages_keep_their_wire_format() -> Result<(), serde_json::Error> {
        let a = Address([0xab; 20]);
        assert_eq!(
            serde_json::to_value(QueryMsg::Roles { address: a })?,
            json!({"roles": {"address": a.to_string()}})
        );
        assert_eq!(
            serde_json::to_string(&ExecuteMsg::Settle { deal_id: 7 })?,
            r#"{"settle":{"deal_id":7}}"#
        );
        Ok(())
    }

    #[test]
    fn storage_keys_and_labels() {
        let a = Address([1; 20]);
        let mut want = vec![0, 5];
        want.extend_from_slice(b"roles");
        want.extend_from_slice(&a.0);
        assert_eq!(roles_key(&a), want);
        let mut want = vec![0, 7];
        want.extend_from_slice(b"parcels");
        want.extend_from_slice(&[0, 3]);
        want.extend_from_slice(b"P-1");
        assert_eq!(parcel_key("P-1"), want);
        let sys = SystemContracts::try_from_labels(|l| {
            let i = LABELS.iter().position(|x| *x == l).unwrap_or(0);
            Ok::<_, ()>(Address([i as u8; 20]))
        });
        assert_eq!(sys.map(|s| s.get("krw")), Ok(Some(Address([2; 20]))));
    }
}

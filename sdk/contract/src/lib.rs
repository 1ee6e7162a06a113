//! `hanok-sdk`: the guest SDK for writing hanok contracts in Rust (`no_std` + `alloc`).
//!
//! A contract is a crate built to `wasm32-unknown-unknown` that declares its handlers with
//! [`entry_points!`] and keeps its state in [`Item`]s and [`Map`]s. Messages are JSON (serde).
//! Key items: [`entry_points!`], [`Response`], [`ContractError`] with [`bail!`]/[`ensure!`],
//! [`Item`], [`Map`], [`emit`], [`env`], [`call`], [`query`], [`sha256`], [`secp256k1_verify`],
//! the roles query ([`require_role`], [`has_role`], [`roles()`]) and the native [`mock`] host for
//! unit tests.
//!
//! Architecture Invariant: the SDK knows nothing of real estate and depends only on `hanok-abi`,
//! serde and `hanok-messages`, for one interface: the identity contract's roles query, which
//! every contract that checks a role makes through [`require_role`] or [`has_role`]. On `wasm32` it talks to the VM through the `hanok` host imports, installs a bump
//! allocator (every call runs on a fresh instance, so memory is reclaimed when the call ends
//! and nothing is ever freed) and a panic handler that reports the panic message through
//! `abort`. On every other target the same API runs against the thread-local [`mock`] host and
//! std's allocator, so contract logic is unit-tested natively and several contracts can be
//! linked into one test binary (the wasm exports exist only on `wasm32`).
//!
//! # Example
//!
//! ```
//! use hanok_sdk::{bail, call, emit, entry_points, mock, to_json, Address, ContractError, Env, Event, Map, Response};
//! use serde::{Deserialize, Serialize};
//!
//! const NOTES: Map<&str, String> = Map::new("notes");
//!
//! #[derive(Serialize, Deserialize)]
//! #[serde(rename_all = "snake_case")]
//! pub enum ExecuteMsg { Write { id: String, text: String }, Forward { to: Address, id: String } }
//!
//! fn instantiate(_: &Env, _: serde_json::Value) -> Result<Response, ContractError> { Ok(Response::new()) }
//! fn execute(env: &Env, msg: ExecuteMsg) -> Result<Response, ContractError> {
//!     match msg {
//!         ExecuteMsg::Write { id, text } => {
//!             if NOTES.has(&id.as_str()) { bail!("note {id} exists"); }
//!             NOTES.save(&id.as_str(), &text)?;
//!             emit(Event::new("written").attr("id", id).attr("by", env.sender.to_string()));
//!             Ok(Response::new())
//!         }
//!         ExecuteMsg::Forward { to, id } => {
//!             let text = NOTES.load(&id.as_str())?;
//!             // A callee error comes back as an Err that `?` propagates.
//!             call::<()>(&to, &ExecuteMsg::Write { id, text })?;
//!             Ok(Response::new())
//!         }
//!     }
//! }
//! fn query(_: &Env, id: String) -> Result<Vec<u8>, ContractError> { to_json(&NOTES.may_load(&id.as_str())?) }
//! entry_points!(instantiate, execute, query);
//!
//! mock::reset();
//! let (a, b, alice) = (Address([1; 20]), Address([2; 20]), Address([9; 20]));
//! mock::register(a, ENTRY_POINTS);
//! mock::register(b, ENTRY_POINTS);
//! let write = |id: &str| ExecuteMsg::Write { id: id.into(), text: "hi".into() };
//! mock::execute(a, alice, &write("n1")).unwrap();
//! mock::execute(b, alice, &write("n1")).unwrap();
//! let err = mock::execute(a, alice, &ExecuteMsg::Forward { to: b, id: "n1".into() }).unwrap_err();
//! assert_eq!(err.message(), "note n1 exists");
//! assert_eq!(mock::query::<_, Option<String>>(b, &"n1").unwrap().as_deref(), Some("hi"));
//! assert_eq!(mock::events().len(), 2);
//! ```
#![no_std]

extern crate alloc;
#[cfg(not(target_arch = "wasm32"))]
extern crate std;

pub mod entry;
mod error;
pub mod roles;
pub mod storage;

#[cfg(not(target_arch = "wasm32"))]
pub mod mock;
#[cfg(not(target_arch = "wasm32"))]
use mock::host;

#[cfg(target_arch = "wasm32")]
mod wasm;
#[cfg(target_arch = "wasm32")]
use wasm as host;

pub use entry::{EntryPoints, Response};
pub use error::ContractError;
pub use hanok_abi::{Address, Amount, Env, Event};
pub use hanok_messages::identity::Role;
pub use roles::{has_role, require_role, roles};
pub use storage::{Item, Map};

use alloc::format;
use alloc::vec::Vec;
use serde::de::DeserializeOwned;
use serde::Serialize;

#[doc(hidden)]
pub mod __private {
    pub use alloc::format;
}

/// Encodes a value as JSON.
///
/// # Errors
/// When serialisation fails (e.g. a map with non-string keys).
pub fn to_json<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, ContractError> {
    serde_json::to_vec(value).map_err(|e| ContractError::new(format!("cannot encode JSON: {e}")))
}

/// Decodes JSON; empty input decodes as `null`, so `()` and `Option` accept empty data.
///
/// # Errors
/// When the bytes are not JSON of the expected shape.
pub fn from_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ContractError> {
    let bytes = if bytes.is_empty() {
        b"null".as_slice()
    } else {
        bytes
    };
    serde_json::from_slice(bytes)
        .map_err(|e| ContractError::new(format!("cannot decode JSON: {e}")))
}

/// The environment of the current call (block height and time, sender, origin, own address).
pub fn env() -> Env {
    host::env()
}

/// Emits an event now. Events are kept only if the transaction commits.
///
/// # Panics
/// Inside a query (the VM traps).
pub fn emit(event: Event) {
    host::emit(&event);
}

/// Calls `execute` of the contract at `contract` with `msg` as JSON, atomically with this call,
/// and decodes its response data as `R` (use `()` or `serde_json::Value` to ignore it).
///
/// # Errors
/// The callee's error message, verbatim (its writes are already reverted), or a decoding error.
pub fn call<R: DeserializeOwned>(
    contract: &Address,
    msg: &impl Serialize,
) -> Result<R, ContractError> {
    let data = host::call(contract, &to_json(msg)?)?;
    from_json(&data)
}

/// Runs the read-only `query` of the contract at `contract` and decodes its JSON answer.
///
/// # Errors
/// The callee's error message, verbatim, or a decoding error.
pub fn query<R: DeserializeOwned>(
    contract: &Address,
    msg: &impl Serialize,
) -> Result<R, ContractError> {
    let data = host::query(contract, &to_json(msg)?)?;
    from_json(&data)
}

/// SHA-256 of `data`, computed by the host.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    host::sha256(data)
}

/// Verifies a 64-byte compact, low-S secp256k1 ECDSA signature over a 32-byte prehash with a
/// SEC1 public key (33 or 65 bytes).
pub fn secp256k1_verify(hash: &[u8; 32], sig: &[u8; 64], pubkey: &[u8]) -> bool {
    host::secp256k1_verify(hash, sig, pubkey)
}

/// Stops the contract with a message, as a panic would, but without formatting machinery.
pub fn abort(msg: &str) -> ! {
    #[cfg(target_arch = "wasm32")]
    {
        host::abort(msg)
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        panic!("contract aborted: {msg}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::String;

    const M: Map<(Address, u64), String> = Map::new("m");

    #[test]
    fn range_pages_through_more_than_a_page() {
        mock::reset();
        mock::with_contract(Address([1; 20]), || {
            for i in 0..150u64 {
                M.save(&(Address([2; 20]), i), &format!("v{i}"))
                    .unwrap_or_default();
            }
            M.save(&(Address([3; 20]), 0), &String::from("other"))
                .unwrap_or_default();
            let all: Vec<(u64, String)> = M
                .prefix_range(&Address([2; 20]), None::<&u64>, 1000)
                .unwrap_or_default();
            assert_eq!(all.len(), 150);
            assert_eq!(all[149].0, 149);
            let some: Vec<(u64, String)> = M
                .prefix_range(&Address([2; 20]), Some(&10u64), 70)
                .unwrap_or_default();
            assert_eq!(some.len(), 70);
            assert_eq!(some[0].0, 11);
            let whole = M.range(None, 1000).unwrap_or_default();
            assert_eq!(whole.len(), 151);
        });
    }

    mod upgradable {
        use crate::{entry_points, ContractError, Env, Item, Response};
        use alloc::vec::Vec;

        pub(super) const VERSION: Item<u32> = Item::new("version");

        fn instantiate(_: &Env, _: serde_json::Value) -> Result<Response, ContractError> {
            VERSION.save(&1)?;
            Ok(Response::new())
        }
        fn execute(_: &Env, _: serde_json::Value) -> Result<Response, ContractError> {
            Ok(Response::new())
        }
        fn query(_: &Env, _: serde_json::Value) -> Result<Vec<u8>, ContractError> {
            crate::to_json(&VERSION.load()?)
        }
        fn migrate(_: &Env, to: u32) -> Result<Response, ContractError> {
            crate::ensure!(to > VERSION.load()?, "cannot migrate down to {to}");
            VERSION.save(&to)?;
            Ok(Response::new())
        }
        entry_points!(instantiate, execute, query, migrate);
    }

    #[test]
    fn migrate_is_dispatched_when_declared() {
        mock::reset();
        let c = Address([5; 20]);
        mock::register(c, upgradable::ENTRY_POINTS);
        assert!(mock::instantiate(c, c, &serde_json::json!({})).is_ok());
        assert!(mock::migrate(c, c, &2u32).is_ok());
        let err = mock::migrate(c, c, &1u32)
            .err()
            .map(ContractError::into_message);
        assert_eq!(err.as_deref(), Some("cannot migrate down to 1"));
        assert_eq!(
            mock::query::<_, u32>(c, &serde_json::json!({})).ok(),
            Some(2)
        );
    }

    #[test]
    fn keys_are_prefix_free_between_namespaces() {
        let item: Item<u8> = Item::new("ab");
        let map: Map<&str, u8> = Map::new("a");
        mock::reset();
        mock::with_contract(Address([1; 20]), || {
            item.save(&1).unwrap_or_default();
            map.save(&"b", &2).unwrap_or_default();
            assert_eq!(item.load().ok(), Some(1));
            assert_eq!(map.load(&"b").ok(), Some(2));
        });
    }
}

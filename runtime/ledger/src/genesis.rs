//! [`NodeGenesis`]: what a ledger starts from, and the admission rule it implies.
//!
//! Both the dev genesis ([`crate::dev::dev_genesis`]) and a genesis file
//! ([`crate::genesis_file`]) produce one; nothing else does, and nothing here depends on who
//! produced it.

use crate::error::{LedgerError, Result};
use hanok_chain::{Admission, ChainConfig, Genesis};
use hanok_proto::v1;
use hanok_types::{layout, Address, SecretKey};
use hanok_vm::{Backend, StorageError};
use std::path::Path;
use std::sync::Arc;

/// The roles that may upload code and instantiate contracts. The authority may by default, so a
/// chain can deploy from its first block; it grants `deployer` to anyone else.
pub const DEPLOY_ROLES: &[&str] = &["authority", "deployer"];

/// What a ledger starts from: the chain's genesis, its rules, the identity contract that gates
/// senders, the key that signs its blocks, and transactions to commit as block 1 on an empty
/// chain.
#[derive(Debug, Clone)]
pub struct NodeGenesis {
    /// Block 0.
    pub genesis: Genesis,
    /// Chain rules (admission, block gas, allowed proposers). Admission is set by
    /// [`NodeGenesis::gated_by`].
    pub chain: ChainConfig,
    /// The identity contract whose `roles` map decides who may send (and answers the roles of
    /// `GetAccount`); `None` on a chain that admits everyone.
    pub identity: Option<Address>,
    /// The key this node signs blocks with.
    pub proposer: SecretKey,
    /// Signed transactions committed as block 1 when the chain is empty, at the genesis time.
    pub bootstrap: Vec<v1::SignedTx>,
}

impl NodeGenesis {
    /// A genesis whose senders are admitted by `identity`'s role map: an account may send iff the
    /// identity contract holds roles for it, and may upload code or instantiate contracts iff one
    /// of them is in [`DEPLOY_ROLES`]. This is the one place that rule is built.
    pub fn gated_by(
        genesis: Genesis,
        mut chain: ChainConfig,
        identity: Address,
        proposer: SecretKey,
        bootstrap: Vec<v1::SignedTx>,
    ) -> NodeGenesis {
        chain.rules.admission = Arc::new(RolesAdmission { identity });
        NodeGenesis {
            genesis,
            chain,
            identity: Some(identity),
            proposer,
            bootstrap,
        }
    }
}

/// The identity contract's rule, read straight from its storage (no VM call on the admission
/// path): enrolled iff it stores roles for the address, a deployer iff those roles include one of
/// [`DEPLOY_ROLES`]. A chain rule: every node reads the same bytes the same way.
struct RolesAdmission {
    identity: Address,
}

impl RolesAdmission {
    fn roles(
        &self,
        state: &dyn Backend,
        address: &Address,
    ) -> Result<Option<Vec<u8>>, StorageError> {
        state.get(&layout::storage_key(&self.identity, &roles_key(address)))
    }
}

impl Admission for RolesAdmission {
    fn is_enrolled(&self, state: &dyn Backend, address: &Address) -> Result<bool, StorageError> {
        Ok(self.roles(state, address)?.is_some())
    }

    fn may_deploy(&self, state: &dyn Backend, address: &Address) -> Result<bool, StorageError> {
        Ok(self
            .roles(state, address)?
            .is_some_and(|value| holds_deploy_role(&value)))
    }
}

/// Whether a stored roles value (the identity contract's `Vec<Role>`, JSON: `["broker",
/// "deployer"]`) holds a role in [`DEPLOY_ROLES`]. Anything else, including bytes that are not
/// such a list, is "no": the answer must be the same on every node, never an error.
fn holds_deploy_role(value: &[u8]) -> bool {
    serde_json::from_slice::<Vec<String>>(value)
        .is_ok_and(|roles| roles.iter().any(|r| DEPLOY_ROLES.contains(&r.as_str())))
}

/// The key, inside the identity contract's storage, under which it stores `address`'s roles
/// (`u16 BE 5 | "roles" | 20-byte address`, see `docs/storage.md`); defined with the identity
/// contract's interface in `hanok-messages`.
pub use hanok_messages::identity::roles_key;

/// Reads a secret key file: 64 hex digits (optionally `0x`), surrounding whitespace ignored.
/// On unix, as ssh does, a file that group or others may access is refused.
///
/// # Errors
/// [`LedgerError::Key`] saying what is wrong; the message never contains the key.
pub fn read_secret_key(path: &Path) -> Result<SecretKey> {
    let fail = |reason: String| LedgerError::Key {
        path: path.to_path_buf(),
        reason,
    };
    let meta = std::fs::metadata(path).map_err(|e| fail(format!("cannot read: {e}")))?;
    if !meta.is_file() {
        return Err(fail("not a regular file".into()));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(fail(format!(
                "permissions {mode:04o} are too open: a secret key must be accessible by its \
                 owner only; run `chmod 600 {}`",
                path.display()
            )));
        }
    }
    let text = std::fs::read_to_string(path).map_err(|e| fail(format!("cannot read: {e}")))?;
    let t = text.trim();
    let digits = t.strip_prefix("0x").unwrap_or(t);
    let bytes: [u8; 32] = hex::decode(digits)
        .ok()
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .ok_or_else(|| fail("expected a secret key as 64 hex digits".into()))?;
    SecretKey::from_bytes(&bytes).ok_or_else(|| {
        fail("not a valid secp256k1 secret key (zero or above the curve order)".into())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deploy_roles_are_read_from_the_stored_json() {
        assert!(holds_deploy_role(br#"["authority"]"#));
        assert!(holds_deploy_role(br#"["broker","deployer"]"#));
        assert!(!holds_deploy_role(br#"["broker","citizen"]"#));
        assert!(!holds_deploy_role(br#"[]"#));
        assert!(!holds_deploy_role(b"not json"));
    }
}

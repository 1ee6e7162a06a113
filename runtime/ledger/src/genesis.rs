//! [`NodeGenesis`]: what a ledger starts from, and the admission rule it implies.
//!
//! Both the dev genesis ([`crate::dev::dev_genesis`]) and a genesis file
//! ([`crate::genesis_file`]) produce one; nothing else does, and nothing here depends on who
//! produced it.

use crate::error::{LedgerError, Result};
use hanok_chain::{ChainConfig, Genesis, StorageKeyAdmission};
use hanok_proto::v1;
use hanok_types::{Address, SecretKey};
use std::path::Path;
use std::sync::Arc;

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
    /// identity contract holds roles for it. This is the one place that rule is built.
    pub fn gated_by(
        genesis: Genesis,
        mut chain: ChainConfig,
        identity: Address,
        proposer: SecretKey,
        bootstrap: Vec<v1::SignedTx>,
    ) -> NodeGenesis {
        chain.rules.admission = Arc::new(StorageKeyAdmission::new(identity, roles_key));
        NodeGenesis {
            genesis,
            chain,
            identity: Some(identity),
            proposer,
            bootstrap,
        }
    }
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

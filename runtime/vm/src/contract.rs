//! Contract metadata: [`ContractInfo`] as stored under [`layout::contract_info_key`], how a contract's code hash
//! is looked up, and the per-block [`ContractCache`] of those lookups.

use crate::error::{Fault, Result, StorageError};
use crate::state::{Backend, Overlay, WriteSet};
use hanok_abi::{layout, Address};
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

/// sha256 of a module's bytes: how code is named on chain. The one hash type of hanok
/// ([`hanok_abi::Hash`]), under the name the VM has always given it.
pub use hanok_abi::Hash as CodeHash;

/// A contract's metadata, stored at [`layout::contract_info_key`] in a fixed binary encoding
/// ([`ContractInfo::encode`]) that is part of the state root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContractInfo {
    /// sha256 of the contract's code.
    pub code_hash: CodeHash,
    /// Who instantiated it.
    pub creator: Address,
    /// The label its address was derived from.
    pub label: String,
    /// Who may migrate it, if anyone.
    pub admin: Option<Address>,
}

/// Offsets of the fixed-size fields of an encoded [`ContractInfo`].
const CODE_HASH_AT: usize = 1;
const CREATOR_AT: usize = CODE_HASH_AT + CodeHash::LEN;
const ADMIN_AT: usize = CREATOR_AT + Address::LEN;

impl ContractInfo {
    /// The encoding's version, its first byte. A new layout takes a new number, so a reader can
    /// tell the records of both apart.
    pub const VERSION: u8 = 1;

    /// The stored bytes, all integers big-endian:
    ///
    /// ```text
    /// version (1) = 0x01 | code hash (32) | creator (20)
    ///   | admin: 0x00, or 0x01 | admin (20)
    ///   | label length (u32) | label (UTF-8)
    /// ```
    ///
    /// No JSON or hex: the execution path reads the code hash at a fixed offset.
    pub fn encode(&self) -> Vec<u8> {
        let admin_len = if self.admin.is_some() { 21 } else { 1 };
        let len = ADMIN_AT
            .saturating_add(admin_len)
            .saturating_add(4)
            .saturating_add(self.label.len());
        let mut out = Vec::with_capacity(len);
        out.push(Self::VERSION);
        out.extend_from_slice(&self.code_hash.0);
        out.extend_from_slice(&self.creator.0);
        match &self.admin {
            None => out.push(0),
            Some(admin) => {
                out.push(1);
                out.extend_from_slice(&admin.0);
            }
        }
        // A label is part of a transaction, which is bounded far below 4 GiB.
        let label_len = u32::try_from(self.label.len()).unwrap_or(u32::MAX);
        out.extend_from_slice(&label_len.to_be_bytes());
        out.extend_from_slice(self.label.as_bytes());
        out
    }

    /// Reads bytes written by [`ContractInfo::encode`]; anything else (another version, a wrong
    /// length, a bad admin tag, a label that is not UTF-8) is refused.
    ///
    /// # Errors
    /// A [`StorageError`]: a record that does not decode is damaged state, never a call outcome.
    pub fn decode(bytes: &[u8]) -> Result<ContractInfo, StorageError> {
        let code_hash = Self::code_hash_of(bytes)?;
        let bad = |what: &str| StorageError(format!("corrupt contract info: {what}"));
        let creator = bytes
            .get(CREATOR_AT..ADMIN_AT)
            .and_then(Address::from_slice)
            .ok_or_else(|| bad("truncated creator"))?;
        let (admin, rest) = match bytes.get(ADMIN_AT..).and_then(<[u8]>::split_first) {
            Some((0, rest)) => (None, rest),
            Some((1, rest)) => {
                let (admin, rest) = rest
                    .split_at_checked(Address::LEN)
                    .ok_or_else(|| bad("truncated admin"))?;
                (Address::from_slice(admin), rest)
            }
            Some(_) => return Err(bad("unknown admin tag")),
            None => return Err(bad("truncated admin")),
        };
        let (len, label) = rest
            .split_first_chunk::<4>()
            .ok_or_else(|| bad("truncated label length"))?;
        if usize::try_from(u32::from_be_bytes(*len)).ok() != Some(label.len()) {
            return Err(bad("label length does not match the record"));
        }
        let label = std::str::from_utf8(label)
            .map_err(|_| bad("label is not UTF-8"))?
            .to_string();
        Ok(ContractInfo {
            code_hash,
            creator,
            label,
            admin,
        })
    }

    /// The code hash of an encoded record, read at its fixed offset without decoding the rest:
    /// what a call needs, on every miss of the [`ContractCache`].
    ///
    /// # Errors
    /// A [`StorageError`] for another version or a record too short to hold a code hash.
    pub fn code_hash_of(bytes: &[u8]) -> Result<CodeHash, StorageError> {
        match bytes.split_first() {
            Some((&Self::VERSION, rest)) => rest
                .get(..CodeHash::LEN)
                .and_then(CodeHash::from_slice)
                .ok_or_else(|| StorageError("corrupt contract info: truncated code hash".into())),
            Some((v, _)) => Err(StorageError(format!(
                "corrupt contract info: unknown version {v}"
            ))),
            None => Err(StorageError("corrupt contract info: empty".into())),
        }
    }
}

pub use hanok_abi::layout::contract_address;

/// The metadata of `contract`, read through the pending writes.
///
/// # Errors
/// [`Fault::NoSuchContract`]; a [`StorageError`] on I/O failure or a damaged record.
pub(crate) fn load_info(
    overlay: &Overlay,
    backend: &dyn Backend,
    contract: &Address,
) -> Result<ContractInfo> {
    let raw = overlay
        .get(backend, &layout::contract_info_key(contract))?
        .ok_or(Fault::NoSuchContract(*contract))?;
    Ok(ContractInfo::decode(&raw)?)
}

/// The code hash of `contract`: what [`load_info`] gives, through `cache` when there is one and
/// no pending write to the contract's metadata.
///
/// # Errors
/// As [`load_info`].
pub(crate) fn load_code_hash(
    overlay: &Overlay,
    backend: &dyn Backend,
    cache: Option<&ContractCache>,
    contract: &Address,
) -> Result<CodeHash> {
    let key = layout::contract_info_key(contract);
    let cache = match cache {
        Some(cache) if !overlay.writes().contains_key(&key) => cache,
        _ => return Ok(load_info(overlay, backend, contract)?.code_hash),
    };
    if let Some(code) = cache.get(contract) {
        return Ok(code);
    }
    let raw = backend.get(&key)?.ok_or(Fault::NoSuchContract(*contract))?;
    let code = ContractInfo::code_hash_of(&raw)?;
    cache.insert(*contract, code);
    Ok(code)
}

/// Code hashes of contracts, as read from a backend's contract metadata, shared by the sessions
/// of one block so that each contract's metadata is read and parsed once per block instead of on
/// every call.
///
/// Sound only while the backend it was filled from changes in no other way than by the writes
/// that [`crate::Session::finish`] of sessions using it hand back: `finish` drops the entry of
/// every contract whose metadata the session wrote, before those writes can reach the backend.
/// Entries are only filled from the backend, never from a session's pending writes, so a write
/// that is reverted, or a session that is dropped, leaves nothing behind; a session reads its own
/// pending metadata writes directly. `hanok-chain` uses one per executed block, over the block's
/// pending state. At most [`ContractCache::CAPACITY`] contracts are kept; further ones are read
/// each time.
///
/// Not `Send`: it lives on the thread that runs the block, as sessions do.
#[derive(Clone, Default)]
pub struct ContractCache {
    code: Rc<RefCell<HashMap<Address, CodeHash>>>,
}

impl std::fmt::Debug for ContractCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ContractCache")
            .field("contracts", &self.code.borrow().len())
            .finish()
    }
}

impl ContractCache {
    /// Most contracts one cache holds.
    pub const CAPACITY: usize = 4096;

    /// An empty cache.
    pub fn new() -> ContractCache {
        ContractCache::default()
    }

    pub(crate) fn get(&self, contract: &Address) -> Option<CodeHash> {
        self.code.borrow().get(contract).copied()
    }

    fn insert(&self, contract: Address, code: CodeHash) {
        let mut map = self.code.borrow_mut();
        if map.len() < Self::CAPACITY {
            map.insert(contract, code);
        }
    }

    /// Forgets every contract whose metadata key is among `writes`.
    pub(crate) fn forget_written(&self, writes: &WriteSet) {
        let mut map = self.code.borrow_mut();
        if map.is_empty() {
            return;
        }
        let start = [layout::CONTRACT_INFO];
        let end = [layout::CONTRACT_INFO.saturating_add(1)];
        for key in writes.range(start.to_vec()..end.to_vec()).map(|(k, _)| k) {
            if let Some(a) = key.get(1..).and_then(Address::from_slice) {
                map.remove(&a);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use expect_test::expect;

    fn info(admin: Option<Address>) -> ContractInfo {
        ContractInfo {
            code_hash: CodeHash([0xc0; 32]),
            creator: Address([0xa1; 20]),
            label: "registry".into(),
            admin,
        }
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The stored bytes are consensus data (they are hashed into the state root): any change
    /// shows here first. `UPDATE_EXPECT=1` rewrites the snapshots, and a change needs a new
    /// [`ContractInfo::VERSION`].
    #[test]
    fn the_encoding_is_pinned() {
        expect![[r#"01c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a101b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2000000087265676973747279"#]]
        .assert_eq(&hex(&info(Some(Address([0xb2; 20]))).encode()));
        expect!["01c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a100000000087265676973747279"]
        .assert_eq(&hex(&info(None).encode()));
    }

    #[test]
    fn decode_reads_what_encode_wrote_and_nothing_else() {
        for i in [info(None), info(Some(Address([0xb2; 20])))] {
            let bytes = i.encode();
            assert_eq!(ContractInfo::decode(&bytes), Ok(i.clone()));
            assert_eq!(ContractInfo::code_hash_of(&bytes), Ok(i.code_hash));
            // Every strict prefix and any trailing byte is refused.
            for n in 0..bytes.len() {
                assert!(ContractInfo::decode(&bytes[..n]).is_err(), "prefix {n}");
            }
            let mut longer = bytes.clone();
            longer.push(0);
            assert!(ContractInfo::decode(&longer).is_err());
        }
        let mut v2 = info(None).encode();
        v2[0] = 2;
        assert!(ContractInfo::decode(&v2).is_err());
        assert!(ContractInfo::code_hash_of(&v2).is_err());
        let mut tag = info(None).encode();
        tag[ADMIN_AT] = 2;
        assert!(ContractInfo::decode(&tag).is_err());
        // The JSON of the earlier format is refused, not misread.
        assert!(ContractInfo::decode(br#"{"code_hash":"00"}"#).is_err());
    }
}

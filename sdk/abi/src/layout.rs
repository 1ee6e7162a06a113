//! The byte layout of hanok state, in one place: state keys, the guest SDK's storage-key
//! encoding, contract addresses, the entry-point return packing and the 32-byte [`Hash`](struct@Hash).
//!
//! The VM, the chain, the guest SDK, the client SDK, the node and the bench all build keys with
//! these functions, so a layout rule changes in exactly one place. The rules are written out for
//! clients in other languages in `docs/storage.md` ("State keys"), with a worked example that a
//! test pins.
//!
//! # State keys
//!
//! Every state key starts with a one-byte namespace, so the namespaces can never collide:
//!
//! | namespace | key | value |
//! | --- | --- | --- |
//! | [`CONTRACT_STORAGE`] `0x01` | `0x01 \| contract (20) \| storage key` | what the contract stored |
//! | [`CONTRACT_INFO`] `0x02` | `0x02 \| contract (20)` | the VM's binary `ContractInfo` |
//! | [`CODE`] `0x03` | `0x03 \| code hash (32)` | wasm bytes |
//! | [`ACCOUNT_NONCE`] `0x10` | `0x10 \| account (20)` | next nonce, u64 big-endian |
//! | [`SYSTEM`] `0x20` | `0x20 \| name` | chain-kept system state, e.g. [`consortium_members_key`] |
//!
//! # Storage keys of the guest SDK
//!
//! Inside a contract's storage, the SDK's `Item` and `Map` keys are `u16 BE length | namespace`
//! followed by each key component: strings as `u16 BE length | UTF-8 bytes`, `u64`/`u32` as
//! big-endian bytes, addresses as their 20 bytes. Every component is self-delimiting, so a tuple
//! prefix is a byte prefix of the full key. [`MapKey`] builds such a key.
//!
//! This module depends only on `sha2` (and `core`/`alloc`), behind the crate's `sha2` feature
//! ([`Hash::sha256`], [`contract_address`]): host crates turn it on, contracts leave it off.

use crate::Address;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
#[cfg(feature = "sha2")]
use sha2::{Digest, Sha256};

/// A 32-byte SHA-256 digest: code hashes, transaction and block hashes, state roots and proof
/// nodes. Shown as 64 lowercase hex digits.
///
/// The one hash type of hanok: `hanok_types::Hash`, `hanok_vm::CodeHash` and `hanok_proof::Hash`
/// are re-exports of it.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Hash(pub [u8; 32]);

impl Hash {
    /// Length in bytes.
    pub const LEN: usize = 32;

    /// SHA-256 of `bytes`.
    #[cfg(feature = "sha2")]
    pub fn sha256(bytes: &[u8]) -> Hash {
        Hash(Sha256::digest(bytes).into())
    }

    /// SHA-256 of `bytes`; the name code hashes have always used (`CodeHash::of(wasm)`).
    #[cfg(feature = "sha2")]
    pub fn of(bytes: &[u8]) -> Hash {
        Hash::sha256(bytes)
    }

    /// From a slice of exactly 32 bytes.
    pub fn from_slice(bytes: &[u8]) -> Option<Hash> {
        <[u8; 32]>::try_from(bytes).ok().map(Hash)
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Lowercase hex, 64 digits.
    pub fn to_hex(&self) -> String {
        let mut s = String::with_capacity(64);
        for b in self.0 {
            s.push(char::from(crate::HEX[usize::from(b >> 4)]));
            s.push(char::from(crate::HEX[usize::from(b & 0x0f)]));
        }
        s
    }

    /// Parses exactly 64 hex digits (either case).
    pub fn from_hex(s: &str) -> Option<Hash> {
        let digits = s.as_bytes();
        if digits.len() != 64 {
            return None;
        }
        let mut out = [0u8; 32];
        for (o, pair) in out.iter_mut().zip(digits.chunks_exact(2)) {
            let (hi, lo) = (crate::hex_val(pair[0])?, crate::hex_val(pair[1])?);
            *o = (hi << 4) | lo;
        }
        Some(Hash(out))
    }
}

impl AsRef<[u8]> for Hash {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl From<[u8; 32]> for Hash {
    fn from(bytes: [u8; 32]) -> Hash {
        Hash(bytes)
    }
}

impl From<Hash> for [u8; 32] {
    fn from(h: Hash) -> [u8; 32] {
        h.0
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({self})")
    }
}

/// Namespace of contract storage: `0x01 | contract address | storage key`.
pub const CONTRACT_STORAGE: u8 = 0x01;
/// Namespace of contract metadata: `0x02 | contract address` → the VM's binary `ContractInfo`.
pub const CONTRACT_INFO: u8 = 0x02;
/// Namespace of code: `0x03 | code hash` → wasm bytes.
pub const CODE: u8 = 0x03;
/// Namespace of account nonces: `0x10 | account address` → next nonce (u64 big-endian). Kept by
/// the chain, in the same tree, so the state root covers nonces too.
pub const ACCOUNT_NONCE: u8 = 0x10;

/// Namespace of state the chain itself keeps for the whole chain: `0x20 | name`. Today only the
/// consortium's members added after genesis ([`consortium_members_key`]).
pub const SYSTEM: u8 = 0x20;

/// The address a transaction calls to change the consortium's membership. No contract lives
/// there: the chain executes these calls itself (a contract address is a sha256 output, so it
/// cannot be this one).
pub const CONSORTIUM_ADDRESS: Address = Address([
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x0c, 0x01,
]);

/// `tag | bytes`, allocated once.
fn tagged(tag: u8, parts: &[&[u8]]) -> Vec<u8> {
    let len = parts.iter().fold(1usize, |n, p| n.saturating_add(p.len()));
    let mut k = Vec::with_capacity(len);
    k.push(tag);
    for p in parts {
        k.extend_from_slice(p);
    }
    k
}

/// The state key of `key` in `contract`'s storage: `0x01 | contract | key`.
pub fn storage_key(contract: &Address, key: &[u8]) -> Vec<u8> {
    tagged(CONTRACT_STORAGE, &[&contract.0, key])
}

/// The prefix of every state key of `contract`'s storage: `0x01 | contract`.
pub fn storage_prefix(contract: &Address) -> Vec<u8> {
    tagged(CONTRACT_STORAGE, &[&contract.0])
}

/// Splits a contract-storage state key into the contract and the key inside its storage;
/// `None` for a key of another namespace (or one too short to name a contract).
pub fn split_storage_key(state_key: &[u8]) -> Option<(Address, &[u8])> {
    match state_key.split_first() {
        Some((&CONTRACT_STORAGE, rest)) if rest.len() >= Address::LEN => {
            let (contract, key) = rest.split_at(Address::LEN);
            Some((Address::from_slice(contract)?, key))
        }
        _ => None,
    }
}

/// The state key of `contract`'s metadata: `0x02 | contract`.
pub fn contract_info_key(contract: &Address) -> Vec<u8> {
    tagged(CONTRACT_INFO, &[&contract.0])
}

/// The state key of a code blob: `0x03 | code hash`.
pub fn code_key(hash: &Hash) -> Vec<u8> {
    tagged(CODE, &[&hash.0])
}

/// The state key of `account`'s next nonce: `0x10 | account`.
pub fn nonce_key(account: &Address) -> Vec<u8> {
    tagged(ACCOUNT_NONCE, &[&account.0])
}

/// The state key of the consortium members added after genesis: `0x20 | "consortium/members"`.
pub fn consortium_members_key() -> Vec<u8> {
    tagged(SYSTEM, &[b"consortium/members"])
}

/// The smallest key greater than every key that starts with `prefix`, or `None` if there is none
/// (the prefix is empty or all `0xff`): the exclusive end of a prefix range.
#[inline]
pub fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last.wrapping_add(1));
            return Some(end);
        }
    }
    None
}

/// Domain tag of contract-address derivation ([`contract_address`]).
pub const CONTRACT_ADDRESS_DOMAIN: &[u8] = b"hanok/contract/v1";

/// The address of the contract `creator` instantiates with `label`: the first 20 bytes of
/// `sha256("hanok/contract/v1" | creator (20) | label (UTF-8))`. Predictable, so system contracts
/// can name each other before any of them exists.
#[cfg(feature = "sha2")]
pub fn contract_address(creator: &Address, label: &str) -> Address {
    let mut h = Sha256::new();
    h.update(CONTRACT_ADDRESS_DOMAIN);
    h.update(creator.0);
    h.update(label.as_bytes());
    let digest: [u8; 32] = h.finalize().into();
    let mut a = [0u8; 20];
    a.copy_from_slice(&digest[..20]);
    Address(a)
}

/// Appends a variable-length storage-key component: `u16 BE length | bytes`.
///
/// A component over 65,535 bytes saturates its length; contracts bound their ids far below
/// that, so a key built from one is simply never found.
#[inline]
pub fn push_var(out: &mut Vec<u8>, bytes: &[u8]) {
    let len = u16::try_from(bytes.len()).unwrap_or(u16::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(bytes);
}

/// Appends a `u64` component: 8 bytes big-endian, so keys sort numerically.
#[inline]
pub fn push_u64(out: &mut Vec<u8>, n: u64) {
    out.extend_from_slice(&n.to_be_bytes());
}

/// Appends a `u32` component: 4 bytes big-endian.
#[inline]
pub fn push_u32(out: &mut Vec<u8>, n: u32) {
    out.extend_from_slice(&n.to_be_bytes());
}

/// Appends an address component: its 20 bytes.
#[inline]
pub fn push_address(out: &mut Vec<u8>, a: &Address) {
    out.extend_from_slice(&a.0);
}

#[inline]
fn take<'a>(bytes: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
    if bytes.len() < n {
        return None;
    }
    let (head, tail) = bytes.split_at(n);
    *bytes = tail;
    Some(head)
}

/// Reads a [`push_var`] component from the front of `bytes`, advancing it.
#[inline]
pub fn take_var<'a>(bytes: &mut &'a [u8]) -> Option<&'a [u8]> {
    let len = u16::from_be_bytes(take(bytes, 2)?.try_into().ok()?);
    take(bytes, usize::from(len))
}

/// Reads a [`push_u64`] component from the front of `bytes`, advancing it.
#[inline]
pub fn take_u64(bytes: &mut &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(take(bytes, 8)?.try_into().ok()?))
}

/// Reads a [`push_u32`] component from the front of `bytes`, advancing it.
#[inline]
pub fn take_u32(bytes: &mut &[u8]) -> Option<u32> {
    Some(u32::from_be_bytes(take(bytes, 4)?.try_into().ok()?))
}

/// Reads a [`push_address`] component from the front of `bytes`, advancing it.
#[inline]
pub fn take_address(bytes: &mut &[u8]) -> Option<Address> {
    Address::from_slice(take(bytes, Address::LEN)?)
}

/// The storage key of an SDK `Item` named `namespace`, which is also the prefix of every key of
/// a `Map` under it: `u16 BE length | namespace`.
#[inline]
pub fn namespace(namespace: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(namespace.len().saturating_add(2));
    push_var(&mut out, namespace.as_bytes());
    out
}

/// A storage key of the guest SDK's `Map` (or `Item`, with no components), built component by
/// component exactly as the SDK encodes it.
///
/// ```
/// use hanok_abi::layout::MapKey;
/// // Map<(&str, u64), _> under "history": ("P-1", 3)
/// let key = MapKey::new("history").str("P-1").u64(3).into_bytes();
/// assert_eq!(key, b"\x00\x07history\x00\x03P-1\x00\x00\x00\x00\x00\x00\x00\x03");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapKey(Vec<u8>);

impl MapKey {
    /// The key of an `Item` named `namespace`, or the prefix of a `Map` under it.
    pub fn new(ns: &str) -> MapKey {
        MapKey(namespace(ns))
    }

    /// Appends a string component (`u16 BE len | bytes`).
    #[must_use]
    pub fn str(mut self, s: &str) -> MapKey {
        push_var(&mut self.0, s.as_bytes());
        self
    }

    /// Appends a `u64` component (8 bytes big-endian).
    #[must_use]
    pub fn u64(mut self, n: u64) -> MapKey {
        push_u64(&mut self.0, n);
        self
    }

    /// Appends a `u32` component (4 bytes big-endian).
    #[must_use]
    pub fn u32(mut self, n: u32) -> MapKey {
        push_u32(&mut self.0, n);
        self
    }

    /// Appends an address component (its 20 bytes).
    #[must_use]
    pub fn address(mut self, a: &Address) -> MapKey {
        push_address(&mut self.0, a);
        self
    }

    /// The storage key bytes, borrowed.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The storage key bytes.
    pub fn into_bytes(self) -> Vec<u8> {
        self.0
    }
}

/// Packs an entry point's result region as it returns it: `(ptr << 32) | len`, as an `i64`
/// (a wasm `i64` result). Pointers and lengths are wasm32 addresses, so each fits in 32 bits.
#[inline]
pub fn pack_ptr_len(ptr: u32, len: u32) -> i64 {
    (u64::from(ptr).wrapping_shl(32) | u64::from(len)).cast_signed()
}

/// The `(ptr, len)` an entry point's `i64` result names; the inverse of [`pack_ptr_len`].
#[inline]
pub fn unpack_ptr_len(packed: i64) -> (u32, u32) {
    let bits = packed.cast_unsigned();
    // Both halves are 32 bits wide, so the truncating casts lose nothing.
    ((bits.wrapping_shr(32)) as u32, bits as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_namespaced() {
        let a = Address([0xaa; 20]);
        let k = storage_key(&a, b"k");
        assert_eq!(k.first(), Some(&0x01));
        assert_eq!(k.len(), 22);
        assert!(k.starts_with(&storage_prefix(&a)));
        assert_eq!(split_storage_key(&k), Some((a, b"k".as_slice())));
        assert_eq!(split_storage_key(&contract_info_key(&a)), None);
        assert_eq!(contract_info_key(&a).first(), Some(&0x02));
        assert_eq!(code_key(&Hash([7; 32])).len(), 33);
        assert_eq!(nonce_key(&a)[..2], [0x10, 0xaa]);
    }

    #[test]
    fn prefix_end_handles_carry() {
        assert_eq!(prefix_end(&[1, 2]), Some(alloc::vec![1, 3]));
        assert_eq!(prefix_end(&[1, 0xff]), Some(alloc::vec![2]));
        assert_eq!(prefix_end(&[0xff]), None);
        assert_eq!(prefix_end(&[]), None);
    }

    #[test]
    fn ptr_len_round_trips() {
        for (p, l) in [(0, 0), (1, 2), (u32::MAX, 0), (0x8000_0000, u32::MAX)] {
            assert_eq!(unpack_ptr_len(pack_ptr_len(p, l)), (p, l));
        }
        assert_eq!(pack_ptr_len(0x10, 1), 0x10_0000_0001);
    }

    #[test]
    fn map_key_components_read_back() {
        let a = Address([3; 20]);
        let key = MapKey::new("m")
            .str("id")
            .u64(7)
            .u32(9)
            .address(&a)
            .into_bytes();
        let mut rest = key.as_slice();
        assert_eq!(take_var(&mut rest), Some(b"m".as_slice()));
        assert_eq!(take_var(&mut rest), Some(b"id".as_slice()));
        assert_eq!(take_u64(&mut rest), Some(7));
        assert_eq!(take_u32(&mut rest), Some(9));
        assert_eq!(take_address(&mut rest), Some(a));
        assert!(rest.is_empty());
        assert_eq!(take_u64(&mut rest), None);
    }

    #[cfg(feature = "sha2")]
    #[test]
    fn hash_hex_round_trips() {
        let h = Hash::sha256(b"abc");
        let hex = h.to_hex();
        assert_eq!(
            hex,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(alloc::format!("{h}"), hex);
        assert_eq!(Hash::from_hex(&hex), Some(h));
        assert_eq!(Hash::from_hex(&hex.to_uppercase()), Some(h));
        assert_eq!(Hash::from_hex("00"), None);
    }
}

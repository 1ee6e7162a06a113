//! Typed storage: [`Item`] (one value) and [`Map`] (keyed values with paged prefix ranges).
//!
//! # Key layout
//! Defined once, in [`hanok_abi::layout`] (the client SDK computes proof keys with the same
//! functions). Every key starts with its namespace as `u16 BE length | name`, so namespaces are
//! prefix-free.
//! A map key then appends each key component: fixed-width components raw (`u64`/`u32` big-endian
//! so they sort numerically, [`Address`] as its 20 bytes) and variable ones (`&str`, `String`)
//! as `u16 BE length | bytes`. Every component is thus self-delimiting, so a tuple prefix is a
//! byte prefix of the full key and no key of one map is a prefix of a key of another. Strings
//! sort by length first, then bytewise. Values are JSON.
//!
//! Namespaces must be unique within a contract (an `Item` and a `Map` must not share a name).

use crate::{from_json, host, to_json, ContractError};
use alloc::format;
use alloc::vec::Vec;
use core::marker::PhantomData;
use hanok_abi::{layout, Address};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// Rows fetched per `storage_range` host call: bounds the memory and gas of one host call.
pub const RANGE_PAGE: u32 = 64;

/// A storage key component.
pub trait Key {
    /// Appends this component's encoding.
    fn write_key(&self, out: &mut Vec<u8>);
}

/// A key component that can be read back from a stored key (needed to list a map).
pub trait KeyDecode: Sized {
    /// Reads this component from the front of `bytes`, advancing it.
    fn read_key(bytes: &mut &[u8]) -> Option<Self>;
}

// Components longer than 65535 bytes saturate their length (see `layout::push_var`); contracts
// bound their ids far below that.
impl Key for str {
    fn write_key(&self, out: &mut Vec<u8>) {
        layout::push_var(out, self.as_bytes());
    }
}

impl Key for alloc::string::String {
    fn write_key(&self, out: &mut Vec<u8>) {
        layout::push_var(out, self.as_bytes());
    }
}

impl KeyDecode for alloc::string::String {
    fn read_key(bytes: &mut &[u8]) -> Option<Self> {
        core::str::from_utf8(layout::take_var(bytes)?)
            .ok()
            .map(alloc::string::String::from)
    }
}

impl Key for u64 {
    fn write_key(&self, out: &mut Vec<u8>) {
        layout::push_u64(out, *self);
    }
}

impl KeyDecode for u64 {
    fn read_key(bytes: &mut &[u8]) -> Option<Self> {
        layout::take_u64(bytes)
    }
}

impl Key for u32 {
    fn write_key(&self, out: &mut Vec<u8>) {
        layout::push_u32(out, *self);
    }
}

impl KeyDecode for u32 {
    fn read_key(bytes: &mut &[u8]) -> Option<Self> {
        layout::take_u32(bytes)
    }
}

impl Key for Address {
    fn write_key(&self, out: &mut Vec<u8>) {
        layout::push_address(out, self);
    }
}

impl KeyDecode for Address {
    fn read_key(bytes: &mut &[u8]) -> Option<Self> {
        layout::take_address(bytes)
    }
}

impl<T: Key + ?Sized> Key for &T {
    fn write_key(&self, out: &mut Vec<u8>) {
        (**self).write_key(out);
    }
}

impl<A: Key, B: Key> Key for (A, B) {
    fn write_key(&self, out: &mut Vec<u8>) {
        self.0.write_key(out);
        self.1.write_key(out);
    }
}

impl<A: KeyDecode, B: KeyDecode> KeyDecode for (A, B) {
    fn read_key(bytes: &mut &[u8]) -> Option<Self> {
        Some((A::read_key(bytes)?, B::read_key(bytes)?))
    }
}

impl<A: Key, B: Key, C: Key> Key for (A, B, C) {
    fn write_key(&self, out: &mut Vec<u8>) {
        self.0.write_key(out);
        self.1.write_key(out);
        self.2.write_key(out);
    }
}

impl<A: KeyDecode, B: KeyDecode, C: KeyDecode> KeyDecode for (A, B, C) {
    fn read_key(bytes: &mut &[u8]) -> Option<Self> {
        Some((
            A::read_key(bytes)?,
            B::read_key(bytes)?,
            C::read_key(bytes)?,
        ))
    }
}

fn load_json<T: DeserializeOwned>(key: &[u8]) -> Result<Option<T>, ContractError> {
    match host::read(key) {
        Some(bytes) => from_json(&bytes).map(Some),
        None => Ok(None),
    }
}

/// One value stored under a name.
///
/// ```
/// use hanok_sdk::{mock, Address, Item};
/// const COUNT: Item<u64> = Item::new("count");
/// # mock::with_contract(Address([1; 20]), || {
/// assert_eq!(COUNT.may_load().unwrap(), None);
/// COUNT.save(&3).unwrap();
/// COUNT.update(|n| Ok(n.unwrap_or(0) + 1)).unwrap();
/// assert_eq!(COUNT.load().unwrap(), 4);
/// # });
/// ```
pub struct Item<T> {
    ns: &'static str,
    _t: PhantomData<fn() -> T>,
}

impl<T: Serialize + DeserializeOwned> Item<T> {
    /// An item stored under `ns`.
    pub const fn new(ns: &'static str) -> Self {
        Item {
            ns,
            _t: PhantomData,
        }
    }

    /// The value, if saved.
    ///
    /// # Errors
    /// When the stored JSON does not decode.
    pub fn may_load(&self) -> Result<Option<T>, ContractError> {
        load_json(&layout::namespace(self.ns))
    }

    /// The value.
    ///
    /// # Errors
    /// `"<ns> not found"` when absent, or a decoding error.
    pub fn load(&self) -> Result<T, ContractError> {
        self.may_load()?
            .ok_or_else(|| ContractError::new(format!("{} not found", self.ns)))
    }

    /// Saves the value.
    ///
    /// # Errors
    /// When the value does not encode as JSON.
    pub fn save(&self, value: &T) -> Result<(), ContractError> {
        host::write(&layout::namespace(self.ns), &to_json(value)?);
        Ok(())
    }

    /// Removes the value.
    pub fn remove(&self) {
        host::remove(&layout::namespace(self.ns));
    }

    /// Loads (maybe absent), transforms and saves; returns the saved value.
    ///
    /// # Errors
    /// The closure's error, or a coding error.
    pub fn update(
        &self,
        f: impl FnOnce(Option<T>) -> Result<T, ContractError>,
    ) -> Result<T, ContractError> {
        let value = f(self.may_load()?)?;
        self.save(&value)?;
        Ok(value)
    }
}

/// Values keyed by `K` under a namespace, listable in key order with paging.
///
/// ```
/// use hanok_sdk::{mock, Address, Map};
/// const NOTES: Map<(&str, u64), String> = Map::new("notes");
/// # mock::with_contract(Address([1; 20]), || {
/// NOTES.save(&("p1", 2), &"b".into()).unwrap();
/// NOTES.save(&("p1", 1), &"a".into()).unwrap();
/// NOTES.save(&("p2", 1), &"c".into()).unwrap();
/// let page: Vec<(u64, String)> = NOTES.prefix_range(&"p1", None::<&u64>, 10).unwrap();
/// assert_eq!(page, vec![(1, "a".to_string()), (2, "b".to_string())]);
/// let after: Vec<(u64, String)> = NOTES.prefix_range(&"p1", Some(&1u64), 10).unwrap();
/// assert_eq!(after.len(), 1);
/// # });
/// ```
pub struct Map<K, V> {
    ns: &'static str,
    _kv: PhantomData<fn() -> (K, V)>,
}

impl<K: Key, V: Serialize + DeserializeOwned> Map<K, V> {
    /// A map stored under `ns`.
    pub const fn new(ns: &'static str) -> Self {
        Map {
            ns,
            _kv: PhantomData,
        }
    }

    fn key(&self, k: &K) -> Vec<u8> {
        let mut out = layout::namespace(self.ns);
        k.write_key(&mut out);
        out
    }

    /// The value at `k`, if any.
    ///
    /// # Errors
    /// When the stored JSON does not decode.
    pub fn may_load(&self, k: &K) -> Result<Option<V>, ContractError> {
        load_json(&self.key(k))
    }

    /// Whether `k` has a value.
    pub fn has(&self, k: &K) -> bool {
        host::read(&self.key(k)).is_some()
    }

    /// The value at `k`.
    ///
    /// # Errors
    /// `"<ns> not found"` when absent, or a decoding error.
    pub fn load(&self, k: &K) -> Result<V, ContractError> {
        self.may_load(k)?
            .ok_or_else(|| ContractError::new(format!("{} not found", self.ns)))
    }

    /// Saves `v` at `k`.
    ///
    /// # Errors
    /// When the value does not encode as JSON.
    pub fn save(&self, k: &K, v: &V) -> Result<(), ContractError> {
        host::write(&self.key(k), &to_json(v)?);
        Ok(())
    }

    /// Removes the value at `k`.
    pub fn remove(&self, k: &K) {
        host::remove(&self.key(k));
    }

    /// Loads (maybe absent), transforms and saves; returns the saved value.
    ///
    /// # Errors
    /// The closure's error, or a coding error.
    pub fn update(
        &self,
        k: &K,
        f: impl FnOnce(Option<V>) -> Result<V, ContractError>,
    ) -> Result<V, ContractError> {
        let v = f(self.may_load(k)?)?;
        self.save(k, &v)?;
        Ok(v)
    }

    /// Up to `limit` entries whose key starts with `prefix` (one or more leading key
    /// components), in key order, strictly after `start_after` (the remaining components `S`).
    /// Reads from the host in pages of [`RANGE_PAGE`].
    ///
    /// # Errors
    /// When a stored key or value does not decode as `S`/`V`.
    pub fn prefix_range<P: Key, S: Key + KeyDecode>(
        &self,
        prefix: &P,
        start_after: Option<&S>,
        limit: u32,
    ) -> Result<Vec<(S, V)>, ContractError> {
        let mut base = layout::namespace(self.ns);
        prefix.write_key(&mut base);
        range_under(&base, start_after, limit)
    }

    /// Up to `limit` entries of the whole map in key order, strictly after `start_after`.
    ///
    /// # Errors
    /// When a stored key or value does not decode.
    pub fn range(&self, start_after: Option<&K>, limit: u32) -> Result<Vec<(K, V)>, ContractError>
    where
        K: KeyDecode,
    {
        range_under(&layout::namespace(self.ns), start_after, limit)
    }
}

fn range_under<S: Key + KeyDecode, V: DeserializeOwned>(
    base: &[u8],
    start_after: Option<&S>,
    limit: u32,
) -> Result<Vec<(S, V)>, ContractError> {
    let mut start = base.to_vec();
    if let Some(s) = start_after {
        s.write_key(&mut start);
        // The next key after `start` in byte order.
        start.push(0);
    }
    let end = layout::prefix_end(base);
    let mut out = Vec::new();
    let mut left = limit;
    while left > 0 {
        let asked = left.min(RANGE_PAGE);
        let page = host::range(&start, end.as_deref(), asked);
        let got = u32::try_from(page.len()).unwrap_or(u32::MAX);
        for (k, v) in page {
            let mut rest = k.get(base.len()..).unwrap_or_default();
            let key = S::read_key(&mut rest)
                .filter(|_| rest.is_empty())
                .ok_or_else(|| ContractError::new("stored key does not decode"))?;
            out.push((key, from_json(&v)?));
            start = k;
            start.push(0);
        }
        left = left.saturating_sub(got);
        if got < asked {
            break;
        }
    }
    Ok(out)
}

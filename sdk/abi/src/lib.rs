//! `hanok-abi`: the only types that cross the wasm boundary between the hanok VM (host) and a
//! contract (guest).
//!
//! Key items: [`Address`], [`Amount`], [`Env`], [`Event`], [`Hash`](struct@Hash), the result encoding of an
//! entry point ([`encode_result`] / [`decode_result`]), the storage range encoding, the names of
//! the host imports ([`imports`]) and required exports ([`exports`]), the state layout
//! ([`layout`]: state keys, SDK storage keys, contract addresses, the `(ptr << 32) | len` return
//! packing) and the low-S rule of signatures ([`secp256k1`]).
//!
//! Architecture Invariant: this crate is `no_std` + `alloc`, has no dependency of ours (only
//! serde and sha2), and knows nothing of real estate, wasmtime, sled or gRPC. Host, guest, chain
//! and clients agree on every byte through the functions here, so an encoding changes in exactly
//! one place.
//!
//! # The calling convention
//!
//! A contract is a wasm module that imports functions from module [`HOST_MODULE`] and exports
//! `memory` plus the entry points `instantiate`, `execute`, `query` and (optionally) `migrate`,
//! each of type `() -> i64`. An entry point reads its JSON message with `input` + `register_read`
//! and its [`Env`] with `env` + `register_read`, then returns `(ptr << 32) | len` of a region in
//! its own memory holding an encoded result: tag byte [`RESULT_OK`] followed by the response data,
//! or tag byte [`RESULT_ERR`] followed by a UTF-8 error message.
//!
//! Host functions that return bytes put them in the *register* (one per call frame) and return
//! their length; the guest then copies them out with `register_read(dst_ptr)`. This keeps the host
//! from ever calling back into the guest.
#![no_std]
#![deny(clippy::arithmetic_side_effects)]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use core::str::FromStr;

pub mod layout;

pub use layout::Hash;

/// The wasm import module every host function lives in.
pub const HOST_MODULE: &str = "hanok";

/// Names and signatures of the host functions a contract may import from [`HOST_MODULE`].
///
/// Pointers and lengths are `i32` (wasm32 addresses). A length of `-1` returned by a function
/// means "absent".
pub mod imports {
    /// `input() -> i32`: puts the call's message in the register; returns its length.
    pub const INPUT: &str = "input";
    /// `env() -> i32`: puts the encoded [`crate::Env`] in the register; returns its length.
    pub const ENV: &str = "env";
    /// `register_read(dst: i32)`: copies the register into guest memory at `dst`.
    pub const REGISTER_READ: &str = "register_read";
    /// `storage_read(key_ptr, key_len) -> i32`: value to the register, length or `-1` if absent.
    pub const STORAGE_READ: &str = "storage_read";
    /// `storage_write(key_ptr, key_len, val_ptr, val_len)`.
    pub const STORAGE_WRITE: &str = "storage_write";
    /// `storage_remove(key_ptr, key_len)`.
    pub const STORAGE_REMOVE: &str = "storage_remove";
    /// `storage_range(start_ptr, start_len, end_ptr, end_len, limit) -> i32`: the pairs with
    /// `start <= key < end` (no upper bound when `end_len == -1`), at most `limit`, in key order,
    /// encoded with [`crate::encode_pairs`], to the register; returns the length.
    pub const STORAGE_RANGE: &str = "storage_range";
    /// `emit_event(ptr, len)`: an [`crate::Event`] encoded with [`crate::Event::encode`].
    pub const EMIT_EVENT: &str = "emit_event";
    /// `call(addr_ptr, msg_ptr, msg_len) -> i32`: runs `execute` of the contract at the 20-byte
    /// address, atomically with the caller; the callee's encoded result (see
    /// [`crate::decode_result`]) goes to the register; returns its length. A callee error reverts
    /// the callee's writes only; the caller decides whether to fail too.
    pub const CALL: &str = "call";
    /// `query(addr_ptr, msg_ptr, msg_len) -> i32`: like `call` but runs the read-only `query`.
    pub const QUERY: &str = "query";
    /// `sha256(ptr, len, out_ptr)`: writes the 32-byte digest at `out_ptr`.
    pub const SHA256: &str = "sha256";
    /// `secp256k1_verify(hash_ptr, sig_ptr, pubkey_ptr, pubkey_len) -> i32`: 32-byte prehash,
    /// 64-byte compact low-S signature, SEC1 public key (33 or 65 bytes); `1` valid, `0` not.
    pub const SECP256K1_VERIFY: &str = "secp256k1_verify";
    /// `abort(msg_ptr, msg_len)`: stops the contract with a message (a contract panic).
    pub const ABORT: &str = "abort";

    /// Every import a contract may use, with its (params, results) in wasm value types,
    /// `'i'` for i32 and `'I'` for i64.
    pub const ALL: &[(&str, &str, &str)] = &[
        (INPUT, "", "i"),
        (ENV, "", "i"),
        (REGISTER_READ, "i", ""),
        (STORAGE_READ, "ii", "i"),
        (STORAGE_WRITE, "iiii", ""),
        (STORAGE_REMOVE, "ii", ""),
        (STORAGE_RANGE, "iiiii", "i"),
        (EMIT_EVENT, "ii", ""),
        (CALL, "iii", "i"),
        (QUERY, "iii", "i"),
        (SHA256, "iii", ""),
        (SECP256K1_VERIFY, "iiii", "i"),
        (ABORT, "ii", ""),
    ];
}

/// Names of the exports the VM looks for. Every entry point has type `() -> i64`.
pub mod exports {
    /// The contract's linear memory (exactly one).
    pub const MEMORY: &str = "memory";
    /// Runs once, when the contract is created.
    pub const INSTANTIATE: &str = "instantiate";
    /// A state-changing call.
    pub const EXECUTE: &str = "execute";
    /// A read-only call.
    pub const QUERY: &str = "query";
    /// Optional: runs when the authority moves the contract to new code.
    pub const MIGRATE: &str = "migrate";
    /// Entry points every contract must export.
    pub const REQUIRED: &[&str] = &[INSTANTIATE, EXECUTE, QUERY];
    /// Every entry point the VM knows.
    pub const ENTRY_POINTS: &[&str] = &[INSTANTIATE, EXECUTE, QUERY, MIGRATE];
}

/// Result tag: success, the response data follows.
pub const RESULT_OK: u8 = 0;
/// Result tag: contract error, a UTF-8 message follows.
pub const RESULT_ERR: u8 = 1;

/// Encodes an entry point's result as the guest returns it.
pub fn encode_result(result: Result<&[u8], &str>) -> Vec<u8> {
    let (tag, body) = match result {
        Ok(data) => (RESULT_OK, data),
        Err(msg) => (RESULT_ERR, msg.as_bytes()),
    };
    let mut out = Vec::with_capacity(body.len().saturating_add(1));
    out.push(tag);
    out.extend_from_slice(body);
    out
}

/// Decodes an entry point's result: `Ok(data)` or `Err(message)`.
///
/// # Errors
/// [`AbiError::BadResult`] when the bytes are empty, carry an unknown tag, or the error message is
/// not UTF-8.
pub fn decode_result(bytes: &[u8]) -> Result<Result<Vec<u8>, String>, AbiError> {
    match bytes.split_first() {
        Some((&RESULT_OK, data)) => Ok(Ok(data.to_vec())),
        Some((&RESULT_ERR, msg)) => core::str::from_utf8(msg)
            .map(|m| Err(String::from(m)))
            .map_err(|_| AbiError::BadResult),
        _ => Err(AbiError::BadResult),
    }
}

/// Errors decoding bytes that crossed the boundary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AbiError {
    /// An entry point result was empty, had an unknown tag, or a non-UTF-8 message.
    BadResult,
    /// An encoded [`Env`] was truncated or malformed.
    BadEnv,
    /// An encoded [`Event`] was truncated or malformed.
    BadEvent,
    /// An encoded list of key/value pairs was truncated.
    BadPairs,
    /// An address was not `0x` followed by 40 hex digits.
    BadAddress,
    /// An amount was not a decimal integer that fits in 128 bits.
    BadAmount,
}

impl fmt::Display for AbiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AbiError::BadResult => "malformed entry point result",
            AbiError::BadEnv => "malformed env",
            AbiError::BadEvent => "malformed event",
            AbiError::BadPairs => "malformed key/value pairs",
            AbiError::BadAddress => "address must be 0x followed by 40 hex digits",
            AbiError::BadAmount => "amount must be a decimal integer below 2^128",
        })
    }
}

#[cfg(feature = "std")]
impl std::error::Error for AbiError {}

/// The signature rule host and guest share: secp256k1 ECDSA signatures are accepted only in
/// low-S form (`s <= n/2`), since `(r, n - s)` is a second valid signature of the same message.
pub mod secp256k1 {
    /// `floor(n / 2)` for the order `n` of the secp256k1 group, big-endian: the largest `s` a
    /// low-S signature may carry.
    pub const HALF_ORDER: [u8; 32] = [
        0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0x5d, 0x57, 0x6e, 0x73, 0x57, 0xa4, 0x50, 0x1d, 0xdf, 0xe9, 0x2f, 0x46, 0x68, 0x1b,
        0x20, 0xa0,
    ];

    /// Whether the 64-byte compact signature `r | s` is in low-S form: `s <= n/2`. Anything that
    /// is not 64 bytes is not. This checks only the rule; a verifier still parses the signature
    /// (`0 < r, s < n`) and checks it against the key.
    pub fn is_low_s(sig: &[u8]) -> bool {
        // Big-endian byte strings of equal length compare as the numbers they encode.
        sig.len() == 64 && sig.get(32..).is_some_and(|s| s <= HALF_ORDER.as_slice())
    }
}

/// A 20-byte account or contract address, shown as `0x` + 40 lowercase hex digits.
///
/// An account's address is the first 20 bytes of sha256 of its compressed secp256k1 public key;
/// a contract's is derived from its creator and label ([`layout::contract_address`]).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Address(pub [u8; 20]);

impl Address {
    /// Length in bytes.
    pub const LEN: usize = 20;

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; 20] {
        &self.0
    }

    /// From a slice of exactly 20 bytes.
    pub fn from_slice(bytes: &[u8]) -> Option<Address> {
        <[u8; 20]>::try_from(bytes).ok().map(Address)
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = [0u8; 42];
        buf[0] = b'0';
        buf[1] = b'x';
        for (i, b) in self.0.iter().enumerate() {
            let at = i.wrapping_mul(2).wrapping_add(2);
            buf[at] = HEX[usize::from(b >> 4)];
            buf[at.wrapping_add(1)] = HEX[usize::from(b & 0x0f)];
        }
        // The buffer holds only ASCII hex digits, so this cannot fail.
        f.write_str(core::str::from_utf8(&buf).map_err(|_| fmt::Error)?)
    }
}

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c.wrapping_sub(b'0')),
        b'a'..=b'f' => Some(c.wrapping_sub(b'a').wrapping_add(10)),
        b'A'..=b'F' => Some(c.wrapping_sub(b'A').wrapping_add(10)),
        _ => None,
    }
}

impl FromStr for Address {
    type Err = AbiError;
    fn from_str(s: &str) -> Result<Self, AbiError> {
        let hex = s.strip_prefix("0x").ok_or(AbiError::BadAddress)?.as_bytes();
        if hex.len() != 40 {
            return Err(AbiError::BadAddress);
        }
        let mut out = [0u8; 20];
        for (o, pair) in out.iter_mut().zip(hex.chunks_exact(2)) {
            let hi = hex_val(pair[0]).ok_or(AbiError::BadAddress)?;
            let lo = hex_val(pair[1]).ok_or(AbiError::BadAddress)?;
            *o = (hi << 4) | lo;
        }
        Ok(Address(out))
    }
}

impl serde::Serialize for Address {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Deserialises a `T` from a string, borrowed or owned (so that both `serde_json::from_slice`
/// and `serde_json::from_value` work), with `T`'s `FromStr`.
struct ParseVisitor<T>(core::marker::PhantomData<T>, &'static str);

impl<T: FromStr<Err = AbiError>> serde::de::Visitor<'_> for ParseVisitor<T> {
    type Value = T;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.1)
    }
    fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<T, E> {
        s.parse().map_err(E::custom)
    }
}

impl<'de> serde::Deserialize<'de> for Address {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(ParseVisitor(
            core::marker::PhantomData,
            "an address string: 0x and 40 hex digits",
        ))
    }
}

/// An amount of a token in its smallest unit (1 KRW for the deposit token).
///
/// Serialised as a decimal string so that clients in languages without 128-bit integers
/// (JavaScript, Java's `long`) never lose precision. Arithmetic is checked only.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Debug)]
pub struct Amount(pub u128);

impl Amount {
    /// Zero.
    pub const ZERO: Amount = Amount(0);

    /// `self + other`, or `None` on overflow.
    pub fn checked_add(self, other: Amount) -> Option<Amount> {
        self.0.checked_add(other.0).map(Amount)
    }

    /// `self - other`, or `None` if it would go below zero.
    pub fn checked_sub(self, other: Amount) -> Option<Amount> {
        self.0.checked_sub(other.0).map(Amount)
    }

    /// Whether this is zero.
    pub fn is_zero(self) -> bool {
        self.0 == 0
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl FromStr for Amount {
    type Err = AbiError;
    fn from_str(s: &str) -> Result<Self, AbiError> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(AbiError::BadAmount);
        }
        s.parse::<u128>()
            .map(Amount)
            .map_err(|_| AbiError::BadAmount)
    }
}

impl serde::Serialize for Amount {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Amount {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(ParseVisitor(
            core::marker::PhantomData,
            "an amount as a decimal string",
        ))
    }
}

#[cfg(feature = "schema")]
mod schema {
    use super::{Address, Amount};
    use alloc::string::String;
    use schemars::gen::SchemaGenerator;
    use schemars::schema::{InstanceType, Schema, SchemaObject, StringValidation};
    use schemars::JsonSchema;

    fn string_schema(pattern: &str, description: &str) -> Schema {
        let mut obj = SchemaObject {
            instance_type: Some(InstanceType::String.into()),
            string: Some(Box::new(StringValidation {
                pattern: Some(String::from(pattern)),
                ..Default::default()
            })),
            ..Default::default()
        };
        obj.metadata().description = Some(String::from(description));
        Schema::Object(obj)
    }

    extern crate std;
    use std::boxed::Box;

    impl JsonSchema for Address {
        fn schema_name() -> String {
            String::from("Address")
        }
        fn json_schema(_: &mut SchemaGenerator) -> Schema {
            string_schema(
                "^0x[0-9a-fA-F]{40}$",
                "A 20-byte hanok address as 0x + 40 hex digits.",
            )
        }
    }

    impl JsonSchema for Amount {
        fn schema_name() -> String {
            String::from("Amount")
        }
        fn json_schema(_: &mut SchemaGenerator) -> Schema {
            string_schema(
                "^[0-9]+$",
                "An amount in the token's smallest unit, as a decimal string.",
            )
        }
    }
}

/// What a contract knows of the world during one call. Height and time come from the block being
/// executed, never from a clock.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Env {
    /// Height of the block this call executes in.
    pub height: u64,
    /// Block time, seconds since the Unix epoch, as set by the block proposer.
    pub time: u64,
    /// The chain id the transaction was signed for.
    pub chain_id: String,
    /// Who called: the transaction's signer, or the calling contract in a nested call.
    pub sender: Address,
    /// The signer of the transaction, unchanged through nested calls.
    pub origin: Address,
    /// The address of the contract being called.
    pub contract: Address,
}

impl Env {
    /// Encodes as `height u64 LE | time u64 LE | sender 20 | origin 20 | contract 20 | chain id`.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(76usize.saturating_add(self.chain_id.len()));
        out.extend_from_slice(&self.height.to_le_bytes());
        out.extend_from_slice(&self.time.to_le_bytes());
        out.extend_from_slice(&self.sender.0);
        out.extend_from_slice(&self.origin.0);
        out.extend_from_slice(&self.contract.0);
        out.extend_from_slice(self.chain_id.as_bytes());
        out
    }

    /// Decodes what [`Env::encode`] produced.
    ///
    /// # Errors
    /// [`AbiError::BadEnv`] when truncated or the chain id is not UTF-8.
    pub fn decode(bytes: &[u8]) -> Result<Env, AbiError> {
        let mut r = Reader(bytes);
        let height = r.u64().ok_or(AbiError::BadEnv)?;
        let time = r.u64().ok_or(AbiError::BadEnv)?;
        let sender = r.address().ok_or(AbiError::BadEnv)?;
        let origin = r.address().ok_or(AbiError::BadEnv)?;
        let contract = r.address().ok_or(AbiError::BadEnv)?;
        let chain_id = core::str::from_utf8(r.0).map_err(|_| AbiError::BadEnv)?;
        Ok(Env {
            height,
            time,
            chain_id: String::from(chain_id),
            sender,
            origin,
            contract,
        })
    }
}

/// An event a contract emits: a type and ordered key/value attributes. The VM adds the emitting
/// contract's address.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Event {
    /// Event type, e.g. `title_transferred`.
    #[serde(rename = "type")]
    pub ty: String,
    /// Attributes in the order the contract added them.
    pub attributes: Vec<(String, String)>,
}

impl Event {
    /// A new event with no attributes.
    pub fn new(ty: impl Into<String>) -> Event {
        Event {
            ty: ty.into(),
            attributes: Vec::new(),
        }
    }

    /// Adds an attribute (builder style).
    pub fn attr(mut self, key: impl Into<String>, value: impl Into<String>) -> Event {
        self.attributes.push((key.into(), value.into()));
        self
    }

    /// Encodes as `u32 LE len | type` then, per attribute, `u32 len | key | u32 len | value`.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        put_bytes(&mut out, self.ty.as_bytes());
        for (k, v) in &self.attributes {
            put_bytes(&mut out, k.as_bytes());
            put_bytes(&mut out, v.as_bytes());
        }
        out
    }

    /// Decodes what [`Event::encode`] produced.
    ///
    /// # Errors
    /// [`AbiError::BadEvent`] when truncated, with a dangling key, or not UTF-8.
    pub fn decode(bytes: &[u8]) -> Result<Event, AbiError> {
        let mut r = Reader(bytes);
        let utf8 = |b: &[u8]| {
            core::str::from_utf8(b)
                .map(String::from)
                .map_err(|_| AbiError::BadEvent)
        };
        let ty = utf8(r.bytes().ok_or(AbiError::BadEvent)?)?;
        let mut attributes = Vec::new();
        while !r.0.is_empty() {
            let k = utf8(r.bytes().ok_or(AbiError::BadEvent)?)?;
            let v = utf8(r.bytes().ok_or(AbiError::BadEvent)?)?;
            attributes.push((k, v));
        }
        Ok(Event { ty, attributes })
    }
}

/// Decoded key/value pairs, in order.
pub type Pairs = Vec<(Vec<u8>, Vec<u8>)>;

/// Encodes key/value pairs as repeated `u32 LE len | key | u32 LE len | value`.
pub fn encode_pairs<K: AsRef<[u8]>, V: AsRef<[u8]>>(pairs: &[(K, V)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (k, v) in pairs {
        put_bytes(&mut out, k.as_ref());
        put_bytes(&mut out, v.as_ref());
    }
    out
}

/// Decodes what [`encode_pairs`] produced.
///
/// # Errors
/// [`AbiError::BadPairs`] when truncated.
pub fn decode_pairs(bytes: &[u8]) -> Result<Pairs, AbiError> {
    let mut r = Reader(bytes);
    let mut out = Vec::new();
    while !r.0.is_empty() {
        let k = r.bytes().ok_or(AbiError::BadPairs)?.to_vec();
        let v = r.bytes().ok_or(AbiError::BadPairs)?.to_vec();
        out.push((k, v));
    }
    Ok(out)
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    // Lengths above u32::MAX cannot occur: wasm32 memory is at most 4 GiB and the VM caps far
    // below that.
    let len = u32::try_from(b.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(b);
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Some(head)
    }
    fn u64(&mut self) -> Option<u64> {
        self.take(8)
            .and_then(|b| b.try_into().ok())
            .map(u64::from_le_bytes)
    }
    fn address(&mut self) -> Option<Address> {
        self.take(20).and_then(Address::from_slice)
    }
    fn bytes(&mut self) -> Option<&'a [u8]> {
        let len = self
            .take(4)
            .and_then(|b| b.try_into().ok())
            .map(u32::from_le_bytes)?;
        self.take(usize::try_from(len).ok()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn low_s_is_at_most_half_the_order() {
        let with_s = |s: [u8; 32]| {
            let mut sig = [1u8; 64];
            sig[32..].copy_from_slice(&s);
            sig
        };
        let half = secp256k1::HALF_ORDER;
        assert!(secp256k1::is_low_s(&with_s(half)));
        let mut above = half;
        above[31] = above[31].wrapping_add(1);
        assert!(!secp256k1::is_low_s(&with_s(above)));
        assert!(secp256k1::is_low_s(&with_s([0; 32])));
        assert!(!secp256k1::is_low_s(&with_s([0xff; 32])));
        assert!(!secp256k1::is_low_s(&[0; 63]));
    }
    use alloc::string::ToString;
    use alloc::vec;

    #[test]
    fn address_round_trips_through_text_and_json() {
        let a = Address([0xab; 20]);
        let s = a.to_string();
        assert_eq!(s, "0xabababababababababababababababababababab");
        assert_eq!(s.parse::<Address>(), Ok(a));
        let json = serde_json::to_string(&a).unwrap_or_default();
        assert_eq!(serde_json::from_str::<Address>(&json).ok(), Some(a));
        assert_eq!("0xabc".parse::<Address>(), Err(AbiError::BadAddress));
        assert_eq!(
            "ab".repeat(20).parse::<Address>(),
            Err(AbiError::BadAddress)
        );
    }

    #[test]
    fn amount_is_a_decimal_string_and_rejects_signs_and_overflow() {
        let json = serde_json::to_string(&Amount(900_000_000)).unwrap_or_default();
        assert_eq!(json, "\"900000000\"");
        assert_eq!("-1".parse::<Amount>(), Err(AbiError::BadAmount));
        assert_eq!("+1".parse::<Amount>(), Err(AbiError::BadAmount));
        assert_eq!(
            "340282366920938463463374607431768211456".parse::<Amount>(),
            Err(AbiError::BadAmount)
        );
        assert_eq!(Amount(1).checked_sub(Amount(2)), None);
    }

    #[test]
    fn owned_strings_deserialize_too() {
        // `serde_json::Value` hands out owned strings, and escaped JSON strings cannot be
        // borrowed: both must work, as they do for a client that reads answers as values.
        let v = serde_json::Value::String("900000000".to_string());
        assert_eq!(
            serde_json::from_value::<Amount>(v).ok(),
            Some(Amount(900_000_000))
        );
        let v = serde_json::Value::String(Address([0xcd; 20]).to_string());
        assert_eq!(
            serde_json::from_value::<Address>(v).ok(),
            Some(Address([0xcd; 20]))
        );
        assert_eq!(
            serde_json::from_str::<Amount>("\"\\u0031\"").ok(),
            Some(Amount(1))
        );
        assert!(
            serde_json::from_str::<Amount>("12").is_err(),
            "a number is not an amount"
        );
    }

    #[test]
    fn env_event_pairs_and_results_round_trip() {
        let env = Env {
            height: 7,
            time: 1_700_000_000,
            chain_id: "hanok-dev".to_string(),
            sender: Address([1; 20]),
            origin: Address([2; 20]),
            contract: Address([3; 20]),
        };
        assert_eq!(Env::decode(&env.encode()), Ok(env.clone()));
        assert_eq!(Env::decode(&env.encode()[..50]), Err(AbiError::BadEnv));

        let ev = Event::new("lien_recorded")
            .attr("parcel", "P-1")
            .attr("rank", "1");
        assert_eq!(Event::decode(&ev.encode()), Ok(ev));

        let pairs = vec![(b"a".to_vec(), b"1".to_vec()), (b"bb".to_vec(), Vec::new())];
        assert_eq!(decode_pairs(&encode_pairs(&pairs)), Ok(pairs));
        assert_eq!(decode_pairs(&[1, 0, 0]), Err(AbiError::BadPairs));

        assert_eq!(
            decode_result(&encode_result(Ok(b"{}"))),
            Ok(Ok(b"{}".to_vec()))
        );
        assert_eq!(
            decode_result(&encode_result(Err("no"))),
            Ok(Err("no".to_string()))
        );
        assert_eq!(decode_result(&[9]), Err(AbiError::BadResult));
        assert_eq!(decode_result(&[]), Err(AbiError::BadResult));
    }
}

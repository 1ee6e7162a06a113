//! `hanok-proto`: the `hanok.v1` protobuf messages and gRPC services, generated at build time.
//!
//! Key items: [`v1::TxBody`], [`v1::SignedTx`], [`v1::Block`], [`v1::Receipt`], and the services
//! `Ledger`, `Contracts`, `Proofs` and `Raft` (consensus between nodes) ([`v1::ledger_server`], [`v1::ledger_client`], ...).
//! [`FILE_DESCRIPTOR_SET`] is the encoded descriptor set for gRPC server reflection.
//!
//! The `.proto` files under `proto/hanok/v1/` are the contract with clients in every language
//! (a bank's Java or Python client compiles the same files); this crate only compiles them,
//! with `protox`, so no system `protoc` is needed.
//!
//! Architecture Invariant: this crate is generated code plus a handful of constants. It holds no
//! logic (no signing, no checks, no node behaviour) and depends on nothing of ours; the rules
//! that give these bytes meaning live in `hanok-types` and `hanok-chain`.
//!
//! Architecture Invariant: field numbers are forever. A field may be added or reserved, never
//! renumbered or retyped, because signed transaction bytes must decode the same way on every
//! node and every future version.

/// The `hanok.v1` package: messages, and with the `grpc` feature clients (`*_client`) and
/// servers (`*_server`).
pub mod v1 {
    #![allow(
        clippy::all,
        clippy::pedantic,
        missing_docs,
        reason = "generated code from tonic-prost-build"
    )]
    include!(concat!(env!("OUT_DIR"), "/hanok.v1.rs"));
}

/// The encoded `FileDescriptorSet` of every `hanok.v1` file, for `tonic-reflection`.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/hanok_v1_descriptor.bin"));

/// Length of an address field in bytes.
pub const ADDRESS_LEN: usize = 20;
/// Length of a compressed secp256k1 public key in bytes.
pub const PUBKEY_LEN: usize = 33;
/// Length of a compact `r || s` signature in bytes.
pub const SIGNATURE_LEN: usize = 64;
/// Length of a hash (sha256) in bytes.
pub const HASH_LEN: usize = 32;

#[cfg(test)]
mod tests {
    use super::v1::{call, Call, Execute, SignedTx, TxBody};
    use prost::Message;

    #[test]
    fn signed_tx_round_trips_through_its_encoding() -> Result<(), prost::DecodeError> {
        let body = TxBody {
            chain_id: "hanok-test".into(),
            sender: vec![7; 20],
            sender_pubkey: vec![2; 33],
            nonce: 3,
            expiry_height: 100,
            gas_limit: 1_000_000,
            calls: vec![Call {
                kind: Some(call::Kind::Execute(Execute {
                    contract: vec![9; 20],
                    msg: br#"{"increment":{}}"#.to_vec(),
                })),
            }],
            memo: String::new(),
        };
        let tx = SignedTx {
            body: body.encode_to_vec(),
            signature: vec![1; 64],
        };
        let bytes = tx.encode_to_vec();
        let back = SignedTx::decode(bytes.as_slice())?;
        assert_eq!(back, tx);
        assert_eq!(TxBody::decode(back.body.as_slice())?, body);
        Ok(())
    }

    #[test]
    fn descriptor_set_is_embedded() {
        assert!(super::FILE_DESCRIPTOR_SET.len() > 100);
    }
}

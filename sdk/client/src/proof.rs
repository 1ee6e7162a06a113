//! Offline proof checks: state keys of contract storage, [`verify_state`], [`verify_title`] and
//! the portable [`TitleProof`].
//!
//! Keys come from the one definition of the layout, [`hanok_types::layout`] (that is,
//! `hanok_abi::layout`; see `docs/storage.md`): a state key is `0x01 | contract address (20) |
//! storage key`; a guest SDK `Map` storage key is `u16 BE len | namespace` followed by its
//! components (strings as `u16 BE len | bytes`, `u64` as 8 bytes BE, addresses as 20 bytes).
//! The registry keeps parcels in `Map<&str, Parcel>` under [`PARCELS_NAMESPACE`].

use crate::error::{ClientError, Result};
use hanok_proof::Proof;
use hanok_proto::v1;
use hanok_types::{layout, Address, Hash, PublicKey};
use prost::Message;
use serde::{Deserialize, Serialize};

/// A storage key of the guest SDK's `Map` (or `Item`), built component by component
/// ([`layout::MapKey`]).
pub use hanok_types::layout::MapKey;
/// The namespace byte of contract storage in the state ([`layout::CONTRACT_STORAGE`]).
pub use hanok_types::layout::CONTRACT_STORAGE;

/// The registry's namespace of parcels (`Map<&str, Parcel>`), defined with its interface.
pub use hanok_messages::registry::PARCELS_NAMESPACE;
/// The `format` tag of a serialised [`TitleProof`].
pub const TITLE_PROOF_FORMAT: &str = "hanok.title-proof.v1";

/// The state key of `key` in `contract`'s storage: `0x01 | contract | key`
/// ([`layout::storage_key`]).
pub fn contract_state_key(contract: &Address, key: &[u8]) -> Vec<u8> {
    layout::storage_key(contract, key)
}

/// The registry's storage key of parcel `parcel_id`.
pub use hanok_messages::registry::parcel_key as parcel_storage_key;

/// The state key of parcel `parcel_id` in the registry at `registry`.
pub fn parcel_state_key(registry: &Address, parcel_id: &str) -> Vec<u8> {
    contract_state_key(registry, &parcel_storage_key(parcel_id))
}

fn root_of(root: &[u8]) -> Result<Hash> {
    Hash::from_slice(root).ok_or_else(|| {
        ClientError::ProofInvalid(format!("state root is {} bytes, not 32", root.len()))
    })
}

/// Checks that under the trusted state `root`, `state_key` holds `value` (`None`: is absent).
///
/// # Errors
/// [`ClientError::ProofInvalid`] saying which check failed (also for a root that is not 32
/// bytes or proof bytes that do not decode).
pub fn verify_state(
    root: &[u8],
    state_key: &[u8],
    value: Option<&[u8]>,
    proof: &[u8],
) -> Result<()> {
    let root = root_of(root)?;
    let proof = Proof::from_bytes(proof)?;
    proof.verify(&root, state_key, value)?;
    Ok(())
}

/// Checks that under the trusted state `root` (a header's `state_root`), parcel `parcel_id` of
/// the registry at `registry` is stored as exactly `parcel_json` (`None`: not registered).
///
/// # Errors
/// As [`verify_state`].
pub fn verify_title(
    root: &[u8],
    registry: &Address,
    parcel_id: &str,
    parcel_json: Option<&[u8]>,
    proof: &[u8],
) -> Result<()> {
    verify_state(
        root,
        &parcel_state_key(registry, parcel_id),
        parcel_json,
        proof,
    )
}

/// A state value (or its absence) with a proof against a header, as the node served it.
#[derive(Debug, Clone, PartialEq)]
pub struct StateProof {
    /// The full state key.
    pub key: Vec<u8>,
    /// The value; `None` for an absence proof.
    pub value: Option<Vec<u8>>,
    /// The proof bytes (`hanok_proof::Proof::to_bytes`).
    pub proof: Vec<u8>,
    /// The header whose `state_root` the proof is against.
    pub header: v1::BlockHeader,
}

impl StateProof {
    /// Checks the proof against the header's state root (not the header itself).
    ///
    /// # Errors
    /// [`ClientError::ProofInvalid`].
    pub fn verify(&self) -> Result<()> {
        verify_state(
            &self.header.state_root,
            &self.key,
            self.value.as_deref(),
            &self.proof,
        )
    }

    /// sha256 of the header encoding: the block hash to compare with one you trust.
    pub fn header_hash(&self) -> Hash {
        Hash::sha256(&self.header.encode_to_vec())
    }
}

/// A parcel's title (or its absence) with everything needed to check it offline: the block
/// header, the proposer's signature over it, the stored parcel bytes and the proof.
///
/// Serialises to JSON (byte fields as hex) so a bank can archive it and check it later without
/// talking to any node:
///
/// ```no_run
/// # fn demo(json: &str, trusted_proposer: &hanok_types::PublicKey) -> hanok_client::Result<()> {
/// use hanok_client::TitleProof;
/// let proof = TitleProof::from_json(json)?;
/// let title = proof.verify_signed_by(trusted_proposer)?;
/// println!("at height {}: {:?}", title.height, title.parcel);
/// # Ok(()) }
/// ```
///
/// A proof shows the parcel is in the state committed by the header; it is only as good as your
/// trust in that header: check who signed it ([`TitleProof::verify_signed_by`]) or compare its
/// hash with one you trust ([`TitleProof::verify_against_header`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TitleProof {
    /// [`TITLE_PROOF_FORMAT`].
    pub format: String,
    /// The chain (copied from the header, for people).
    pub chain_id: String,
    /// The block height (copied from the header, for people).
    pub height: u64,
    /// sha256 of `header`, hex (for people; recomputed when checking).
    pub header_hash: String,
    /// The registry contract, `0x` + 40 hex digits.
    pub registry: String,
    /// The parcel id.
    pub parcel_id: String,
    /// The protobuf `hanok.v1.BlockHeader` encoding, hex.
    pub header: String,
    /// The proposer's 64-byte signature over sha256 of the header bytes, hex; empty if unknown.
    pub block_signature: String,
    /// The stored parcel JSON bytes, hex; `None` if the parcel is not registered.
    pub value: Option<String>,
    /// The sparse-Merkle proof, hex.
    pub proof: String,
}

/// What a checked [`TitleProof`] shows.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedTitle {
    /// The chain.
    pub chain_id: String,
    /// The block height the title is proven at.
    pub height: u64,
    /// The block time (Unix seconds).
    pub time: u64,
    /// The block hash (sha256 of the header encoding).
    pub header_hash: Hash,
    /// The state root the proof checks against.
    pub state_root: Hash,
    /// The proposer whose signature over the header checked, if the proof carries one.
    pub signed_by: Option<PublicKey>,
    /// The parcel as stored; `None` if it is not registered.
    pub parcel: Option<hanok_messages::registry::Parcel>,
}

fn unhex(field: &str, s: &str) -> Result<Vec<u8>> {
    hex::decode(s)
        .map_err(|e| ClientError::Decode(format!("title proof `{field}` is not hex: {e}")))
}

impl TitleProof {
    /// Bundles a header, its signature, the stored parcel bytes and the proof.
    pub fn new(
        registry: Address,
        parcel_id: &str,
        header: &v1::BlockHeader,
        block_signature: &[u8],
        value: Option<Vec<u8>>,
        proof: Vec<u8>,
    ) -> TitleProof {
        let header_bytes = header.encode_to_vec();
        TitleProof {
            format: TITLE_PROOF_FORMAT.to_string(),
            chain_id: header.chain_id.clone(),
            height: header.height,
            header_hash: Hash::sha256(&header_bytes).to_hex(),
            registry: registry.to_string(),
            parcel_id: parcel_id.to_string(),
            header: hex::encode(&header_bytes),
            block_signature: hex::encode(block_signature),
            value: value.map(hex::encode),
            proof: hex::encode(proof),
        }
    }

    /// Pretty JSON.
    ///
    /// # Errors
    /// [`ClientError::Decode`] if serialisation fails (it does not for this type).
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string_pretty(self).map_err(|e| ClientError::Decode(e.to_string()))
    }

    /// Reads a proof saved with [`TitleProof::to_json`].
    ///
    /// # Errors
    /// [`ClientError::Decode`] if it is not one.
    pub fn from_json(json: &str) -> Result<TitleProof> {
        serde_json::from_str(json)
            .map_err(|e| ClientError::Decode(format!("not a title proof: {e}")))
    }

    /// Checks everything that needs no outside trust: the header's fields and hash match the
    /// labels, the proof checks against the header's state root for this registry and parcel,
    /// and, if present, the signature is the header proposer's. Then compare
    /// [`VerifiedTitle::header_hash`] or [`VerifiedTitle::signed_by`] with what you trust.
    ///
    /// # Errors
    /// [`ClientError::ProofInvalid`] or [`ClientError::Decode`] naming what failed.
    pub fn verify(&self) -> Result<VerifiedTitle> {
        if self.format != TITLE_PROOF_FORMAT {
            return Err(ClientError::Decode(format!(
                "title proof format `{}`, expected `{TITLE_PROOF_FORMAT}`",
                self.format
            )));
        }
        let header_bytes = unhex("header", &self.header)?;
        let header = v1::BlockHeader::decode(header_bytes.as_slice())?;
        let header_hash = Hash::sha256(&header_bytes);
        if header.chain_id != self.chain_id || header.height != self.height {
            return Err(ClientError::ProofInvalid(
                "chain_id or height differ from the header's".into(),
            ));
        }
        if !self.header_hash.eq_ignore_ascii_case(&header_hash.to_hex()) {
            return Err(ClientError::ProofInvalid(
                "header_hash is not sha256 of the header".into(),
            ));
        }
        let registry: Address = self.registry.parse().map_err(|_| {
            ClientError::Decode(format!("registry `{}` is not an address", self.registry))
        })?;
        let value = self
            .value
            .as_deref()
            .map(|v| unhex("value", v))
            .transpose()?;
        let proof = unhex("proof", &self.proof)?;
        verify_title(
            &header.state_root,
            &registry,
            &self.parcel_id,
            value.as_deref(),
            &proof,
        )?;
        let state_root = Hash::from_slice(&header.state_root)
            .ok_or_else(|| ClientError::ProofInvalid("state root is not 32 bytes".into()))?;
        let signature = unhex("block_signature", &self.block_signature)?;
        let signed_by = if signature.is_empty() {
            None
        } else {
            let key = PublicKey::from_compressed(&header.proposer_pubkey).ok_or_else(|| {
                ClientError::ProofInvalid("header proposer_pubkey is not a secp256k1 key".into())
            })?;
            key.verify_prehash(&header_hash, &signature).map_err(|e| {
                ClientError::ProofInvalid(format!("block signature does not verify: {e:?}"))
            })?;
            Some(key)
        };
        let parcel = value
            .map(|v| {
                serde_json::from_slice(&v)
                    .map_err(|e| ClientError::Decode(format!("stored parcel does not decode: {e}")))
            })
            .transpose()?;
        Ok(VerifiedTitle {
            chain_id: header.chain_id,
            height: header.height,
            time: header.time,
            header_hash,
            state_root,
            signed_by,
            parcel,
        })
    }

    /// [`TitleProof::verify`], and the header must be signed by `proposer`.
    ///
    /// # Errors
    /// As [`TitleProof::verify`]; [`ClientError::ProofInvalid`] if unsigned or signed by another
    /// key.
    pub fn verify_signed_by(&self, proposer: &PublicKey) -> Result<VerifiedTitle> {
        let v = self.verify()?;
        if v.signed_by.as_ref() != Some(proposer) {
            return Err(ClientError::ProofInvalid(
                "the header is not signed by the trusted proposer".into(),
            ));
        }
        Ok(v)
    }

    /// [`TitleProof::verify`], and the header must be signed by one of `proposers` (a
    /// consortium's member node keys, from its genesis `proposers`).
    ///
    /// # Errors
    /// As [`TitleProof::verify`]; [`ClientError::ProofInvalid`] if unsigned or signed by a key
    /// not in `proposers`.
    pub fn verify_signed_by_any(&self, proposers: &[PublicKey]) -> Result<VerifiedTitle> {
        let v = self.verify()?;
        match &v.signed_by {
            Some(k) if proposers.contains(k) => Ok(v),
            Some(k) => Err(ClientError::ProofInvalid(format!(
                "the header is signed by {}, which is not a trusted proposer",
                k.did()
            ))),
            None => Err(ClientError::ProofInvalid("the header is not signed".into())),
        }
    }

    /// [`TitleProof::verify`], and the header hash must be `trusted`.
    ///
    /// # Errors
    /// As [`TitleProof::verify`]; [`ClientError::ProofInvalid`] if the hash differs.
    pub fn verify_against_header(&self, trusted: &Hash) -> Result<VerifiedTitle> {
        let v = self.verify()?;
        if &v.header_hash != trusted {
            return Err(ClientError::ProofInvalid(
                "the header is not the trusted one".into(),
            ));
        }
        Ok(v)
    }
}

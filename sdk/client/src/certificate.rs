//! Title certificates: a [`TitleProof`] bound to the chain it speaks for, checked offline
//! against nothing but the chain's genesis hash (`hanok status` shows it).
//!
//! A certificate carries the title proof (the parcel as stored, its sparse-Merkle proof, the
//! block header and the header's signature), the genesis hash of block 0 and the genesis
//! proposers (the node keys that may sign blocks). [`TitleCertificate::verify`] recomputes the
//! chain's identity from those two ([`hanok_types::chain_genesis_hash`]), requires it to be the
//! one you trust, and requires the header to be signed by one of those proposers:
//!
//! ```no_run
//! # fn demo(json: &str, genesis_hex: &str) -> hanok_client::Result<()> {
//! use hanok_client::{Hash, TitleCertificate};
//! let trusted = Hash::from_hex(genesis_hex).expect("64 hex digits");
//! let certificate = TitleCertificate::from_json(json)?;
//! let checked = certificate.verify(&trusted)?;
//! println!("as of block {} ({}): {:?}", checked.title.height, checked.title.time, checked.title.parcel);
//! # Ok(()) }
//! ```
//!
//! What it proves: that the block at that height commits to a state in which the parcel's
//! title is exactly this, vouched for by a quorum (a majority) of the node keys the chain's
//! genesis names — the block's proposer by its signature, the other members by their
//! attestations ([`Attestation`]: "the block I applied at this height has this header").
//! On a single node (one proposer) its one signature is the quorum, and the certificate is as
//! good as that node's honesty; in a consortium no single member can forge one. It does not
//! prove that no later block changed the title (compare the height and time with what you
//! need).

use crate::error::{ClientError, Result};
use crate::proof::{TitleProof, VerifiedTitle};
use hanok_types::{chain_genesis_hash, Hash, PublicKey};
use serde::{Deserialize, Serialize};

/// The `format` tag of a serialised [`TitleCertificate`].
pub const CERTIFICATE_FORMAT: &str = "hanok.title-certificate.v1";

/// Where the machine-readable part sits in a certificate's HTML page:
/// `<script type="application/json" id="hanok-certificate">…</script>`.
pub const HTML_SCRIPT_ID: &str = "hanok-certificate";

/// A title proof bound to the chain it speaks for (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TitleCertificate {
    /// [`CERTIFICATE_FORMAT`].
    pub format: String,
    /// The chain's identity, hex ([`hanok_types::chain_genesis_hash`] of the next two fields);
    /// for people, recomputed when checking.
    pub genesis_hash: String,
    /// The genesis hash of block 0 (its header's `prev_hash`), hex.
    pub genesis_block_hash: String,
    /// The genesis proposers, as `did:key`, in genesis order.
    pub proposers: Vec<String>,
    /// The title, its proof and the signed header.
    pub title: TitleProof,
    /// Other members' attestations of the same header ([`Attestation`]): with the block's own
    /// signature they make the quorum a consortium's certificate needs.
    #[serde(default)]
    pub attestations: Vec<Attestation>,
}

/// A node's signature over [`hanok_types::attestation_digest`] of a header hash: "the block I
/// applied at this height has this header".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attestation {
    /// The attested header's hash, hex.
    pub header_hash: String,
    /// The attesting node's key, `did:key`.
    pub node_key: String,
    /// Its 64-byte signature, hex.
    pub signature: String,
}

impl Attestation {
    /// The key of a valid attestation of `header_hash`.
    ///
    /// # Errors
    /// [`ClientError::ProofInvalid`] / [`ClientError::Decode`] naming what is wrong.
    pub fn check(&self, header_hash: &Hash) -> Result<PublicKey> {
        if !self.header_hash.eq_ignore_ascii_case(&header_hash.to_hex()) {
            return Err(ClientError::ProofInvalid(format!(
                "{} attests header {}, not this certificate's {header_hash}",
                self.node_key, self.header_hash
            )));
        }
        let key = hanok_types::parse_did_key(&self.node_key)
            .map_err(|e| ClientError::Decode(format!("attesting key `{}`: {e}", self.node_key)))?;
        let signature = hex::decode(&self.signature)
            .map_err(|e| ClientError::Decode(format!("attestation signature: {e}")))?;
        key.verify_prehash(&hanok_types::attestation_digest(header_hash), &signature)
            .map_err(|e| {
                ClientError::ProofInvalid(format!(
                    "the attestation of {} does not verify: {e:?}",
                    self.node_key
                ))
            })?;
        Ok(key)
    }
}

/// What a checked [`TitleCertificate`] shows.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedCertificate {
    /// The chain's identity the certificate was checked against.
    pub genesis_hash: Hash,
    /// The title, as of its block; `title.signed_by` is the proposer who signed the header.
    pub title: VerifiedTitle,
    /// The genesis proposers that vouch for the header: the block's signer and every valid
    /// attestation, each key once.
    pub signers: Vec<PublicKey>,
    /// How many genesis proposers there are, and how many make a quorum (a majority).
    pub proposers: usize,
    /// See [`Self::proposers`].
    pub quorum: usize,
}

impl TitleCertificate {
    /// Binds `title` to the chain whose block 0 has `genesis_block_hash` and whose genesis
    /// names `proposers`.
    pub fn new(
        title: TitleProof,
        genesis_block_hash: &Hash,
        proposers: &[PublicKey],
    ) -> TitleCertificate {
        TitleCertificate {
            format: CERTIFICATE_FORMAT.to_string(),
            genesis_hash: chain_genesis_hash(genesis_block_hash, proposers).to_hex(),
            genesis_block_hash: genesis_block_hash.to_hex(),
            proposers: proposers.iter().map(PublicKey::did).collect(),
            title,
            attestations: Vec::new(),
        }
    }

    /// Adds a node's attestation of this certificate's header, if it is valid and from a
    /// genesis proposer whose attestation it does not carry yet; returns whether it was added.
    /// (The block's proposer may attest too; [`Self::verify`] counts each key once.)
    ///
    /// # Errors
    /// [`ClientError::ProofInvalid`] / [`ClientError::Decode`] naming what is wrong with it.
    pub fn add_attestation(&mut self, attestation: Attestation) -> Result<bool> {
        let header = self.header_hash()?;
        let key = attestation.check(&header)?;
        let proposers = self.proposer_keys()?;
        if !proposers.contains(&key) {
            return Err(ClientError::ProofInvalid(format!(
                "{} is not a genesis proposer of this chain",
                key.did()
            )));
        }
        if self
            .attestations
            .iter()
            .any(|a| a.node_key == attestation.node_key)
        {
            return Ok(false);
        }
        self.attestations.push(attestation);
        Ok(true)
    }

    fn header_hash(&self) -> Result<Hash> {
        Hash::from_hex(&self.title.header_hash)
            .ok_or_else(|| ClientError::Decode("header_hash is not 64 hex digits".into()))
    }

    fn proposer_keys(&self) -> Result<Vec<PublicKey>> {
        self.proposers
            .iter()
            .map(|d| {
                hanok_types::parse_did_key(d).map_err(|e| {
                    ClientError::Decode(format!("proposer `{d}` is not a did:key: {e}"))
                })
            })
            .collect()
    }

    /// Pretty JSON.
    ///
    /// # Errors
    /// [`ClientError::Decode`] if serialisation fails (it does not for this type).
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string_pretty(self).map_err(|e| ClientError::Decode(e.to_string()))
    }

    /// Reads a certificate written by [`Self::to_json`].
    ///
    /// # Errors
    /// [`ClientError::Decode`] if it is not one.
    pub fn from_json(json: &str) -> Result<TitleCertificate> {
        serde_json::from_str(json)
            .map_err(|e| ClientError::Decode(format!("not a title certificate: {e}")))
    }

    /// Reads the certificate embedded in a certificate's HTML page (the
    /// [`HTML_SCRIPT_ID`] script element), or JSON as [`Self::from_json`].
    ///
    /// # Errors
    /// [`ClientError::Decode`] if neither holds a certificate.
    pub fn from_html_or_json(text: &str) -> Result<TitleCertificate> {
        let trimmed = text.trim_start();
        if trimmed.starts_with('{') {
            return Self::from_json(trimmed);
        }
        let open = format!("<script type=\"application/json\" id=\"{HTML_SCRIPT_ID}\">");
        let start = text.find(&open).map(|i| i + open.len()).ok_or_else(|| {
            ClientError::Decode(format!(
                "neither certificate JSON nor a page with the `{HTML_SCRIPT_ID}` script"
            ))
        })?;
        let end = text[start..]
            .find("</script>")
            .map(|i| start + i)
            .ok_or_else(|| ClientError::Decode("the certificate script is not closed".into()))?;
        // The page writes `<` as the JSON escape `\u003c` (so the JSON cannot close the script
        // early), which the JSON parser reads back as `<`.
        Self::from_json(&text[start..end])
    }

    /// sha256 of the certificate's compact JSON: what its QR code carries, to match a printed
    /// page with its file.
    ///
    /// # Errors
    /// [`ClientError::Decode`] if serialisation fails (it does not for this type).
    pub fn digest(&self) -> Result<Hash> {
        let json = serde_json::to_vec(self).map_err(|e| ClientError::Decode(e.to_string()))?;
        Ok(Hash::sha256(&json))
    }

    /// Checks the certificate against `trusted_genesis` (the chain's genesis hash, from
    /// `hanok status` on a node you trust, or from the consortium's published genesis):
    /// the proposers and block-0 hash it carries must give that hash, the header must be
    /// signed by one of those proposers, the title proof must check against the header
    /// ([`TitleProof::verify`]), and a **quorum** (a majority) of the genesis proposers must
    /// vouch for the header: its signer and the members whose attestations it carries. With
    /// one proposer (a single node) its signature is the quorum.
    ///
    /// # Errors
    /// [`ClientError::ProofInvalid`] or [`ClientError::Decode`] naming what failed.
    pub fn verify(&self, trusted_genesis: &Hash) -> Result<VerifiedCertificate> {
        let v = self.check_unattested(trusted_genesis)?;
        if v.signers.len() < v.quorum {
            return Err(ClientError::ProofInvalid(format!(
                "only {} of the chain's {} proposers vouch for the header; a quorum is {}",
                v.signers.len(),
                v.proposers,
                v.quorum
            )));
        }
        Ok(v)
    }

    /// [`Self::verify`] without requiring the quorum (what one node can build alone).
    ///
    /// # Errors
    /// As [`Self::verify`], but never for a missing quorum.
    pub fn check_unattested(&self, trusted_genesis: &Hash) -> Result<VerifiedCertificate> {
        if self.format != CERTIFICATE_FORMAT {
            return Err(ClientError::Decode(format!(
                "certificate format `{}`, expected `{CERTIFICATE_FORMAT}`",
                self.format
            )));
        }
        let block0 = Hash::from_hex(&self.genesis_block_hash)
            .ok_or_else(|| ClientError::Decode("genesis_block_hash is not 64 hex digits".into()))?;
        let proposers = self.proposer_keys()?;
        let computed = chain_genesis_hash(&block0, &proposers);
        if &computed != trusted_genesis {
            return Err(ClientError::ProofInvalid(format!(
                "the certificate is for the chain with genesis hash {computed}, not the trusted \
                 {trusted_genesis}"
            )));
        }
        if !self.genesis_hash.eq_ignore_ascii_case(&computed.to_hex()) {
            return Err(ClientError::ProofInvalid(
                "genesis_hash is not the hash of genesis_block_hash and proposers".into(),
            ));
        }
        let title = self.title.verify_signed_by_any(&proposers)?;
        let mut signers: Vec<PublicKey> = title.signed_by.iter().copied().collect();
        for a in &self.attestations {
            let key = a.check(&title.header_hash)?;
            if !proposers.contains(&key) {
                return Err(ClientError::ProofInvalid(format!(
                    "an attestation is by {}, not a genesis proposer",
                    key.did()
                )));
            }
            if !signers.contains(&key) {
                signers.push(key);
            }
        }
        Ok(VerifiedCertificate {
            genesis_hash: computed,
            title,
            signers,
            proposers: proposers.len(),
            quorum: proposers.len() / 2 + 1,
        })
    }
}

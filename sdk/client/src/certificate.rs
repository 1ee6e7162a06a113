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
//! What it proves: that the block at that height, signed by a node key the chain's genesis
//! names, commits to a state in which the parcel's title is exactly this. With one signature
//! it is as good as that one proposer's honesty; it does not prove that no later block changed
//! the title (compare the height and time with what you need).

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
}

/// What a checked [`TitleCertificate`] shows.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedCertificate {
    /// The chain's identity the certificate was checked against.
    pub genesis_hash: Hash,
    /// The title, as of its block; `title.signed_by` is the proposer who signed the header.
    pub title: VerifiedTitle,
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
        }
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
    /// signed by one of those proposers, and the title proof must check against the header
    /// ([`TitleProof::verify`]).
    ///
    /// # Errors
    /// [`ClientError::ProofInvalid`] or [`ClientError::Decode`] naming what failed.
    pub fn verify(&self, trusted_genesis: &Hash) -> Result<VerifiedCertificate> {
        if self.format != CERTIFICATE_FORMAT {
            return Err(ClientError::Decode(format!(
                "certificate format `{}`, expected `{CERTIFICATE_FORMAT}`",
                self.format
            )));
        }
        let block0 = Hash::from_hex(&self.genesis_block_hash)
            .ok_or_else(|| ClientError::Decode("genesis_block_hash is not 64 hex digits".into()))?;
        let proposers = self
            .proposers
            .iter()
            .map(|d| {
                hanok_types::parse_did_key(d).map_err(|e| {
                    ClientError::Decode(format!("proposer `{d}` is not a did:key: {e}"))
                })
            })
            .collect::<Result<Vec<_>>>()?;
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
        Ok(VerifiedCertificate {
            genesis_hash: computed,
            title,
        })
    }
}

//! `hanok-client`: the Rust client SDK of hanok — what an integrator (and the `hanok` CLI) uses
//! to sign transactions, talk to a node over gRPC, drive the system contracts and check titles
//! offline. A bank's Java or Python client does the same from the `.proto` files.
//!
//! Key types:
//! - [`Signer`]: a secp256k1 account key (from bytes, hex or a dev seed) with its address and
//!   `did:key`; signs sha256 of the exact body bytes, 64-byte compact, low-S.
//! - [`TxBuilder`] → [`SignedTx`]: chain id, nonce, expiry height, gas limit and calls
//!   (execute, instantiate, upload), encoded once and signed.
//! - [`Client`]: async tonic client of the Ledger, Contracts and Proofs services; `execute`
//!   fetches the nonce, builds, signs, submits and waits, turning a contract's refusal into
//!   [`ClientError::Contract`]; `submit_stream` sends a batch over one stream
//!   ([`SubmitSender`], [`SubmitReceiver`]: an answer per transaction, receipts in commit
//!   order).
//! - [`Registry`], [`Krw`], [`Deal`], [`Identity`]: typed clients of the system contracts; they
//!   send the contracts' messages and return their answers as the types of [`messages`]
//!   (`hanok-messages`, the one definition of the JSON in `docs/contracts.md`).
//! - [`proof`]: state keys ([`proof::MapKey`], [`proof::parcel_state_key`]),
//!   [`verify_state`], [`verify_title`] and the portable, JSON-serialisable [`TitleProof`].
//!
//! Signing and checking a proof need no node:
//!
//! ```
//! use hanok_client::{Signer, TxBuilder, SignedTx};
//! use hanok_types::{Address, CheckedTx, TxLimits};
//!
//! let bank = Signer::dev("bank-b");
//! let krw = Address([0x11; 20]);
//! let mint = hanok_client::messages::krw::ExecuteMsg::Mint {
//!     to: bank.address(),
//!     amount: hanok_client::Amount(900_000_000),
//! };
//! let tx = TxBuilder::new("hanok-dev-1")
//!     .nonce(0)
//!     .expiry_height(100)
//!     .execute(krw, &mint)?
//!     .sign(&bank)?;
//! // What every node runs on the bytes it receives:
//! let checked = CheckedTx::check(&tx.to_bytes(), "hanok-dev-1", &TxLimits::default()).unwrap();
//! assert_eq!(checked.sender(), bank.address());
//! assert_eq!(SignedTx::from_bytes(&tx.to_bytes())?.hash(), checked.hash());
//! # Ok::<(), hanok_client::ClientError>(())
//! ```
//!
//! Over the network (the acceptance story's step 9: fetch a title with a proof, check it):
//!
//! ```no_run
//! # async fn demo(registry: hanok_types::Address) -> hanok_client::Result<()> {
//! use hanok_client::{Client, Signer};
//! let client = Client::connect("http://127.0.0.1:7070").await?;
//! let official = Signer::dev("official-1");
//! match client.registry(registry).freeze(&official, "P-1", &"ab".repeat(32)).await {
//!     Ok(seizure_id) => println!("frozen, seizure {seizure_id}"),
//!     Err(e) if e.contract_message().is_some() => println!("refused: {e}"),
//!     Err(e) => return Err(e),
//! }
//! let proof = client.title_proof(registry, "P-1").await?;
//! std::fs::write("title.json", proof.to_json()?).ok();
//! let title = proof.verify()?; // offline; then trust the header via its hash or signer
//! println!("{:?} signed by {:?}", title.parcel, title.signed_by);
//! # Ok(()) }
//! ```
//!
//! Architecture Invariant: the client depends on proto, types and the contracts' messages, never
//! on the node or the VM.
//! The storage-layout rules it needs (`0x01 | contract | key`, the SDK's map keys) come from the
//! one definition, `hanok_abi::layout` (re-exported as `hanok_types::layout`), through
//! [`proof::contract_state_key`] and [`proof::MapKey`]. Proofs are checked
//! with `hanok-proof`'s `Proof::verify` — the same code the node's tree is built on, with only
//! `sha2` behind it.
//!
//! Architecture Invariant: the client enforces nothing. Roles, nonces and limits are checked on
//! chain; the client only builds well-formed bytes and reports the node's answers.
//!
//! Architecture Invariant: nothing read from the network is trusted to be well-formed: no
//! `unwrap` on node data; every malformed answer is a [`ClientError::Decode`].

pub mod certificate;
mod client;
mod contracts;
mod error;
pub mod proof;
mod signer;
mod stream;
mod tls;
mod tx;

pub use certificate::{Attestation, TitleCertificate, VerifiedCertificate, CERTIFICATE_FORMAT};
pub use client::{
    call_result, check_receipt, Account, Client, NodeStatus, SequenceSimulation, Simulation,
    DEFAULT_EXPIRY_BLOCKS, DEFAULT_WAIT,
};
pub use contracts::{
    format_krw, format_utc, Deal, Identity, Krw, NewParcel, OpenDeal, Registry, Tax,
};
pub use error::{ClientError, Result};
/// The system contracts' messages and answers, which the typed clients send and return.
pub use hanok_messages as messages;
pub use hanok_messages::deal::{Lender, Terms as SignedTerms};
pub use hanok_messages::identity::Role;
pub use hanok_messages::registry::{LandUse, Owner};
pub use hanok_messages::Amount;
/// A 32-byte hash (block hashes, the chain's genesis hash), shown and parsed as hex.
pub use hanok_types::Hash;
pub use proof::{verify_state, verify_title, StateProof, TitleProof, VerifiedTitle};
pub use signer::Signer;
pub use stream::{SubmitAnswer, SubmitReceiver, SubmitSender};
pub use tls::{channel, endpoint, Tls};
pub use tx::{SignedTx, TxBuilder, DEFAULT_GAS_LIMIT};

/// The generated `hanok.v1` messages (receipts, blocks, headers) this API hands out.
pub use hanok_proto::v1;

#[cfg(test)]
mod tests;

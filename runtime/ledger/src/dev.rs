//! The dev chain: fixed-seed keys for every actor of the acceptance story and a genesis with
//! the six system contracts deployed and every actor enrolled.

use crate::genesis::NodeGenesis;
use hanok_chain::{ChainConfig, Genesis, GenesisContract};
use hanok_messages::identity::Role;
use hanok_messages::{deal, escrow, identity, krw, registry, system, tax};
use hanok_proto::v1;
use hanok_types::{sign_body, Address, SecretKey};
use serde::Serialize;

/// The dev chain's id.
pub const DEV_CHAIN_ID: &str = "hanok-dev-1";

/// Time of block 0 (and of the bootstrap block 1): 2026-01-01T00:00:00Z. Fixed, so every dev
/// node computes the same genesis hash and the same first blocks.
pub const GENESIS_TIME: u64 = 1_767_225_600;

/// The gas limit of the bootstrap transaction.
const BOOTSTRAP_GAS: u64 = 1_000_000_000;

/// One dev account.
#[derive(Debug, Clone)]
pub struct DevAccount {
    /// Its name, e.g. `official-1`.
    pub name: &'static str,
    /// Roles it is enrolled with at genesis.
    pub roles: &'static [Role],
    /// Its secret key (derived from the fixed seed `hanok-dev/<name>`; never use on a real chain).
    pub key: SecretKey,
    /// Its address.
    pub address: Address,
    /// Its `did:key`.
    pub did: String,
    /// For a citizen, the person hash the authority enrols with the key
    /// ([`dev_person_hash`]); `None` for institutions.
    pub person_hash: Option<String>,
}

/// Every dev account, by name: `authority`, `official-1..3`, `bank-a`, `bank-b`, `broker`,
/// `seller`, `buyer`, `spouse` (the seller's co-owner in the demo), `tenant` (the flat's
/// registered tenant), `tax-official` (sets the acquisition-tax rates) and `city` (the
/// municipality, which receives the tax and the transaction reports).
#[derive(Debug, Clone)]
pub struct DevKeys {
    accounts: Vec<DevAccount>,
}

const ACTORS: &[(&str, &[Role])] = &[
    ("authority", &[Role::Authority]),
    ("official-1", &[Role::Official]),
    ("official-2", &[Role::Official]),
    ("official-3", &[Role::Official]),
    ("bank-a", &[Role::Bank]),
    ("bank-b", &[Role::Bank]),
    ("broker", &[Role::Broker]),
    ("seller", &[Role::Citizen]),
    ("buyer", &[Role::Citizen]),
    ("spouse", &[Role::Citizen]),
    ("tenant", &[Role::Citizen]),
    ("tax-official", &[Role::TaxOfficial]),
    ("city", &[Role::Municipality]),
];

/// The dev chain's stand-in for `sha256(salt ‖ resident number)`: the sha256 of
/// `hanok-dev-person/<name>`, as 64 lowercase hex. Citizens only; never a real person.
pub fn dev_person_hash(name: &str) -> String {
    let digest = hanok_types::Hash::sha256(format!("hanok-dev-person/{name}").as_bytes());
    hex::encode(digest.0)
}

impl DevKeys {
    /// Derives every dev key from its fixed seed.
    pub fn new() -> DevKeys {
        let accounts = ACTORS
            .iter()
            .map(|&(name, roles)| {
                let key = SecretKey::dev(name);
                let pk = key.public_key();
                DevAccount {
                    name,
                    roles,
                    person_hash: roles
                        .contains(&Role::Citizen)
                        .then(|| dev_person_hash(name)),
                    address: pk.address(),
                    did: pk.did(),
                    key,
                }
            })
            .collect();
        DevKeys { accounts }
    }

    /// Every account, authority first.
    pub fn all(&self) -> &[DevAccount] {
        &self.accounts
    }

    /// The account called `name`.
    pub fn get(&self, name: &str) -> Option<&DevAccount> {
        self.accounts.iter().find(|a| a.name == name)
    }

    /// The registry authority.
    pub fn authority(&self) -> &DevAccount {
        &self.accounts[0]
    }

    fn named(&self, name: &str) -> Address {
        self.get(name).map(|a| a.address).unwrap_or_default()
    }
}

impl Default for DevKeys {
    fn default() -> Self {
        DevKeys::new()
    }
}

pub use crate::genesis::roles_key;

/// The system contracts' addresses (`SystemContracts::of(authority)`), defined once with their
/// interfaces in `hanok-messages`.
pub use hanok_messages::system::SystemContracts;

fn contract(label: &str, wasm: &[u8], msg: &impl Serialize) -> GenesisContract {
    GenesisContract {
        label: label.to_string(),
        wasm: wasm.to_vec(),
        msg: json(msg),
    }
}

/// A message's JSON, in the form a genesis file gives it (through `serde_json::Value`, whose
/// objects sort their keys), so the dev genesis written as a file has the same hash. The system
/// contracts' messages are plain data (strings, numbers, addresses, no maps), which always
/// serialise.
fn json(msg: &impl Serialize) -> Vec<u8> {
    serde_json::to_value(msg)
        .expect("a system contract message serialises")
        .to_string()
        .into_bytes()
}

/// The dev genesis: the six system contracts wired as in `tests/src/lib.rs`, the registry's
/// policy at 2 of the 3 officials, admission by the identity contract's role map, and a
/// bootstrap block 1 in which the authority enrols every other dev account.
///
/// The bootstrap block exists because `hanok_chain::Genesis` can only upload and instantiate
/// contracts; enrolment is an `execute` of the identity contract. It is signed by the fixed
/// authority key with RFC 6979 nonces and timed at [`GENESIS_TIME`], so it is the same on every
/// dev node.
pub fn dev_genesis() -> NodeGenesis {
    let keys = DevKeys::new();
    let authority = keys.authority().key.clone();
    let auth = authority.address();
    let sys = SystemContracts::of(&auth);
    let officials = [
        keys.named("official-1"),
        keys.named("official-2"),
        keys.named("official-3"),
    ];
    let genesis = Genesis {
        chain_id: DEV_CHAIN_ID.to_string(),
        time: GENESIS_TIME,
        authority: authority.public_key(),
        contracts: vec![
            contract(
                system::IDENTITY,
                hanok_contracts::IDENTITY,
                &identity::InstantiateMsg { authority: auth },
            ),
            contract(
                system::REGISTRY,
                hanok_contracts::REGISTRY,
                &registry::InstantiateMsg {
                    identity: sys.identity,
                    deal: sys.deal,
                    policy: registry::Policy {
                        threshold: 2,
                        officials: officials.to_vec(),
                        max_deal_secs: registry::DEFAULT_MAX_DEAL_SECS,
                    },
                },
            ),
            contract(
                system::KRW,
                hanok_contracts::KRW,
                &krw::InstantiateMsg {
                    identity: sys.identity,
                },
            ),
            contract(
                system::ESCROW,
                hanok_contracts::ESCROW,
                &escrow::InstantiateMsg {
                    token: sys.krw,
                    deal: sys.deal,
                },
            ),
            contract(
                system::DEAL,
                hanok_contracts::DEAL,
                &deal::InstantiateMsg {
                    identity: sys.identity,
                    registry: sys.registry,
                    escrow: sys.escrow,
                    token: sys.krw,
                    tax: Some(sys.tax),
                },
            ),
            // No rate table at genesis: the tax-official sets it (the demo does), and deals
            // accepted before then owe no tax.
            contract(
                system::TAX,
                hanok_contracts::TAX,
                &tax::InstantiateMsg {
                    identity: sys.identity,
                    deal: sys.deal,
                    bands: Vec::new(),
                    relief: None,
                    municipality: None,
                },
            ),
        ],
    };
    let bootstrap = dev_enrolment(DEV_CHAIN_ID);
    let chain = ChainConfig {
        proposers: Some(vec![authority.public_key()]),
        ..ChainConfig::default()
    };
    NodeGenesis::gated_by(genesis, chain, sys.identity, authority, vec![bootstrap])
}

/// The transaction that enrols every dev account but the authority with its roles, signed by
/// the dev authority for chain `chain_id` (nonce 0, RFC 6979: the same bytes every time): the
/// dev genesis' bootstrap block, and a genesis file's with `enrol_dev_accounts`.
pub fn dev_enrolment(chain_id: &str) -> v1::SignedTx {
    let keys = DevKeys::new();
    let authority = keys.authority().key.clone();
    let auth = authority.address();
    let identity = SystemContracts::of(&auth).identity;
    let calls = keys
        .all()
        .iter()
        .filter(|a| a.address != auth)
        .map(|a| v1::Call {
            kind: Some(v1::call::Kind::Execute(v1::Execute {
                contract: identity.0.to_vec(),
                msg: json(&identity::ExecuteMsg::Enrol {
                    address: a.address,
                    roles: a.roles.to_vec(),
                    person_hash: a.person_hash.clone(),
                }),
            })),
        })
        .collect();
    let body = v1::TxBody {
        chain_id: chain_id.to_string(),
        sender: auth.0.to_vec(),
        sender_pubkey: authority.public_key().to_bytes().to_vec(),
        nonce: 0,
        expiry_height: u64::MAX,
        gas_limit: BOOTSTRAP_GAS,
        calls,
        memo: "dev genesis: enrol the dev accounts".into(),
    };
    sign_body(&authority, &body)
}

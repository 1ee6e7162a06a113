//! [`GenesisFile`]: a real (non-dev) genesis as a JSON file, and how it becomes a
//! [`NodeGenesis`].
//!
//! ```json
//! {
//!   "chain_id": "hanok-seoul-1",
//!   "time": 1767225600,
//!   "authority": "did:key:zQ3sh...",
//!   "proposers": ["did:key:zQ3sh..."],
//!   "admission": "identity",
//!   "limits": {"max_block_gas": 10000000000, "max_tx_gas": 1000000000,
//!              "min_tx_gas": 1000, "max_calls": 64},
//!   "contracts": [
//!     {"label": "identity", "code": "builtin:identity", "msg": {"authority": "$authority"}},
//!     {"label": "registry", "code": "builtin:registry",
//!      "msg": {"identity": "$identity", "deal": "$deal",
//!              "policy": {"threshold": 1, "officials": ["0x…"]}}},
//!     {"label": "mine", "code": "contracts/mine.wasm", "msg": {}}
//!   ]
//! }
//! ```
//!
//! - `authority`, `proposers[i]`: a `did:key` of a secp256k1 key, or the 33-byte compressed
//!   public key in hex (with or without `0x`).
//! - `contracts[i].code`: `builtin:<name>` for a system contract embedded in this binary
//!   (`identity`, `registry`, `krw`, `escrow`, `deal`), or a path to a `.wasm` file relative to
//!   the genesis file's directory. Contracts are deployed in order by the authority; the address
//!   of each is `contract_address(authority address, label)`, known before any is deployed.
//! - `contracts[i].msg`: the JSON instantiate message. Every JSON string that is exactly
//!   `$<label>` becomes that genesis contract's address (so a registry can name the deal contract
//!   deployed after it) and `$authority` the authority's address; `$$…` stands for a literal
//!   string starting with one `$`. Any other string starting with `$` is an error.
//! - `admission`: the label of the identity contract whose `roles` map decides who may send
//!   transactions (the genesis authority is enrolled by that contract's instantiation).
//! - `limits` (optional, each field optional, defaults of [`ChainConfig`]): chain rules that every
//!   node of the chain must share. They are *not* part of the genesis hash, so changing them is
//!   not detected on restart. (`max_tx_bytes` is in the node config.)
//!
//! There are no bootstrap transactions: after the first start the authority enrols people with
//! signed transactions (`hanok identity enrol`). Errors are [`LedgerError::Genesis`](crate::LedgerError::Genesis) naming the field.

use crate::dev;
use crate::error::{LedgerError, Result};
use crate::genesis::NodeGenesis;
use hanok_chain::{ChainConfig, Genesis, GenesisContract};
use hanok_types::{parse_did_key, Address, PublicKey, SecretKey};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

/// Prefix of a `code` naming a contract embedded in this binary.
pub const BUILTIN_PREFIX: &str = "builtin:";

/// The placeholder for the authority's address in a `msg`.
pub const AUTHORITY_PLACEHOLDER: &str = "$authority";

/// Longest contract label, bytes.
pub const MAX_LABEL_LEN: usize = 64;

/// A genesis file, as written (placeholders and paths not yet resolved). See the module docs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GenesisFile {
    /// Chain id every transaction must name (and the node config's `chain_id`).
    pub chain_id: String,
    /// Time of block 0, unix seconds.
    pub time: u64,
    /// The registry authority: `did:key` or compressed public key hex.
    pub authority: String,
    /// Keys allowed to sign blocks; a node's `proposer_key` must be one of them.
    pub proposers: Vec<String>,
    /// Label of the identity contract whose `roles` map gates senders.
    pub admission: String,
    /// Chain limits; absent fields keep the defaults.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limits: Option<GenesisLimits>,
    /// Contracts deployed at genesis, in order.
    pub contracts: Vec<GenesisFileContract>,
    /// For a trial chain on the dev keys (`hanok consortium init`): block 1 enrols the dev
    /// accounts, as on a dev node. Needs the dev authority (its key is public, so never on a
    /// real chain). In a consortium the first leader proposes that block.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub enrol_dev_accounts: bool,
}

/// One contract of a [`GenesisFile`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GenesisFileContract {
    /// Its label (`[A-Za-z0-9_-]`, at most [`MAX_LABEL_LEN`] bytes, not `authority`).
    pub label: String,
    /// `builtin:<name>` or a path to a `.wasm` file relative to the genesis file.
    pub code: String,
    /// The instantiate message, with `$label` placeholders.
    pub msg: Value,
}

/// Chain limits a genesis file may set; `None` keeps [`ChainConfig::default`]'s value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisLimits {
    /// Most gas a block's transactions may ask for, summed over their gas limits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_block_gas: Option<u64>,
    /// Largest gas limit of one transaction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tx_gas: Option<u64>,
    /// Smallest gas limit of one transaction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_tx_gas: Option<u64>,
    /// Most calls in one transaction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_calls: Option<usize>,
}

/// A genesis file resolved: block 0 and the chain rules, before a proposer key is chosen.
#[derive(Debug, Clone)]
pub struct ResolvedGenesis {
    /// Block 0.
    pub genesis: Genesis,
    /// Chain rules: the limits and the proposers (admission is set by
    /// [`NodeGenesis::gated_by`]).
    pub chain: ChainConfig,
    /// The `admission` contract, whose roles gate senders.
    pub identity: Address,
}

/// A field and what is wrong with it; becomes [`LedgerError::Genesis`](crate::LedgerError::Genesis) once the file is known.
struct Bad {
    field: String,
    reason: String,
}

fn bad(field: impl Into<String>, reason: impl Into<String>) -> Bad {
    Bad {
        field: field.into(),
        reason: reason.into(),
    }
}

impl Bad {
    fn at(self, path: &Path) -> LedgerError {
        LedgerError::Genesis {
            path: path.to_path_buf(),
            field: self.field,
            reason: self.reason,
        }
    }
}

/// The name of every built-in contract, for messages.
fn builtin_names() -> String {
    hanok_contracts::ALL
        .iter()
        .map(|(n, _)| format!("{BUILTIN_PREFIX}{n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Parses a `did:key` or a compressed public key in hex.
fn parse_pubkey(field: &str, s: &str) -> Result<PublicKey, Bad> {
    if s.starts_with("did:") {
        return parse_did_key(s).map_err(|e| bad(field, format!("`{s}`: {e}")));
    }
    let digits = s.strip_prefix("0x").unwrap_or(s);
    let bytes = hex::decode(digits).map_err(|_| {
        bad(
            field,
            format!("`{s}` is neither a did:key nor hex (a 33-byte compressed public key)"),
        )
    })?;
    if bytes.len() != 33 {
        return Err(bad(
            field,
            format!(
                "a compressed public key is 33 bytes (66 hex digits), got {} bytes",
                bytes.len()
            ),
        ));
    }
    PublicKey::from_compressed(&bytes)
        .ok_or_else(|| bad(field, format!("`{s}` is not a valid secp256k1 public key")))
}

/// Takes `name` out of `obj` and deserialises it, naming the field on error.
fn take<T: serde::de::DeserializeOwned>(
    obj: &mut Map<String, Value>,
    prefix: &str,
    name: &str,
) -> Result<T, Bad> {
    let field = format!("{prefix}{name}");
    let v = obj.remove(name).ok_or_else(|| bad(&field, "missing"))?;
    serde_json::from_value(v).map_err(|e| bad(&field, e.to_string()))
}

/// Refuses a field of `obj` not in `known` (checked first, so a misspelt field is reported as
/// such rather than as a missing one).
fn no_unknown(obj: &Map<String, Value>, prefix: &str, known: &[&str]) -> Result<(), Bad> {
    match obj.keys().find(|k| !known.contains(&k.as_str())) {
        Some(k) => Err(bad(
            format!("{prefix}{k}"),
            format!("unknown field (expected one of: {})", known.join(", ")),
        )),
        None => Ok(()),
    }
}

fn object(v: Value, field: &str) -> Result<Map<String, Value>, Bad> {
    match v {
        Value::Object(m) => Ok(m),
        other => Err(bad(
            field,
            format!("expected a JSON object, got {}", kind(&other)),
        )),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

const FIELDS: &[&str] = &[
    "chain_id",
    "time",
    "authority",
    "proposers",
    "admission",
    "limits",
    "contracts",
    "enrol_dev_accounts",
];
const CONTRACT_FIELDS: &[&str] = &["label", "code", "msg"];
const LIMIT_FIELDS: &[&str] = &["max_block_gas", "max_tx_gas", "min_tx_gas", "max_calls"];

fn parse_value(v: Value) -> Result<GenesisFile, Bad> {
    let mut obj = object(v, "(root)")?;
    no_unknown(&obj, "", FIELDS)?;
    let chain_id = take(&mut obj, "", "chain_id")?;
    let time = take(&mut obj, "", "time")?;
    let authority = take(&mut obj, "", "authority")?;
    let proposers = take(&mut obj, "", "proposers")?;
    let admission = take(&mut obj, "", "admission")?;
    let limits = match obj.remove("limits") {
        None | Some(Value::Null) => None,
        Some(v) => Some(parse_limits(v)?),
    };
    let enrol_dev_accounts = match obj.remove("enrol_dev_accounts") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => b,
        Some(_) => return Err(bad("enrol_dev_accounts", "expected true or false")),
    };
    let raw: Vec<Value> = take(&mut obj, "", "contracts")?;
    let mut contracts = Vec::with_capacity(raw.len());
    for (i, c) in raw.into_iter().enumerate() {
        let prefix = format!("contracts[{i}].");
        let mut c = object(c, &format!("contracts[{i}]"))?;
        no_unknown(&c, &prefix, CONTRACT_FIELDS)?;
        let label = take(&mut c, &prefix, "label")?;
        let code = take(&mut c, &prefix, "code")?;
        let msg = take(&mut c, &prefix, "msg")?;
        contracts.push(GenesisFileContract { label, code, msg });
    }
    Ok(GenesisFile {
        chain_id,
        time,
        authority,
        proposers,
        admission,
        limits,
        contracts,
        enrol_dev_accounts,
    })
}

fn parse_limits(v: Value) -> Result<GenesisLimits, Bad> {
    let mut obj = object(v, "limits")?;
    no_unknown(&obj, "limits.", LIMIT_FIELDS)?;
    let mut opt = |name: &str| -> Result<Option<u64>, Bad> {
        match obj.remove(name) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => serde_json::from_value(v)
                .map(Some)
                .map_err(|e| bad(format!("limits.{name}"), e.to_string())),
        }
    };
    let max_block_gas = opt("max_block_gas")?;
    let max_tx_gas = opt("max_tx_gas")?;
    let min_tx_gas = opt("min_tx_gas")?;
    let max_calls = opt("max_calls")?
        .map(|n| usize::try_from(n).map_err(|_| bad("limits.max_calls", "too large")))
        .transpose()?;
    Ok(GenesisLimits {
        max_block_gas,
        max_tx_gas,
        min_tx_gas,
        max_calls,
    })
}

fn check_label(field: &str, label: &str) -> Result<(), Bad> {
    if label.is_empty() || label.len() > MAX_LABEL_LEN {
        return Err(bad(field, format!("a label is 1 to {MAX_LABEL_LEN} bytes")));
    }
    if !label
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(bad(
            field,
            format!("`{label}`: a label may only hold ASCII letters, digits, `_` and `-`"),
        ));
    }
    if label == "authority" {
        return Err(bad(
            field,
            "`authority` is reserved (`$authority` names the authority's address)",
        ));
    }
    Ok(())
}

/// Replaces `$label` strings in `v` (see the module docs); `field` is `v`'s place in the file.
fn substitute(v: &mut Value, field: &str, names: &BTreeMap<String, Address>) -> Result<(), Bad> {
    match v {
        Value::String(s) => {
            if let Some(literal) = s.strip_prefix("$$") {
                *s = format!("${literal}");
            } else if let Some(name) = s.strip_prefix('$') {
                let address = names.get(name).ok_or_else(|| {
                    bad(
                        field,
                        format!(
                            "`{s}` names no genesis contract (known: {}); write `$${name}` for \
                             a literal string",
                            names
                                .keys()
                                .map(|k| format!("${k}"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    )
                })?;
                *s = address.to_string();
            }
            Ok(())
        }
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                substitute(item, &format!("{field}[{i}]"), names)?;
            }
            Ok(())
        }
        Value::Object(map) => {
            for (k, item) in map.iter_mut() {
                substitute(item, &format!("{field}.{k}"), names)?;
            }
            Ok(())
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => Ok(()),
    }
}

/// The inverse of [`substitute`]: addresses of genesis contracts (and the authority) become
/// placeholders, strings starting with `$` are escaped.
fn unsubstitute(v: &mut Value, by_address: &BTreeMap<String, String>) {
    match v {
        Value::String(s) => {
            if let Some(name) = by_address.get(s.as_str()) {
                *s = format!("${name}");
            } else if s.starts_with('$') {
                *s = format!("${s}");
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| unsubstitute(i, by_address)),
        Value::Object(map) => map.values_mut().for_each(|i| unsubstitute(i, by_address)),
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

impl GenesisFile {
    /// Parses a genesis file's text. Errors name `<genesis>` as the file.
    ///
    /// # Errors
    /// [`LedgerError::Genesis`](crate::LedgerError::Genesis) naming the field (or `(root)` for a JSON syntax error).
    pub fn parse(text: &str) -> Result<GenesisFile> {
        Self::parse_at(text, Path::new("<genesis>"))
    }

    fn parse_at(text: &str, path: &Path) -> Result<GenesisFile> {
        let v: Value = serde_json::from_str(text)
            .map_err(|e| bad("(root)", format!("not valid JSON: {e}")).at(path))?;
        parse_value(v).map_err(|b| b.at(path))
    }

    /// Reads and parses a genesis file.
    ///
    /// # Errors
    /// [`LedgerError::Genesis`](crate::LedgerError::Genesis) if it cannot be read or a field is malformed.
    pub fn load(path: impl AsRef<Path>) -> Result<GenesisFile> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path)
            .map_err(|e| bad("(file)", format!("cannot read: {e}")).at(path))?;
        Self::parse_at(&text, path)
    }

    /// The file as pretty-printed JSON, ending with a newline.
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).unwrap_or_default();
        s.push('\n');
        s
    }

    /// Resolves the file: keys parsed, code loaded (relative paths against `file`'s directory),
    /// placeholders replaced, limits checked. `file` is where the text came from; errors name it.
    ///
    /// # Errors
    /// [`LedgerError::Genesis`](crate::LedgerError::Genesis) naming the wrong field.
    pub fn resolve(&self, file: &Path) -> Result<ResolvedGenesis> {
        self.resolve_inner(file).map_err(|b| b.at(file))
    }

    fn resolve_inner(&self, file: &Path) -> Result<ResolvedGenesis, Bad> {
        if self.chain_id.trim().is_empty() || self.chain_id.trim() != self.chain_id {
            return Err(bad(
                "chain_id",
                "must be non-empty, without surrounding spaces",
            ));
        }
        let authority = parse_pubkey("authority", &self.authority)?;
        if self.proposers.is_empty() {
            return Err(bad(
                "proposers",
                "at least one proposer key is needed to sign blocks",
            ));
        }
        let mut proposers = Vec::with_capacity(self.proposers.len());
        for (i, p) in self.proposers.iter().enumerate() {
            let field = format!("proposers[{i}]");
            let key = parse_pubkey(&field, p)?;
            if proposers.contains(&key) {
                return Err(bad(field, "listed twice"));
            }
            proposers.push(key);
        }

        let auth = authority.address();
        let mut names = BTreeMap::new();
        names.insert("authority".to_string(), auth);
        let mut labels = HashSet::new();
        for (i, c) in self.contracts.iter().enumerate() {
            let field = format!("contracts[{i}].label");
            check_label(&field, &c.label)?;
            if !labels.insert(c.label.as_str()) {
                return Err(bad(field, format!("`{}` is used twice", c.label)));
            }
            names.insert(c.label.clone(), hanok_vm::contract_address(&auth, &c.label));
        }
        if !labels.contains(self.admission.as_str()) {
            return Err(bad(
                "admission",
                format!(
                    "`{}` is not the label of a genesis contract (labels: {})",
                    self.admission,
                    self.contracts
                        .iter()
                        .map(|c| c.label.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }

        let base = match file.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let mut contracts = Vec::with_capacity(self.contracts.len());
        for (i, c) in self.contracts.iter().enumerate() {
            let wasm = load_code(&format!("contracts[{i}].code"), &c.code, &base)?;
            let mut msg = c.msg.clone();
            substitute(&mut msg, &format!("contracts[{i}].msg"), &names)?;
            contracts.push(GenesisContract {
                label: c.label.clone(),
                wasm,
                msg: msg.to_string().into_bytes(),
            });
        }

        let mut chain = ChainConfig::default();
        if let Some(l) = &self.limits {
            if let Some(v) = l.max_block_gas {
                chain.rules.max_block_gas = v;
            }
            if let Some(v) = l.max_tx_gas {
                chain.tx_limits.max_gas = v;
            }
            if let Some(v) = l.min_tx_gas {
                chain.tx_limits.min_gas = v;
            }
            if let Some(v) = l.max_calls {
                chain.tx_limits.max_calls = v;
            }
        }
        let t = &chain.tx_limits;
        if t.max_calls == 0 {
            return Err(bad("limits.max_calls", "must be at least 1"));
        }
        if t.min_gas > t.max_gas {
            return Err(bad(
                "limits.min_tx_gas",
                format!("{} is above max_tx_gas {}", t.min_gas, t.max_gas),
            ));
        }
        if t.max_gas > chain.rules.max_block_gas {
            return Err(bad(
                "limits.max_tx_gas",
                format!(
                    "{} is above max_block_gas {}: such a transaction would never fit a block",
                    t.max_gas, chain.rules.max_block_gas
                ),
            ));
        }
        chain.proposers = Some(proposers);
        Ok(ResolvedGenesis {
            genesis: Genesis {
                chain_id: self.chain_id.clone(),
                time: self.time,
                authority,
                contracts,
            },
            chain,
            identity: hanok_vm::contract_address(&auth, &self.admission),
        })
    }

    /// Resolves the file (see [`Self::resolve`]) into what a node starts from, signing blocks
    /// with `proposer`, which must be one of `proposers`.
    ///
    /// # Errors
    /// As [`Self::resolve`]; [`LedgerError::Genesis`](crate::LedgerError::Genesis) on `proposers` if `proposer` is not listed.
    pub fn node_genesis(&self, file: &Path, proposer: SecretKey) -> Result<NodeGenesis> {
        self.node_genesis_inner(file, proposer, true)
    }

    /// [`Self::node_genesis`] for a consortium member added after genesis: its node key is not
    /// among the genesis `proposers` (the chain learns it from the authority's `add_member`
    /// transaction, see `hanok_chain::members`), and the file must name proposers at all.
    ///
    /// # Errors
    /// As [`Self::resolve`]; [`LedgerError::Genesis`](crate::LedgerError::Genesis) on
    /// `proposers` if the file names none, or names this key (a founder does not join).
    pub fn joining_node_genesis(&self, file: &Path, proposer: SecretKey) -> Result<NodeGenesis> {
        self.node_genesis_inner(file, proposer, false)
    }

    fn node_genesis_inner(
        &self,
        file: &Path,
        proposer: SecretKey,
        founder: bool,
    ) -> Result<NodeGenesis> {
        let resolved = self.resolve(file)?;
        let pk = proposer.public_key();
        let listed = resolved
            .chain
            .proposers
            .as_ref()
            .is_some_and(|ps| ps.contains(&pk));
        if !founder && (listed || resolved.chain.proposers.is_none()) {
            return Err(bad(
                "proposers",
                if listed {
                    format!(
                        "this node's key ({}) is a genesis proposer, a founding member: start it \
                         as one (without `join`)",
                        pk.did()
                    )
                } else {
                    "the file names no proposers, so it starts no consortium to join".to_string()
                },
            )
            .at(file));
        }
        if founder && !listed {
            return Err(bad(
                "proposers",
                format!(
                    "this node's proposer key ({}) is not listed: a node signs blocks only with \
                     one of the genesis proposers",
                    pk.did()
                ),
            )
            .at(file));
        }
        let bootstrap = if self.enrol_dev_accounts {
            let dev_authority = dev::DevKeys::new().authority().key.public_key();
            if resolved.genesis.authority != dev_authority {
                return Err(bad(
                    "enrol_dev_accounts",
                    format!(
                        "needs the dev authority ({}) as `authority`: the dev accounts are \
                         enrolled by a transaction signed with its (public) key",
                        dev_authority.did()
                    ),
                )
                .at(file));
            }
            vec![dev::dev_enrolment(&resolved.genesis.chain_id)]
        } else {
            Vec::new()
        };
        Ok(NodeGenesis::gated_by(
            resolved.genesis,
            resolved.chain,
            resolved.identity,
            proposer,
            bootstrap,
        ))
    }

    /// Writes `genesis` in this format, if every contract is built in and every message is
    /// JSON: addresses of genesis contracts and of the authority become placeholders.
    ///
    /// # Errors
    /// [`LedgerError::Genesis`](crate::LedgerError::Genesis) naming the contract that cannot be expressed.
    pub fn export(genesis: &Genesis, chain: &ChainConfig, admission: &str) -> Result<GenesisFile> {
        let here = Path::new("<export>");
        let auth = genesis.authority.address();
        let mut by_address = BTreeMap::new();
        by_address.insert(auth.to_string(), "authority".to_string());
        for c in &genesis.contracts {
            by_address.insert(
                genesis.contract_address(&c.label).to_string(),
                c.label.clone(),
            );
        }
        let mut contracts = Vec::with_capacity(genesis.contracts.len());
        for (i, c) in genesis.contracts.iter().enumerate() {
            let name = hanok_contracts::ALL
                .iter()
                .find(|(_, wasm)| *wasm == c.wasm.as_slice())
                .map(|(n, _)| *n)
                .ok_or_else(|| {
                    bad(format!("contracts[{i}].code"), "not a built-in contract").at(here)
                })?;
            let mut msg: Value = serde_json::from_slice(&c.msg).map_err(|e| {
                bad(format!("contracts[{i}].msg"), format!("not JSON: {e}")).at(here)
            })?;
            unsubstitute(&mut msg, &by_address);
            contracts.push(GenesisFileContract {
                label: c.label.clone(),
                code: format!("{BUILTIN_PREFIX}{name}"),
                msg,
            });
        }
        let proposers = chain
            .proposers
            .as_ref()
            .ok_or_else(|| bad("proposers", "the chain accepts any proposer").at(here))?
            .iter()
            .map(PublicKey::did)
            .collect();
        Ok(GenesisFile {
            chain_id: genesis.chain_id.clone(),
            time: genesis.time,
            authority: genesis.authority.did(),
            proposers,
            admission: admission.to_string(),
            limits: Some(GenesisLimits {
                max_block_gas: Some(chain.rules.max_block_gas),
                max_tx_gas: Some(chain.tx_limits.max_gas),
                min_tx_gas: Some(chain.tx_limits.min_gas),
                max_calls: Some(chain.tx_limits.max_calls),
            }),
            contracts,
            enrol_dev_accounts: false,
        })
    }

    /// The dev genesis ([`dev::dev_genesis`]) in this format: the same block 0 (same genesis
    /// hash), but without the bootstrap block that enrols the dev accounts, which a genesis file
    /// cannot express (the authority enrols them with transactions instead).
    pub fn dev() -> GenesisFile {
        let g = dev::dev_genesis();
        Self::export(&g.genesis, &g.chain, "identity")
            .expect("the dev genesis uses only built-in contracts and JSON messages")
    }
}

fn load_code(field: &str, code: &str, base: &Path) -> Result<Vec<u8>, Bad> {
    if let Some(name) = code.strip_prefix(BUILTIN_PREFIX) {
        return hanok_contracts::ALL
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, wasm)| wasm.to_vec())
            .ok_or_else(|| {
                bad(
                    field,
                    format!(
                        "unknown built-in contract `{code}` (built in: {})",
                        builtin_names()
                    ),
                )
            });
    }
    if code.is_empty() {
        return Err(bad(
            field,
            format!("empty (use a .wasm path or one of {})", builtin_names()),
        ));
    }
    let path = base.join(code);
    let wasm =
        std::fs::read(&path).map_err(|e| bad(field, format!("reading {}: {e}", path.display())))?;
    hanok_vm::validate_default(&wasm)
        .map_err(|e| bad(field, format!("{}: refused: {e}", path.display())))?;
    Ok(wasm)
}

/// Reads the genesis file at `path` and resolves it for a node signing with `proposer`.
///
/// # Errors
/// As [`GenesisFile::load`] and [`GenesisFile::node_genesis`].
pub fn load_node_genesis(path: &Path, proposer: SecretKey) -> Result<NodeGenesis> {
    GenesisFile::load(path)?.node_genesis(path, proposer)
}

/// [`GenesisFile::load`] then [`GenesisFile::joining_node_genesis`].
///
/// # Errors
/// As both.
pub fn load_joining_node_genesis(path: &Path, proposer: SecretKey) -> Result<NodeGenesis> {
    GenesisFile::load(path)?.joining_node_genesis(path, proposer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dev_file_round_trips_to_the_dev_genesis_hash() {
        // Only block 0 can be compared: the dev genesis' bootstrap block 1 (enrolments) has no
        // equivalent in a genesis file.
        let text = GenesisFile::dev().to_json();
        let file = GenesisFile::parse(&text).expect("parses");
        assert_eq!(file, GenesisFile::dev());
        let resolved = file.resolve(Path::new("genesis.json")).expect("resolves");
        let dev = dev::dev_genesis();
        assert_eq!(resolved.genesis, dev.genesis);
        assert_eq!(resolved.genesis.hash(), dev.genesis.hash());
        assert_eq!(resolved.chain.proposers, dev.chain.proposers);
        assert_eq!(resolved.chain.tx_limits, dev.chain.tx_limits);
        assert_eq!(
            resolved.chain.rules.max_block_gas,
            dev.chain.rules.max_block_gas
        );
        assert!(text.contains("\"$deal\""), "{text}");
        assert!(text.contains("\"$authority\""), "{text}");
    }

    #[test]
    fn dollar_strings_escape() {
        let mut names = BTreeMap::new();
        names.insert("a".to_string(), Address([1; 20]));
        let mut v = serde_json::json!({"x": ["$a", "$$a", "$$$b", "plain"]});
        assert!(substitute(&mut v, "msg", &names).is_ok());
        assert_eq!(
            v,
            serde_json::json!({"x": [Address([1; 20]).to_string(), "$a", "$$b", "plain"]})
        );
        let mut by = BTreeMap::new();
        by.insert(Address([1; 20]).to_string(), "a".to_string());
        unsubstitute(&mut v, &by);
        assert_eq!(v, serde_json::json!({"x": ["$a", "$$a", "$$$b", "plain"]}));
    }

    #[test]
    fn type_errors_name_the_field() {
        let e = GenesisFile::parse(r#"{"chain_id": "c", "time": "soon"}"#).expect_err("bad time");
        assert!(e.to_string().contains("`time`"), "{e}");
        let e = GenesisFile::parse(r#"{"chain_id": "c"}"#).expect_err("no time");
        assert!(e.to_string().contains("`time`: missing"), "{e}");
    }
}

//! `hanok-first-home`: a first-home-buyer benefit register, written with `hanok-sdk` as an
//! example for contract authors (see this crate's `README.md` for the walk-through).
//!
//! A public programme pays a fixed benefit to people buying their first home, from a fixed
//! budget. Enrolled banks file the claims; nobody may be paid twice. The register must recognise
//! "the same person" without ever holding personal data (DESIGN.md, *Private*), so a person is
//! known only by a **person hash**: `sha256(salt || resident number)` as 64 lowercase hex,
//! computed off-chain by the bank with the programme's salt. The same person always yields the
//! same hash, so a second claim is caught; the hash alone reveals nobody, because the salt never
//! reaches the ledger.
//!
//! # Messages
//! - instantiate [`InstantiateMsg`] `{"identity": "0x..", "budget": "<n>", "benefit": "<n>"}`:
//!   the identity contract that holds the roles, the programme's total budget and the fixed
//!   benefit per claim (positive, and at most the budget).
//! - execute [`ExecuteMsg`] `{"claim": {"person_hash", "parcel_id"}}` (enrolled bank): records a
//!   [`Claim`] and takes the benefit from the remaining budget;
//!   `{"revoke": {"person_hash"}}` (enrolled official): marks a claim revoked after fraud is
//!   found. A revoked claim still blocks a new one, and its benefit is not returned to the
//!   budget (the money was paid; recovering it happens off-chain).
//! - query [`QueryMsg`] `{"claim": {"person_hash"}}` → [`Claim`] or `null`; `{"budget": {}}` →
//!   [`BudgetResponse`] `{total, remaining, claims}`.
//!
//! Events: `benefit_claimed {person_hash, parcel_id}`, `claim_revoked {person_hash, by}`.
//! Storage: `config`; `budget`; `claims`: person hash → [`Claim`].
//!
//! Invariant: nothing about a person but the person hash is stored, emitted or put in an error
//! message. In particular a malformed `person_hash` is never echoed back, because contract error
//! messages are recorded in receipts, on the ledger; the refusal says what is wrong with it
//! (its length, a capital letter, that it looks like a raw resident number) instead.
#![no_std]
#![deny(clippy::arithmetic_side_effects)]

extern crate alloc;
#[cfg(any(test, feature = "schema"))]
extern crate std;
// schemars' derive output names `Box`, `ToOwned` and `vec!` unqualified, as in std.
#[cfg(feature = "schema")]
#[allow(unused_imports, reason = "used by the schemars derive output")]
use std::{borrow::ToOwned, boxed::Box, vec};

use alloc::string::{String, ToString};
use alloc::vec::Vec;
// `require_role` asks the identity contract at execution time, so an enrolment revoked a block
// ago is already refused.
use hanok_sdk::{
    bail, ensure, entry_points, require_role, to_json, Address, Amount, ContractError, Env, Event,
    Item, Map, Response, Role,
};
use serde::{Deserialize, Serialize};

/// Length of a person hash: a SHA-256 digest as hex.
pub const PERSON_HASH_LEN: usize = 64;

/// Longest parcel id, as the land registry allows.
pub const MAX_PARCEL_ID_LEN: usize = 64;

/// Instantiate message.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct InstantiateMsg {
    /// The identity contract, consulted for the `bank` and `official` roles.
    pub identity: Address,
    /// The programme's total budget.
    pub budget: Amount,
    /// The fixed benefit paid per claim.
    pub benefit: Amount,
}

/// Execute messages.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum ExecuteMsg {
    /// Files a claim for a first-home buyer (enrolled bank only).
    Claim {
        /// `sha256(salt || resident number)` as 64 lowercase hex, computed off-chain.
        person_hash: String,
        /// The parcel being bought, as in the land registry (1 to 64 bytes).
        parcel_id: String,
    },
    /// Marks a claim revoked because fraud was found (enrolled official only).
    Revoke {
        /// The claim's person hash.
        person_hash: String,
    },
}

/// Query messages.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum QueryMsg {
    /// → [`Claim`] or `null`.
    Claim {
        /// The person hash.
        person_hash: String,
    },
    /// → [`BudgetResponse`].
    Budget {},
}

/// A recorded claim, keyed by its person hash.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Claim {
    /// Who was paid, as a salted hash.
    pub person_hash: String,
    /// The parcel bought.
    pub parcel_id: String,
    /// The bank that filed the claim.
    pub bank: Address,
    /// The block height of the claim.
    pub height: u64,
    /// Set once an official revokes the claim.
    pub revoked: Option<Revocation>,
}

/// Who revoked a claim, and when.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Revocation {
    /// The official.
    pub by: Address,
    /// The block height of the revocation.
    pub height: u64,
}

/// Answer to [`QueryMsg::Budget`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct BudgetResponse {
    /// The budget the programme started with.
    pub total: Amount,
    /// What is left to pay out.
    pub remaining: Amount,
    /// Claims filed so far, revoked ones included.
    pub claims: u64,
}

#[derive(Serialize, Deserialize)]
struct Config {
    identity: Address,
    benefit: Amount,
}

const CONFIG: Item<Config> = Item::new("config");
const BUDGET: Item<BudgetResponse> = Item::new("budget");
const CLAIMS: Map<&str, Claim> = Map::new("claims");

/// Checks that `hash` looks like a SHA-256 digest in lowercase hex.
///
/// Lowercase only, rather than normalising the case, because two spellings of one digest would
/// otherwise be two keys and the same person could claim twice. The error never contains the
/// input: it may be a raw resident number sent by mistake, and error messages go on the ledger.
///
/// # Errors
/// A message saying what is wrong: length, a non-hex or capital character, or that the value
/// looks like a raw resident number.
pub fn check_person_hash(hash: &str) -> Result<(), ContractError> {
    if hash.len() != PERSON_HASH_LEN {
        // A resident number is 13 digits, often written YYMMDD-NNNNNNN.
        let digits = hash.bytes().filter(u8::is_ascii_digit).count();
        if digits == 13 && hash.bytes().all(|b| b.is_ascii_digit() || b == b'-') {
            bail!(
                "person_hash looks like a raw resident number: send only \
                 sha256(salt || resident number) as 64 lowercase hex, computed off-chain"
            );
        }
        bail!(
            "person_hash must be 64 lowercase hex characters \
             (sha256(salt || resident number)), got {} characters",
            hash.chars().count()
        );
    }
    if hash.bytes().any(|b| b.is_ascii_uppercase()) {
        bail!("person_hash must be lowercase hex (it has a capital letter)");
    }
    ensure!(
        hash.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')),
        "person_hash must be 64 lowercase hex characters (it has a character outside 0-9a-f)"
    );
    Ok(())
}

fn instantiate(_env: &Env, msg: InstantiateMsg) -> Result<Response, ContractError> {
    ensure!(!msg.benefit.is_zero(), "benefit must be positive");
    // A budget that cannot pay a single benefit is a misconfiguration, not a programme.
    ensure!(
        msg.benefit <= msg.budget,
        "budget {} cannot pay one benefit of {}",
        msg.budget,
        msg.benefit
    );
    CONFIG.save(&Config {
        identity: msg.identity,
        benefit: msg.benefit,
    })?;
    BUDGET.save(&BudgetResponse {
        total: msg.budget,
        remaining: msg.budget,
        claims: 0,
    })?;
    Ok(Response::new())
}

fn execute(env: &Env, msg: ExecuteMsg) -> Result<Response, ContractError> {
    let cfg = CONFIG.load()?;
    match msg {
        ExecuteMsg::Claim {
            person_hash,
            parcel_id,
        } => {
            require_role(&cfg.identity, env.sender, Role::Bank, "file a claim")?;
            check_person_hash(&person_hash)?;
            ensure!(
                !parcel_id.is_empty() && parcel_id.len() <= MAX_PARCEL_ID_LEN,
                "parcel_id must be 1 to {MAX_PARCEL_ID_LEN} bytes"
            );
            // Revoked claims stay in the map, so they block a new claim too.
            if let Some(earlier) = CLAIMS.may_load(&person_hash.as_str())? {
                bail!("already claimed at height {}", earlier.height);
            }
            let mut budget = BUDGET.load()?;
            budget.remaining = budget.remaining.checked_sub(cfg.benefit).ok_or_else(|| {
                ContractError::new(alloc::format!(
                    "budget exhausted: {} remaining, the benefit is {}",
                    budget.remaining,
                    cfg.benefit
                ))
            })?;
            budget.claims = budget.claims.checked_add(1).ok_or("claim count overflow")?;
            BUDGET.save(&budget)?;
            CLAIMS.save(
                &person_hash.as_str(),
                &Claim {
                    person_hash: person_hash.clone(),
                    parcel_id: parcel_id.clone(),
                    bank: env.sender,
                    height: env.height,
                    revoked: None,
                },
            )?;
            // The hash and the parcel only: the bank is the transaction's signer anyway, and
            // nothing else about the person exists here to leak.
            Ok(Response::new().event(
                Event::new("benefit_claimed")
                    .attr("person_hash", person_hash)
                    .attr("parcel_id", parcel_id),
            ))
        }
        ExecuteMsg::Revoke { person_hash } => {
            require_role(&cfg.identity, env.sender, Role::Official, "revoke a claim")?;
            check_person_hash(&person_hash)?;
            let Some(mut claim) = CLAIMS.may_load(&person_hash.as_str())? else {
                bail!("no claim for this person_hash");
            };
            if let Some(r) = &claim.revoked {
                bail!("claim already revoked at height {}", r.height);
            }
            claim.revoked = Some(Revocation {
                by: env.sender,
                height: env.height,
            });
            CLAIMS.save(&person_hash.as_str(), &claim)?;
            Ok(Response::new().event(
                Event::new("claim_revoked")
                    .attr("person_hash", person_hash)
                    .attr("by", env.sender.to_string()),
            ))
        }
    }
}

fn query(_env: &Env, msg: QueryMsg) -> Result<Vec<u8>, ContractError> {
    match msg {
        QueryMsg::Claim { person_hash } => {
            // Refusing a malformed hash here too tells a client its hashing is wrong, where
            // `null` would suggest the person simply has not claimed.
            check_person_hash(&person_hash)?;
            to_json(&CLAIMS.may_load(&person_hash.as_str())?)
        }
        QueryMsg::Budget {} => to_json(&BUDGET.load()?),
    }
}

entry_points!(instantiate, execute, query);

#[cfg(test)]
mod tests {
    use super::*;
    use hanok_identity::Role;
    use hanok_sdk::mock;
    use std::{format, vec};

    const IDENTITY: Address = Address([0x1d; 20]);
    const REGISTER: Address = Address([0xf1; 20]);
    const AUTH: Address = Address([1; 20]);
    const BANK_A: Address = Address([2; 20]);
    const BANK_B: Address = Address([3; 20]);
    const OFFICIAL: Address = Address([4; 20]);
    const CITIZEN: Address = Address([5; 20]);
    const BROKER: Address = Address([6; 20]);

    /// What a bank computes off-chain: sha256(salt || resident number) as lowercase hex.
    fn person_hash(resident_number: &str) -> String {
        let mut input = b"programme-salt".to_vec();
        input.extend_from_slice(resident_number.as_bytes());
        hanok_sdk::sha256(&input)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// The real identity contract (natively) with one account per role, and the register with
    /// a budget of `budget` for benefits of 10.
    fn setup(budget: u128) {
        mock::reset();
        mock::register(IDENTITY, hanok_identity::ENTRY_POINTS);
        mock::register(REGISTER, ENTRY_POINTS);
        let id_msg = hanok_identity::InstantiateMsg { authority: AUTH };
        assert!(mock::instantiate(IDENTITY, AUTH, &id_msg).is_ok());
        for (address, role) in [
            (BANK_A, Role::Bank),
            (BANK_B, Role::Bank),
            (OFFICIAL, Role::Official),
            (CITIZEN, Role::Citizen),
            (BROKER, Role::Broker),
        ] {
            let msg = hanok_identity::ExecuteMsg::Enrol {
                address,
                roles: vec![role],
                person_hash: None,
            };
            assert!(mock::execute(IDENTITY, AUTH, &msg).is_ok());
        }
        let msg = InstantiateMsg {
            identity: IDENTITY,
            budget: Amount(budget),
            benefit: Amount(10),
        };
        assert!(mock::instantiate(REGISTER, AUTH, &msg).is_ok());
    }

    fn exec(sender: Address, msg: &ExecuteMsg) -> Result<Vec<u8>, String> {
        mock::execute(REGISTER, sender, msg).map_err(ContractError::into_message)
    }

    fn claim(hash: &str, parcel: &str) -> ExecuteMsg {
        ExecuteMsg::Claim {
            person_hash: hash.into(),
            parcel_id: parcel.into(),
        }
    }

    fn budget() -> BudgetResponse {
        mock::query(REGISTER, &QueryMsg::Budget {}).unwrap_or_else(|e| panic!("{e}"))
    }

    fn record(hash: &str) -> Option<Claim> {
        mock::query(
            REGISTER,
            &QueryMsg::Claim {
                person_hash: hash.into(),
            },
        )
        .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn a_bank_claims_once_per_person() {
        setup(50);
        mock::set_block(7, 1_700_000_000);
        let kim = person_hash("9001011234567");
        assert_eq!(record(&kim), None);
        assert!(exec(BANK_A, &claim(&kim, "1168010300-1-0123-0000")).is_ok());
        assert_eq!(
            record(&kim),
            Some(Claim {
                person_hash: kim.clone(),
                parcel_id: "1168010300-1-0123-0000".into(),
                bank: BANK_A,
                height: 7,
                revoked: None,
            })
        );
        let events = mock::take_events();
        let Some((_, last)) = events.last() else {
            panic!("no event emitted");
        };
        assert_eq!(last.ty, "benefit_claimed");
        assert_eq!(
            last.attributes,
            vec![
                ("person_hash".into(), kim.clone()),
                ("parcel_id".into(), "1168010300-1-0123-0000".into())
            ]
        );

        mock::set_block(9, 1_700_000_010);
        assert_eq!(
            exec(BANK_B, &claim(&kim, "1168010300-1-0999-0000")),
            Err("already claimed at height 7".into())
        );
        assert!(mock::events().is_empty());
        assert_eq!(
            budget(),
            BudgetResponse {
                total: Amount(50),
                remaining: Amount(40),
                claims: 1
            }
        );
    }

    #[test]
    fn only_enrolled_banks_claim() {
        setup(50);
        let h = person_hash("9001011234567");
        for who in [CITIZEN, BROKER, OFFICIAL, Address([0x99; 20])] {
            assert_eq!(
                exec(who, &claim(&h, "p-1")),
                Err("unauthorized: only an enrolled bank may file a claim".into())
            );
        }
        assert_eq!(budget().claims, 0);
    }

    #[test]
    fn malformed_hashes_are_refused_without_echoing_them() {
        setup(50);
        let good = person_hash("9001011234567");
        let cases = [
            ("9001011234567", "looks like a raw resident number"),
            ("900101-1234567", "looks like a raw resident number"),
            ("", "got 0 characters"),
            ("abc", "got 3 characters"),
            (&good[..63], "got 63 characters"),
        ];
        for (bad, expected) in cases {
            let err = exec(BANK_A, &claim(bad, "p-1")).err().unwrap_or_default();
            assert!(err.contains(expected), "{bad:?}: {err}");
            assert!(bad.is_empty() || !err.contains(bad), "{err} echoes {bad}");
        }
        let upper = good.to_uppercase();
        assert_eq!(
            exec(BANK_A, &claim(&upper, "p-1")),
            Err("person_hash must be lowercase hex (it has a capital letter)".into())
        );
        let not_hex = format!("{}g", &good[..63]);
        assert!(exec(BANK_A, &claim(&not_hex, "p-1")).is_err_and(|e| e.contains("outside 0-9a-f")));
        assert_eq!(
            exec(BANK_A, &claim(&good, "")),
            Err("parcel_id must be 1 to 64 bytes".into())
        );
        assert_eq!(budget().claims, 0);
        assert!(mock::query::<_, Option<Claim>>(
            REGISTER,
            &QueryMsg::Claim {
                person_hash: "9001011234567".into()
            }
        )
        .is_err());
    }

    #[test]
    fn the_budget_must_cover_the_benefit() {
        setup(20);
        assert!(exec(BANK_A, &claim(&person_hash("1"), "p-1")).is_ok());
        assert!(exec(BANK_B, &claim(&person_hash("2"), "p-2")).is_ok());
        assert_eq!(
            exec(BANK_A, &claim(&person_hash("3"), "p-3")),
            Err("budget exhausted: 0 remaining, the benefit is 10".into())
        );
        assert_eq!(record(&person_hash("3")), None);
        assert_eq!(budget().remaining, Amount::ZERO);

        // A budget that cannot pay one benefit, or a zero benefit, is refused up front.
        let other = Address([0xf2; 20]);
        mock::register(other, ENTRY_POINTS);
        let inst = |budget, benefit| InstantiateMsg {
            identity: IDENTITY,
            budget: Amount(budget),
            benefit: Amount(benefit),
        };
        let err = |m| {
            mock::instantiate(other, AUTH, &m)
                .err()
                .map(ContractError::into_message)
        };
        assert_eq!(
            err(inst(5, 10)).as_deref(),
            Some("budget 5 cannot pay one benefit of 10")
        );
        assert_eq!(err(inst(5, 0)).as_deref(), Some("benefit must be positive"));
    }

    #[test]
    fn an_official_revokes_and_the_claim_still_blocks() {
        setup(50);
        let h = person_hash("9001011234567");
        let revoke = ExecuteMsg::Revoke {
            person_hash: h.clone(),
        };
        assert_eq!(
            exec(OFFICIAL, &revoke),
            Err("no claim for this person_hash".into())
        );
        mock::set_block(3, 1_700_000_000);
        assert!(exec(BANK_A, &claim(&h, "p-1")).is_ok());
        assert_eq!(
            exec(BANK_A, &revoke),
            Err("unauthorized: only an enrolled official may revoke a claim".into())
        );
        mock::set_block(4, 1_700_000_005);
        assert!(exec(OFFICIAL, &revoke).is_ok());
        assert_eq!(
            record(&h).and_then(|c| c.revoked),
            Some(Revocation {
                by: OFFICIAL,
                height: 4
            })
        );
        assert_eq!(
            exec(OFFICIAL, &revoke),
            Err("claim already revoked at height 4".into())
        );
        assert_eq!(
            exec(BANK_B, &claim(&h, "p-2")),
            Err("already claimed at height 3".into())
        );
        // The benefit was paid: revoking does not return it to the budget.
        assert_eq!(budget().remaining, Amount(40));
    }
}

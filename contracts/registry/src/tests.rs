//! Native unit tests of the registry on the mock host, with the identity contract alongside.

use super::*;
use hanok_identity::Role;
use hanok_sdk::{mock, Amount};
use std::vec;

pub(crate) const IDENTITY: Address = Address([0x1d; 20]);
pub(crate) const REGISTRY: Address = Address([0x2e; 20]);
const DEAL: Address = Address([0xde; 20]);
const AUTH: Address = Address([1; 20]);
const OFF1: Address = Address([2; 20]);
const OFF2: Address = Address([3; 20]);
const BANK: Address = Address([4; 20]);
const SELLER: Address = Address([5; 20]);
const BUYER: Address = Address([6; 20]);

fn enrol(a: Address, roles: Vec<Role>) {
    let r = mock::execute(
        IDENTITY,
        AUTH,
        &hanok_identity::ExecuteMsg::Enrol {
            address: a,
            roles,
            person_hash: None,
        },
    );
    assert!(r.is_ok(), "{r:?}");
}

fn setup() {
    mock::reset();
    mock::register(IDENTITY, hanok_identity::ENTRY_POINTS);
    mock::register(REGISTRY, ENTRY_POINTS);
    assert!(mock::instantiate(
        IDENTITY,
        AUTH,
        &hanok_identity::InstantiateMsg { authority: AUTH }
    )
    .is_ok());
    enrol(OFF1, vec![Role::Official]);
    enrol(OFF2, vec![Role::Official]);
    enrol(BANK, vec![Role::Bank]);
    let msg = InstantiateMsg {
        identity: IDENTITY,
        deal: DEAL,
        policy: Policy {
            threshold: 1,
            officials: vec![OFF1],
            max_deal_secs: DEFAULT_MAX_DEAL_SECS,
        },
    };
    assert!(mock::instantiate(REGISTRY, AUTH, &msg).is_ok());
    let r = mock::execute(
        REGISTRY,
        OFF1,
        &register(
            "P-1",
            vec![Owner {
                owner: SELLER,
                share_bps: 10_000,
            }],
        ),
    );
    assert!(r.is_ok(), "{r:?}");
}

fn register(id: &str, owners: Vec<Owner>) -> ExecuteMsg {
    ExecuteMsg::RegisterParcel {
        parcel_id: id.into(),
        lot_number: "123-4".into(),
        address: "1 Sejong-daero, Jung-gu, Seoul".into(),
        area_m2_hundredths: 8_450,
        land_use: LandUse::Residential,
        owners,
    }
}

fn exec(sender: Address, msg: &ExecuteMsg) -> Result<Vec<u8>, String> {
    mock::execute(REGISTRY, sender, msg).map_err(ContractError::into_message)
}

fn parcel(id: &str) -> Parcel {
    match mock::query(
        REGISTRY,
        &QueryMsg::Parcel {
            parcel_id: id.into(),
        },
    ) {
        Ok(p) => p,
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn registration_is_checked_and_official_only() {
    setup();
    let sole = vec![Owner {
        owner: SELLER,
        share_bps: 10_000,
    }];
    assert_eq!(
        exec(BANK, &register("P-2", sole.clone())),
        Err("unauthorized: only an official may register a parcel".into())
    );
    assert_eq!(
        exec(OFF1, &register("P-1", sole)),
        Err("parcel P-1 already registered".into())
    );
    let split = vec![
        Owner {
            owner: SELLER,
            share_bps: 5_000,
        },
        Owner {
            owner: BUYER,
            share_bps: 4_000,
        },
    ];
    assert_eq!(
        exec(OFF1, &register("P-3", split)),
        Err("owner shares must sum to 10000 bps, got 9000".into())
    );
    let twice = vec![
        Owner {
            owner: SELLER,
            share_bps: 5_000,
        },
        Owner {
            owner: SELLER,
            share_bps: 5_000,
        },
    ];
    assert!(exec(OFF1, &register("P-3", twice)).is_err_and(|e| e.contains("listed twice")));
    let p = parcel("P-1");
    assert_eq!(p.owners.len(), 1);
    assert!(!p.frozen);
}

#[test]
fn liens_get_ranks_and_only_holder_official_or_deal_discharge() {
    setup();
    let lien = |holder| ExecuteMsg::RecordLien {
        parcel_id: "P-1".into(),
        holder,
        amount: Amount(300_000_000),
    };
    assert_eq!(
        exec(OFF1, &lien(BUYER)),
        Err(format!("lien holder {BUYER} is not an enrolled bank"))
    );
    assert_eq!(
        exec(BANK, &lien(BANK)),
        Err("unauthorized: only an official may record a lien".into())
    );
    assert_eq!(exec(OFF1, &lien(BANK)), Ok(br#"{"lien_id":1}"#.to_vec()));
    assert_eq!(exec(DEAL, &lien(BANK)), Ok(br#"{"lien_id":2}"#.to_vec()));
    let discharge = |lien_id| ExecuteMsg::DischargeLien {
        parcel_id: "P-1".into(),
        lien_id,
    };
    assert!(exec(SELLER, &discharge(1)).is_err_and(|e| e.starts_with("unauthorized")));
    assert!(exec(BANK, &discharge(1)).is_ok());
    assert_eq!(
        exec(OFF1, &discharge(1)),
        Err("lien 1 on parcel P-1 is already discharged".into())
    );
    assert!(exec(DEAL, &discharge(2)).is_ok());
    assert_eq!(
        exec(DEAL, &discharge(3)),
        Err("lien 3 not found on parcel P-1".into())
    );
    let p = parcel("P-1");
    assert!(
        p.encumbrances.is_empty(),
        "discharged liens leave the parcel"
    );
    assert_eq!((p.past_encumbrances, p.last_rank), (2, 2));
    let past = past("P-1", None);
    assert_eq!(past.iter().map(|e| e.rank).collect::<Vec<_>>(), vec![1, 2]);
    assert!(past.iter().all(|e| !e.active && e.ended_height.is_some()));
}

#[test]
fn leases_rank_among_encumbrances_and_only_tenant_or_official_discharge() {
    setup();
    enrol(BUYER, vec![Role::Citizen]);
    let lease = |tenant, deposit: u128, term_start, term_end| ExecuteMsg::RecordLease {
        parcel_id: "P-1".into(),
        tenant,
        deposit: Amount(deposit),
        term_start,
        term_end,
    };
    assert_eq!(
        exec(BANK, &lease(BUYER, 1, 10, 20)),
        Err("unauthorized: only an official may record a lease".into())
    );
    assert_eq!(
        exec(OFF1, &lease(BUYER, 0, 10, 20)),
        Err("lease deposit must be positive".into())
    );
    assert_eq!(
        exec(OFF1, &lease(BUYER, 1, 20, 20)),
        Err("lease term must end after it starts (term_start 20, term_end 20)".into())
    );
    assert_eq!(
        exec(OFF1, &lease(SELLER, 1, 10, 20)),
        Err(format!("tenant {SELLER} is not enrolled"))
    );
    // A lien, then the lease: ranks in recording order, whatever the kind.
    let lien = ExecuteMsg::RecordLien {
        parcel_id: "P-1".into(),
        holder: BANK,
        amount: Amount(300_000_000),
    };
    assert_eq!(exec(OFF1, &lien), Ok(br#"{"lien_id":1}"#.to_vec()));
    assert_eq!(
        exec(OFF1, &lease(BUYER, 250_000_000, 10, 20)),
        Ok(br#"{"lease_id":2}"#.to_vec())
    );
    let p = parcel("P-1");
    assert_eq!(p.encumbrances.len(), 2);
    assert_eq!(
        p.encumbrances[1].kind,
        EncumbranceKind::Lease {
            tenant: BUYER,
            deposit: Amount(250_000_000),
            term_start: 10,
            term_end: 20
        }
    );
    assert!(!p.frozen, "a lease does not freeze the title");
    let discharge = |lease_id| ExecuteMsg::DischargeLease {
        parcel_id: "P-1".into(),
        lease_id,
    };
    assert_eq!(
        exec(OFF1, &discharge(1)),
        Err("encumbrance 1 on parcel P-1 is not a lease".into())
    );
    assert_eq!(
        exec(
            OFF1,
            &ExecuteMsg::DischargeLien {
                parcel_id: "P-1".into(),
                lien_id: 2
            }
        ),
        Err("encumbrance 2 on parcel P-1 is not a lien".into())
    );
    assert!(exec(BANK, &discharge(2)).is_err_and(|e| e.starts_with("unauthorized")));
    assert!(
        exec(BUYER, &discharge(2)).is_ok(),
        "the tenant discharges its own lease"
    );
    assert_eq!(
        exec(OFF1, &discharge(2)),
        Err("lease 2 on parcel P-1 is already discharged".into())
    );
    assert_eq!(
        exec(OFF1, &discharge(9)),
        Err("lease 9 not found on parcel P-1".into())
    );
    let past = past("P-1", None);
    assert_eq!(past.len(), 1);
    assert!(matches!(past[0].kind, EncumbranceKind::Lease { .. }) && !past[0].active);
    // An official may discharge one too.
    assert_eq!(
        exec(OFF1, &lease(BUYER, 1, 10, 20)),
        Ok(br#"{"lease_id":3}"#.to_vec())
    );
    assert!(exec(OFF1, &discharge(3)).is_ok());
}

fn past(id: &str, start_after: Option<u64>) -> Vec<Encumbrance> {
    let r: Result<PastEncumbrancesResponse, _> = mock::query(
        REGISTRY,
        &QueryMsg::PastEncumbrances {
            parcel_id: id.into(),
            start_after,
            limit: Some(MAX_HISTORY_LIMIT),
        },
    );
    match r {
        Ok(r) => r.encumbrances,
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn only_active_encumbrances_count_toward_the_cap() {
    setup();
    let lien = ExecuteMsg::RecordLien {
        parcel_id: "P-1".into(),
        holder: BANK,
        amount: Amount(1),
    };
    for n in 1..=100u64 {
        assert_eq!(
            exec(OFF1, &lien),
            Ok(format!(r#"{{"lien_id":{n}}}"#).into_bytes())
        );
        let discharge = ExecuteMsg::DischargeLien {
            parcel_id: "P-1".into(),
            lien_id: n,
        };
        assert!(exec(BANK, &discharge).is_ok());
    }
    // A hundred past liens: a new mortgage and a seizure still go on, at the next ranks.
    assert_eq!(exec(OFF1, &lien), Ok(br#"{"lien_id":101}"#.to_vec()));
    let freeze = ExecuteMsg::Freeze {
        parcel_id: "P-1".into(),
        court_order_hash: "cd".repeat(32),
    };
    assert_eq!(exec(OFF1, &freeze), Ok(br#"{"seizure_id":102}"#.to_vec()));
    let p = parcel("P-1");
    assert_eq!(p.encumbrances.len(), 2);
    assert_eq!(p.past_encumbrances, 100);
    assert!(p.frozen);
    // The past pages in rank order.
    let first = past("P-1", None);
    assert_eq!(first.len(), 50);
    let second = past("P-1", first.last().map(|e| e.id));
    assert_eq!(second.first().map(|e| e.rank), Some(51));
    assert_eq!(past("P-1", Some(100)), vec![]);

    // The cap is on active ones: 64 of them, then no more until one ends.
    for _ in 0..62 {
        assert!(exec(OFF1, &lien).is_ok());
    }
    assert_eq!(
        exec(OFF1, &lien),
        Err("parcel P-1 already has 64 active encumbrances".into())
    );
    let lift = ExecuteMsg::Unfreeze {
        parcel_id: "P-1".into(),
        seizure_id: 102,
    };
    assert!(exec(OFF1, &lift).is_ok());
    assert_eq!(
        exec(OFF1, &lift),
        Err("seizure 102 on parcel P-1 is already lifted".into())
    );
    assert_eq!(exec(OFF1, &lien), Ok(br#"{"lien_id":165}"#.to_vec()));
}

#[test]
fn seizure_freezes_the_title_until_lifted() {
    setup();
    let hash = "ab".repeat(32);
    let freeze = ExecuteMsg::Freeze {
        parcel_id: "P-1".into(),
        court_order_hash: hash,
    };
    assert_eq!(exec(OFF1, &freeze), Ok(br#"{"seizure_id":1}"#.to_vec()));
    assert!(parcel("P-1").frozen);
    let transfer = ExecuteMsg::TransferTitle {
        parcel_id: "P-1".into(),
        to: BUYER,
    };
    assert_eq!(
        exec(DEAL, &transfer),
        Err("title frozen by a court seizure".into())
    );
    assert!(exec(
        OFF1,
        &ExecuteMsg::Unfreeze {
            parcel_id: "P-1".into(),
            seizure_id: 1
        }
    )
    .is_ok());
    assert_eq!(
        exec(OFF1, &transfer),
        Err("unauthorized: only the deal contract may transfer a title".into())
    );
    assert!(exec(DEAL, &transfer).is_ok());
    assert_eq!(
        parcel("P-1").owners,
        vec![Owner {
            owner: BUYER,
            share_bps: 10_000
        }]
    );

    let history: HistoryResponse = mock::query(
        REGISTRY,
        &QueryMsg::History {
            parcel_id: "P-1".into(),
            start_after: Some(1),
            limit: None,
        },
    )
    .unwrap_or(HistoryResponse { entries: vec![] });
    let actions: Vec<Action> = history.entries.iter().map(|e| e.action).collect();
    assert_eq!(
        actions,
        vec![Action::Frozen, Action::Unfrozen, Action::TitleTransferred]
    );
}

#[test]
fn policy_is_validated_and_set_by_the_authority() {
    setup();
    let set = |threshold, officials| ExecuteMsg::SetPolicy {
        threshold,
        officials,
        max_deal_secs: DEFAULT_MAX_DEAL_SECS,
    };
    assert!(exec(OFF1, &set(1, vec![OFF1])).is_err_and(|e| e.starts_with("unauthorized")));
    assert!(exec(AUTH, &set(3, vec![OFF1, OFF2])).is_err_and(|e| e.contains("threshold")));
    assert!(exec(AUTH, &set(0, vec![OFF1])).is_err_and(|e| e.contains("threshold")));
    assert!(exec(AUTH, &set(1, vec![OFF1, OFF1])).is_err_and(|e| e.contains("twice")));
    assert_eq!(
        exec(AUTH, &set(1, vec![BANK])),
        Err(format!("policy: {BANK} is not an enrolled official"))
    );
    assert!(exec(AUTH, &set(2, vec![OFF1, OFF2])).is_ok());
    // Both spellings of a query without arguments work.
    let p: Result<Policy, _> = mock::query(REGISTRY, &"policy");
    assert_eq!(p.map(|p| p.threshold), Ok(2));
    let p: Result<Policy, _> = mock::query(REGISTRY, &QueryMsg::Policy {});
    assert_eq!(p.map(|p| p.officials), Ok(vec![OFF1, OFF2]));
    // The deadline bound: 365 days when a message leaves it out, at most ten years.
    let without = serde_json::json!({"set_policy": {"threshold": 1, "officials": [OFF2]}});
    assert!(mock::execute(REGISTRY, AUTH, &without).is_ok());
    let p: Result<Policy, _> = mock::query(REGISTRY, &"policy");
    assert_eq!(p.map(|p| p.max_deal_secs), Ok(365 * 24 * 3600));
    let forever = ExecuteMsg::SetPolicy {
        threshold: 1,
        officials: vec![OFF1],
        max_deal_secs: u64::MAX,
    };
    assert_eq!(
        exec(AUTH, &forever),
        Err("policy: max_deal_secs must be between 1 and 315360000".into())
    );
}

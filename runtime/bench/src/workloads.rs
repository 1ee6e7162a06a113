//! Per-workload setup: accounts, contracts, parcels and balances on chain, gas measured by dry
//! run (or a warm-up closing), and every measured transaction signed before the clock starts.

use crate::error::BenchError;
use crate::setup::{
    contract_address, gas_limit_for, json, sign_all, Ctx, SetupCall, ToSign, PROBE_GAS,
};
use hanok_client::messages::registry::{self, LandUse, Owner};
use hanok_client::messages::{deal, escrow, krw};
use hanok_client::{Amount, Role, SignedTx, Signer};
use hanok_types::Address;
use serde::Serialize;
use serde_json::Value;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// One hundred million won.
const EOK: u128 = 100_000_000;
/// The acceptance story's numbers: lien, price, new mortgage.
const LIEN: u128 = 3 * EOK;
const PRICE: u128 = 9 * EOK;
const MORTGAGE: u128 = 6 * EOK;
/// Parcels per operator registry in the `transfer` workload.
const PARCELS_PER_REGISTRY: usize = 4;
/// Steps of one closing, in the order they are signed.
pub(crate) const CLOSING_STEPS: usize = 13;

/// A sender's pre-signed transactions, in nonce order, and the next one to send.
pub(crate) struct Stream {
    txs: Vec<SignedTx>,
    next: AtomicUsize,
}

/// Every sender's stream; [`Streams::next`] takes senders in turn.
pub(crate) struct Streams {
    senders: Vec<Stream>,
    rr: AtomicUsize,
}

impl Streams {
    fn new(per_sender: Vec<Vec<SignedTx>>) -> Streams {
        Streams {
            senders: per_sender
                .into_iter()
                .map(|txs| Stream {
                    txs,
                    next: AtomicUsize::new(0),
                })
                .collect(),
            rr: AtomicUsize::new(0),
        }
    }

    /// The next transaction to send: the next sender in turn, its next nonce. `None` once every
    /// stream is used up.
    pub fn next(&self) -> Option<&SignedTx> {
        let n = self.senders.len();
        for _ in 0..n {
            let s = &self.senders[self.rr.fetch_add(1, Ordering::Relaxed) % n];
            let j = s.next.fetch_add(1, Ordering::Relaxed);
            if let Some(tx) = s.txs.get(j) {
                return Some(tx);
            }
        }
        None
    }

    pub fn total(&self) -> usize {
        self.senders.iter().map(|s| s.txs.len()).sum()
    }

    /// How many senders there are.
    pub fn senders(&self) -> usize {
        self.senders.len()
    }

    /// Sender `i`'s next transaction (its next nonce); `None` once its stream is used up.
    pub fn next_of(&self, i: usize) -> Option<&SignedTx> {
        let s = self.senders.get(i)?;
        s.txs.get(s.next.fetch_add(1, Ordering::Relaxed))
    }
}

/// One closing, pre-signed: its stages in order; a stage's transactions go out together and
/// the next stage starts when all of them committed.
pub(crate) struct Closing {
    pub stages: Vec<Vec<SignedTx>>,
}

/// A lane: its own accounts and deal/registry/escrow instances, running its closings one after
/// another (so deal ids and nonces are known when signing).
pub(crate) struct Lane {
    pub closings: Vec<Closing>,
}

/// What the driver runs.
pub(crate) enum Plan {
    /// Pre-signed transactions per sender.
    Txs { streams: Arc<Streams>, gas: u64 },
    /// Queries: the contract and the JSON messages to send in turn.
    Query {
        contract: Address,
        msgs: Arc<Vec<Vec<u8>>>,
    },
    /// Closing lanes.
    Closing { lanes: Vec<Lane>, gas: u64 },
}

/// How many transactions to sign per sender, given how many the run may need in total.
fn per_sender(total: f64, senders: usize) -> usize {
    ((total / senders as f64).ceil() as usize).max(2)
}

fn register_msg(parcel_id: &str, owner: Address) -> registry::ExecuteMsg {
    registry::ExecuteMsg::RegisterParcel {
        parcel_id: parcel_id.to_string(),
        lot_number: "대치동 123".into(),
        address: "서울특별시 강남구 대치동 123".into(),
        area_m2_hundredths: 8_497,
        land_use: LandUse::Residential,
        owners: vec![Owner {
            owner,
            share_bps: registry::FULL_SHARE_BPS,
        }],
    }
}

/// A registry instance's instantiate message: the system identity, `deal` allowed to move
/// titles, and a policy of 2 of `officials`.
fn registry_init(identity: Address, deal: Address, officials: Vec<Address>) -> Value {
    json(&registry::InstantiateMsg {
        identity,
        deal,
        policy: registry::Policy {
            threshold: 2,
            officials,
            max_deal_secs: registry::DEFAULT_MAX_DEAL_SECS,
        },
    })
}

fn bytes(msg: &impl Serialize) -> Vec<u8> {
    json(msg).to_string().into_bytes()
}

/// A setup call of `contract`'s `execute`.
fn exec(contract: Address, msg: &impl Serialize) -> SetupCall {
    SetupCall::Execute(contract, json(msg))
}

/// `transfer`: `operators` registry instances (label `bench-registry-<run>-<i>`) from the
/// uploaded registry code, each with `deal` = its operator; `PARCELS_PER_REGISTRY` parcels
/// registered in each by the dev official; each operator then moves its parcels' titles back
/// and forth between two enrolled owners.
pub(crate) async fn transfer(
    ctx: &Ctx,
    operators: usize,
    total: f64,
) -> Result<(Plan, usize), BenchError> {
    let ops: Vec<Signer> = (0..operators).map(|i| ctx.account("operator", i)).collect();
    let (owner_a, owner_b) = (ctx.account("owner", 0), ctx.account("owner", 1));
    ctx.say(&format!("enrolling {} operators and 2 owners", ops.len()));
    let mut enrol: Vec<(Address, Role)> =
        ops.iter().map(|s| (s.address(), Role::Citizen)).collect();
    enrol.push((owner_a.address(), Role::Citizen));
    enrol.push((owner_b.address(), Role::Citizen));
    ctx.enrol(&enrol).await?;

    ctx.say(&format!(
        "instantiating {operators} registries from the registry code"
    ));
    let code = ctx.code_hash(ctx.sys.registry).await?;
    let officials: Vec<Address> = ["official-1", "official-2", "official-3"]
        .iter()
        .map(|n| ctx.dev(n).map(|s| s.address()))
        .collect::<Result<_, _>>()?;
    let calls = ops
        .iter()
        .enumerate()
        .map(|(i, op)| {
            SetupCall::Instantiate(
                code,
                format!("bench-registry-{}-{i}", ctx.run),
                registry_init(ctx.sys.identity, op.address(), officials.clone()),
            )
        })
        .collect();
    let authority = ctx.dev("authority")?;
    let receipts = ctx.batch(&authority, calls, 32).await?;
    let registries: Vec<Address> = receipts
        .iter()
        .flat_map(|r| r.results.iter())
        .map(|a| {
            Address::from_slice(a)
                .ok_or_else(|| BenchError::Setup("instantiate returned no address".into()))
        })
        .collect::<Result<_, _>>()?;
    if registries.len() != operators {
        return Err(BenchError::Setup(format!(
            "{} registries instantiated, {operators} expected",
            registries.len()
        )));
    }

    ctx.say(&format!(
        "registering {} parcels",
        operators * PARCELS_PER_REGISTRY
    ));
    let parcel = |p: usize| format!("bench-{}-{p}", ctx.run);
    let calls = registries
        .iter()
        .flat_map(|r| {
            (0..PARCELS_PER_REGISTRY)
                .map(move |p| (*r, p))
                .collect::<Vec<_>>()
        })
        .map(|(r, p)| SetupCall::Execute(r, json(&register_msg(&parcel(p), owner_a.address()))))
        .collect();
    ctx.batch(&ctx.dev("official-1")?, calls, 32).await?;

    // Operator i's j-th transaction: parcel j mod P, to B on even rounds and A on odd ones.
    let msg = |j: usize| {
        let to = if (j / PARCELS_PER_REGISTRY).is_multiple_of(2) {
            owner_b.address()
        } else {
            owner_a.address()
        };
        bytes(&registry::ExecuteMsg::TransferTitle {
            parcel_id: parcel(j % PARCELS_PER_REGISTRY),
            to,
        })
    };
    let probe = ctx
        .builder(0, PROBE_GAS)
        .execute_raw(registries[0], msg(0))
        .sign(&ops[0])?;
    let gas = gas_limit_for(ctx.simulate_gas(&probe).await?);
    let n = per_sender(total, operators);
    ctx.say(&format!(
        "pre-signing {} transfer_title transactions (gas limit {gas})",
        n * operators
    ));
    let items = (0..operators)
        .flat_map(|i| (0..n).map(move |j| (i, j)))
        .map(|(i, j)| ToSign {
            signer: i,
            builder: ctx
                .builder(j as u64, gas)
                .execute_raw(registries[i], msg(j)),
        })
        .collect();
    let signed = sign_all(Arc::new(ops), items).await?;
    let streams = Streams::new(signed.chunks(n).map(<[SignedTx]>::to_vec).collect());
    Ok((
        Plan::Txs {
            streams: Arc::new(streams),
            gas,
        },
        operators,
    ))
}

/// `token`: a dev bank mints KRW to `senders` fresh accounts; then account i sends 1 won to
/// account i+1, again and again.
pub(crate) async fn token(
    ctx: &Ctx,
    senders: usize,
    total: f64,
) -> Result<(Plan, usize), BenchError> {
    let accounts: Vec<Signer> = (0..senders).map(|i| ctx.account("holder", i)).collect();
    ctx.say(&format!("enrolling {senders} accounts"));
    let enrol: Vec<(Address, Role)> = accounts
        .iter()
        .map(|s| (s.address(), Role::Citizen))
        .collect();
    ctx.enrol(&enrol).await?;
    let n = per_sender(total, senders);
    ctx.say(&format!("bank-b mints KRW to {senders} accounts"));
    let calls = accounts
        .iter()
        .map(|a| {
            SetupCall::Execute(
                ctx.sys.krw,
                json(&krw::ExecuteMsg::Mint {
                    to: a.address(),
                    amount: Amount(n as u128 * 10),
                }),
            )
        })
        .collect();
    ctx.batch(&ctx.dev("bank-b")?, calls, 64).await?;
    let to: Vec<Address> = (0..senders)
        .map(|i| accounts[(i + 1) % senders].address())
        .collect();
    let msg = |i: usize| {
        bytes(&krw::ExecuteMsg::Transfer {
            to: to[i],
            amount: Amount(1),
        })
    };
    let probe = ctx
        .builder(0, PROBE_GAS)
        .execute_raw(ctx.sys.krw, msg(0))
        .sign(&accounts[0])?;
    let gas = gas_limit_for(ctx.simulate_gas(&probe).await?);
    ctx.say(&format!(
        "pre-signing {} token transfers (gas limit {gas})",
        n * senders
    ));
    let items = (0..senders)
        .flat_map(|i| (0..n).map(move |j| (i, j)))
        .map(|(i, j)| ToSign {
            signer: i,
            builder: ctx.builder(j as u64, gas).execute_raw(ctx.sys.krw, msg(i)),
        })
        .collect();
    let signed = sign_all(Arc::new(accounts), items).await?;
    let streams = Streams::new(signed.chunks(n).map(<[SignedTx]>::to_vec).collect());
    Ok((
        Plan::Txs {
            streams: Arc::new(streams),
            gas,
        },
        senders,
    ))
}

/// `query`: `parcels` parcels registered in the system registry; `parcel` queries in turn.
pub(crate) async fn query(ctx: &Ctx, parcels: usize) -> Result<(Plan, usize), BenchError> {
    let owner = ctx.account("owner", 0);
    ctx.enrol(&[(owner.address(), Role::Citizen)]).await?;
    ctx.say(&format!("registering {parcels} parcels"));
    let ids: Vec<String> = (0..parcels)
        .map(|i| format!("bench-{}-q{i}", ctx.run))
        .collect();
    let calls = ids
        .iter()
        .map(|id| SetupCall::Execute(ctx.sys.registry, json(&register_msg(id, owner.address()))))
        .collect();
    ctx.batch(&ctx.dev("official-1")?, calls, 32).await?;
    let msgs = ids
        .iter()
        .map(|id| {
            bytes(&registry::QueryMsg::Parcel {
                parcel_id: id.clone(),
            })
        })
        .collect();
    Ok((
        Plan::Query {
            contract: ctx.sys.registry,
            msgs: Arc::new(msgs),
        },
        parcels,
    ))
}

/// A lane's accounts, in this order.
const LANE_ROLES: [(&str, Role); 7] = [
    ("official-a", Role::Official),
    ("official-b", Role::Official),
    ("broker", Role::Broker),
    ("seller", Role::Citizen),
    ("buyer", Role::Citizen),
    ("bank-a", Role::Bank),
    ("bank-b", Role::Bank),
];
const OFF_A: usize = 0;
const OFF_B: usize = 1;
const BROKER: usize = 2;
const SELLER: usize = 3;
const BUYER: usize = 4;
const BANK_A: usize = 5;
const BANK_B: usize = 6;

/// A lane's wiring.
struct LaneSetup {
    accounts: Vec<Signer>,
    registry: Address,
    escrow: Address,
    deal: Address,
}

/// The 13 steps of closing `k` of a lane (deal id `k + 1`): (stage, signer, nonce, contract,
/// message), in signing order. Nonces follow from the steps each account sends per closing:
/// official A 3 (register, lien, approve), official B 1, bank A 1 (payoff statement), bank B 2
/// (mint, attach), broker 2 (open, settle), buyer 2 (fund, sign), seller 2 (accept, sign). The terms the parties sign
/// are known in advance (price, deadline, bank B as lender, the mortgage it attaches), so the
/// signatures are pre-signed like everything else.
fn closing_steps(
    ctx: &Ctx,
    lane: &LaneSetup,
    l: usize,
    k: usize,
    deadline: u64,
) -> Vec<(usize, usize, u64, Address, Vec<u8>)> {
    let k64 = k as u64;
    let a = |i: usize| lane.accounts[i].address();
    let parcel = format!("{}-{l}-{k}", ctx.run);
    let deal_id = k64 + 1;
    let terms = deal::Terms {
        price: Amount(PRICE),
        deadline,
        lender: Some(a(BANK_B)),
        mortgage_amount: Some(Amount(MORTGAGE)),
        schedule: None,
    };
    let sign = deal::ExecuteMsg::Sign { deal_id, terms };
    vec![
        // Stage 0: the official registers the parcel to the seller; bank B mints the price.
        (
            0,
            OFF_A,
            3 * k64,
            lane.registry,
            bytes(&register_msg(&parcel, a(SELLER))),
        ),
        (
            0,
            BANK_B,
            2 * k64,
            ctx.sys.krw,
            bytes(&krw::ExecuteMsg::Mint {
                to: a(BUYER),
                amount: Amount(PRICE),
            }),
        ),
        // Stage 1: bank A's lien is recorded; the broker opens the deal.
        (
            1,
            OFF_A,
            3 * k64 + 1,
            lane.registry,
            bytes(&registry::ExecuteMsg::RecordLien {
                parcel_id: parcel.clone(),
                holder: a(BANK_A),
                amount: Amount(LIEN),
            }),
        ),
        (
            1,
            BROKER,
            2 * k64,
            lane.deal,
            bytes(&deal::ExecuteMsg::Open {
                parcel_id: parcel.clone(),
                seller: a(SELLER),
                buyer: a(BUYER),
                price: Amount(PRICE),
                deadline,
                lender: Some(deal::Lender {
                    bank: a(BANK_B),
                    max_amount: Amount(MORTGAGE),
                }),
                co_sellers: Vec::new(),
                share_sale: false,
                schedule: None,
            }),
        ),
        // Stage 2: the seller accepts; bank B, the lender the terms name, attaches the new
        // mortgage (allowed on a proposal, so both go in one stage); bank A files its payoff
        // statement for its lien (the parcel's first encumbrance).
        (
            2,
            BANK_A,
            k64,
            lane.registry,
            bytes(&registry::ExecuteMsg::FilePayoff {
                parcel_id: parcel.clone(),
                lien_id: 1,
                amount: Amount(LIEN),
                valid_until: deadline.saturating_add(24 * 3600),
            }),
        ),
        (
            2,
            SELLER,
            2 * k64,
            lane.deal,
            bytes(&deal::ExecuteMsg::Accept { deal_id }),
        ),
        (
            2,
            BANK_B,
            2 * k64 + 1,
            lane.deal,
            bytes(&deal::ExecuteMsg::AttachMortgage {
                deal_id,
                amount: Amount(MORTGAGE),
            }),
        ),
        // Stage 3: the buyer funds the escrow (the deal must be accepted first).
        (
            3,
            BUYER,
            2 * k64,
            ctx.sys.krw,
            bytes(&krw::ExecuteMsg::Send {
                contract: lane.escrow,
                amount: Amount(PRICE),
                msg: json(&escrow::FundMsg::Fund { deal_id }),
            }),
        ),
        // Stage 4: seller and buyer sign the terms.
        (4, SELLER, 2 * k64 + 1, lane.deal, bytes(&sign)),
        (4, BUYER, 2 * k64 + 1, lane.deal, bytes(&sign)),
        // Stage 5: two officials approve (the lane registry's policy is 2 of these 2).
        (
            5,
            OFF_A,
            3 * k64 + 2,
            lane.deal,
            bytes(&deal::ExecuteMsg::Approve { deal_id }),
        ),
        (
            5,
            OFF_B,
            k64,
            lane.deal,
            bytes(&deal::ExecuteMsg::Approve { deal_id }),
        ),
        // Stage 6: the broker settles, one atomic transaction.
        (
            6,
            BROKER,
            2 * k64 + 1,
            lane.deal,
            bytes(&deal::ExecuteMsg::Settle { deal_id }),
        ),
    ]
}

/// Groups signed steps (in [`closing_steps`] order) into stages.
fn stages(steps: &[(usize, usize, u64, Address, Vec<u8>)], signed: Vec<SignedTx>) -> Closing {
    let mut stages: Vec<Vec<SignedTx>> = Vec::new();
    for ((stage, ..), tx) in steps.iter().zip(signed) {
        if stages.len() <= *stage {
            stages.resize_with(stage + 1, Vec::new);
        }
        stages[*stage].push(tx);
    }
    Closing { stages }
}

/// `closing`: `lanes` lanes (plus one warm-up lane) of 7 fresh accounts and their own
/// registry, escrow and deal instances (from the uploaded system code, wired like the dev
/// genesis, the registry's policy 2 of the lane's 2 officials); the system identity and KRW
/// contracts are shared. The warm-up lane runs one closing during setup to measure each step's
/// gas; every measured lane then gets `closings_per_lane` closings pre-signed.
///
/// Why instances per lane and not the system deal contract: a deal id is assigned when `open`
/// executes, so deals opened in parallel on one deal contract get ids in block order, unknown
/// at signing time; and the system registry's policy names the three dev officials, whose
/// per-account nonce windows would serialise every approval. A lane runs its closings in
/// order, so its deal ids are 1, 2, 3... and every nonce is known.
pub(crate) async fn closing(
    ctx: &Ctx,
    lanes: usize,
    closings_per_lane: usize,
) -> Result<(Plan, usize), BenchError> {
    let authority = ctx.dev("authority")?;
    let auth = authority.address();
    let codes = (
        ctx.code_hash(ctx.sys.registry).await?,
        ctx.code_hash(ctx.sys.escrow).await?,
        ctx.code_hash(ctx.sys.deal).await?,
    );
    let officials_of = |acc: &[Signer]| vec![acc[OFF_A].address(), acc[OFF_B].address()];
    // Lane `lanes` is the warm-up lane.
    let setups: Vec<LaneSetup> = (0..=lanes)
        .map(|l| {
            let accounts = LANE_ROLES
                .iter()
                .map(|(role, _)| ctx.account(&format!("lane{l}-{role}"), 0))
                .collect();
            let label = |what: &str| format!("bench-{}-{what}-{l}", ctx.run);
            LaneSetup {
                accounts,
                registry: contract_address(&auth, &label("registry")),
                escrow: contract_address(&auth, &label("escrow")),
                deal: contract_address(&auth, &label("deal")),
            }
        })
        .collect();
    ctx.say(&format!(
        "enrolling {} accounts and instantiating {} contracts for {lanes} closing lanes + 1 warm-up",
        setups.len() * LANE_ROLES.len(),
        setups.len() * 3
    ));
    let enrol: Vec<(Address, Role)> = setups
        .iter()
        .flat_map(|s| {
            s.accounts
                .iter()
                .zip(LANE_ROLES)
                .map(|(a, (_, role))| (a.address(), role))
        })
        .collect();
    ctx.enrol(&enrol).await?;
    let mut calls = Vec::new();
    let mut expected = Vec::new();
    for (l, s) in setups.iter().enumerate() {
        let label = |what: &str| format!("bench-{}-{what}-{l}", ctx.run);
        calls.push(SetupCall::Instantiate(
            codes.0,
            label("registry"),
            registry_init(ctx.sys.identity, s.deal, officials_of(&s.accounts)),
        ));
        calls.push(SetupCall::Instantiate(
            codes.1,
            label("escrow"),
            json(&escrow::InstantiateMsg {
                token: ctx.sys.krw,
                deal: s.deal,
            }),
        ));
        calls.push(SetupCall::Instantiate(
            codes.2,
            label("deal"),
            json(&deal::InstantiateMsg {
                identity: ctx.sys.identity,
                registry: s.registry,
                escrow: s.escrow,
                token: ctx.sys.krw,
                // The lanes settle without acquisition tax: the workload measures the
                // settlement's transfers, not a tax table's bands.
                tax: None,
            }),
        ));
        expected.extend([s.registry, s.escrow, s.deal]);
    }
    let receipts = ctx.batch(&authority, calls, 30).await?;
    let got: Vec<&Vec<u8>> = receipts.iter().flat_map(|r| r.results.iter()).collect();
    if got.len() != expected.len() || got.iter().zip(&expected).any(|(g, e)| g[..] != e.0[..]) {
        return Err(BenchError::Setup(
            "instantiated contract addresses differ from the predicted ones".into(),
        ));
    }
    let deadline = ctx
        .block_time
        .max(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
        )
        .saturating_add(30 * 24 * 3600);

    // Warm-up: one closing on the last lane, with generous gas, to measure each step.
    ctx.say("warm-up closing to measure each step's gas");
    let warm = &setups[lanes];
    let steps = closing_steps(ctx, warm, lanes, 0, deadline);
    let items = steps
        .iter()
        .map(|(_, who, nonce, contract, msg)| ToSign {
            signer: *who,
            builder: ctx
                .builder(*nonce, PROBE_GAS)
                .execute_raw(*contract, msg.clone()),
        })
        .collect();
    let warm_closing = stages(
        &steps,
        sign_all(Arc::new(warm.accounts.clone()), items).await?,
    );
    let mut used = [0u64; CLOSING_STEPS];
    let mut i = 0;
    for stage in &warm_closing.stages {
        let mut set = tokio::task::JoinSet::new();
        for (j, tx) in stage.iter().enumerate() {
            let (client, tx) = (ctx.client().clone(), tx.clone());
            set.spawn(async move { (j, client.submit_and_wait(&tx, crate::setup::WAIT).await) });
        }
        while let Some(joined) = set.join_next().await {
            let (j, r) = joined?;
            let r = hanok_client::check_receipt(r?)
                .map_err(|e| BenchError::Setup(format!("warm-up closing step {}: {e}", i + j)))?;
            used[i + j] = r.gas_used;
        }
        i += stage.len();
    }
    let gas: Vec<u64> = used.iter().map(|&u| gas_limit_for(u)).collect();
    let max_gas = gas.iter().copied().max().unwrap_or(PROBE_GAS);

    ctx.say(&format!(
        "pre-signing {closings_per_lane} closings on each of {lanes} lanes ({} transactions)",
        lanes * closings_per_lane * CLOSING_STEPS
    ));
    let mut out = Vec::with_capacity(lanes);
    for (l, lane) in setups.iter().take(lanes).enumerate() {
        let mut all_steps = Vec::new();
        let mut items = Vec::new();
        for k in 0..closings_per_lane {
            let steps = closing_steps(ctx, lane, l, k, deadline);
            for (s, (_, who, nonce, contract, msg)) in steps.iter().enumerate() {
                items.push(ToSign {
                    signer: *who,
                    builder: ctx
                        .builder(*nonce, gas[s])
                        .execute_raw(*contract, msg.clone()),
                });
            }
            all_steps.push(steps);
        }
        let mut signed = sign_all(Arc::new(lane.accounts.clone()), items)
            .await?
            .into_iter();
        let closings = all_steps
            .iter()
            .map(|steps| stages(steps, signed.by_ref().take(steps.len()).collect()))
            .collect();
        out.push(Lane { closings });
    }
    Ok((
        Plan::Closing {
            lanes: out,
            gas: max_gas,
        },
        lanes * LANE_ROLES.len(),
    ))
}

/// A settle desk's accounts, in this order: the broker who opens its deals and sends their
/// settlements, the seller who owns its parcels, the buyer who buys them.
const DESK_ROLES: [(&str, Role); 3] = [
    ("settle-broker", Role::Broker),
    ("settle-seller", Role::Citizen),
    ("settle-buyer", Role::Citizen),
];

/// Setup calls per transaction in the `settle` workload.
const SETTLE_SETUP_CALLS: usize = 32;

/// Gas limit of a `settle` setup transaction: 5 million per call, about ten times the most any
/// of its calls was measured to use (≈ 450,000), so that sixty of these transactions fit a
/// block's gas where ten of [`SETUP_GAS`](crate::setup::SETUP_GAS) would.
const SETTLE_SETUP_GAS: u64 = SETTLE_SETUP_CALLS as u64 * 5_000_000;

/// `settle`: `deals` approved deals (rounded up to a multiple of `desks`) on the system registry,
/// escrow and deal contracts, made before the clock starts; the measured load is their
/// settlements alone, each sent by its desk's broker.
///
/// Each deal is the acceptance story up to approval, on a parcel of its own: the parcel is
/// registered to the desk's seller with bank A's lien of ₩3억; bank B mints the price to the
/// desk's buyer; the broker opens the deal for ₩9억 with bank B as lender (at most ₩6억); the
/// seller accepts; bank B attaches a ₩6억 mortgage; the buyer funds the escrow and signs; the
/// seller signs; two of the three dev officials approve (the system registry's policy is 2 of
/// them). A settlement then pays bank A's lien from the escrow, pays the seller the rest,
/// moves the title to the buyer and records bank B's mortgage.
///
/// Setup sends many calls per transaction, every sender's transactions pipelined and all
/// senders at once, stage by stage (six stages: each needs the one before). Deal ids come from
/// the `open` receipts, so deals opened in parallel on the one deal contract need no
/// prediction. A settlement must come from a party or an official; the desks' brokers send
/// them, `desks` of them so that the mempool's per-account nonce window does not serialise
/// the load (the dev officials are three accounts).
pub(crate) async fn settle(
    ctx: &Ctx,
    desks: usize,
    deals: usize,
) -> Result<(Plan, usize), BenchError> {
    let desks = desks.max(1);
    let per_desk = deals.div_ceil(desks).max(1);
    let total = desks * per_desk;
    let desk: Vec<Vec<Signer>> = (0..desks)
        .map(|d| {
            DESK_ROLES
                .iter()
                .map(|(role, _)| ctx.account(role, d))
                .collect()
        })
        .collect();
    let (broker, seller, buyer) = (
        |d: usize| desk[d][0].clone(),
        |d: usize| desk[d][1].clone(),
        |d: usize| desk[d][2].clone(),
    );
    let officials = [
        ctx.dev("official-1")?,
        ctx.dev("official-2")?,
        ctx.dev("official-3")?,
    ];
    let bank_a = ctx.dev("bank-a")?;
    let bank_b = ctx.dev("bank-b")?;
    let parcel = |d: usize, k: usize| format!("{}-s{d}-{k}", ctx.run);
    let deadline = ctx
        .block_time
        .max(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
        )
        .saturating_add(30 * 24 * 3600);

    ctx.say(&format!(
        "enrolling {} accounts for {desks} settle desks",
        desks * DESK_ROLES.len()
    ));
    let enrol: Vec<(Address, Role)> = desk
        .iter()
        .flat_map(|acc| {
            acc.iter()
                .zip(DESK_ROLES)
                .map(|(a, (_, r))| (a.address(), r))
        })
        .collect();
    ctx.enrol(&enrol).await?;

    // Stage 1: the officials register the parcels to the sellers, each with bank A's lien;
    // bank B mints the buyers their prices.
    ctx.say(&format!(
        "making {total} approved deals ({per_desk} per desk): registering parcels with liens"
    ));
    let mut register: Vec<Vec<SetupCall>> = vec![Vec::new(); officials.len()];
    for (j, (d, k)) in (0..desks)
        .flat_map(|d| (0..per_desk).map(move |k| (d, k)))
        .enumerate()
    {
        let calls = &mut register[j % officials.len()];
        calls.push(exec(
            ctx.sys.registry,
            &register_msg(&parcel(d, k), seller(d).address()),
        ));
        calls.push(exec(
            ctx.sys.registry,
            &registry::ExecuteMsg::RecordLien {
                parcel_id: parcel(d, k),
                holder: bank_a.address(),
                amount: Amount(LIEN),
            },
        ));
    }
    let mut jobs: Vec<(Signer, Vec<SetupCall>)> = officials.iter().cloned().zip(register).collect();
    jobs.push((
        bank_b.clone(),
        (0..desks)
            .map(|d| {
                exec(
                    ctx.sys.krw,
                    &krw::ExecuteMsg::Mint {
                        to: buyer(d).address(),
                        amount: Amount(PRICE * per_desk as u128),
                    },
                )
            })
            .collect(),
    ));
    ctx.batches(jobs, SETTLE_SETUP_CALLS, SETTLE_SETUP_GAS)
        .await?;

    // Bank A files its payoff statement for every lien (each parcel's first encumbrance): the
    // whole registered amount, valid a day past the deadline. Without one a settlement refuses.
    ctx.say("bank A files its payoff statements");
    let statements = (0..desks)
        .flat_map(|d| (0..per_desk).map(move |k| (d, k)))
        .map(|(d, k)| {
            exec(
                ctx.sys.registry,
                &registry::ExecuteMsg::FilePayoff {
                    parcel_id: parcel(d, k),
                    lien_id: 1,
                    amount: Amount(LIEN),
                    valid_until: deadline.saturating_add(24 * 3600),
                },
            )
        })
        .collect();
    ctx.batches(
        vec![(bank_a.clone(), statements)],
        SETTLE_SETUP_CALLS,
        SETTLE_SETUP_GAS,
    )
    .await?;

    // Stage 2: each broker opens its desk's deals; the ids come back in the receipts.
    ctx.say("opening the deals");
    let jobs = (0..desks)
        .map(|d| {
            let calls = (0..per_desk)
                .map(|k| {
                    exec(
                        ctx.sys.deal,
                        &deal::ExecuteMsg::Open {
                            parcel_id: parcel(d, k),
                            seller: seller(d).address(),
                            buyer: buyer(d).address(),
                            price: Amount(PRICE),
                            deadline,
                            lender: Some(deal::Lender {
                                bank: bank_b.address(),
                                max_amount: Amount(MORTGAGE),
                            }),
                            co_sellers: Vec::new(),
                            share_sale: false,
                            schedule: None,
                        },
                    )
                })
                .collect();
            (broker(d), calls)
        })
        .collect();
    let receipts = ctx
        .batches(jobs, SETTLE_SETUP_CALLS, SETTLE_SETUP_GAS)
        .await?;
    let ids: Vec<Vec<u64>> = receipts
        .iter()
        .map(|rs| {
            rs.iter()
                .flat_map(|r| r.results.iter())
                .map(|data| {
                    serde_json::from_slice::<deal::OpenResponse>(data)
                        .map(|o| o.deal_id)
                        .map_err(|e| BenchError::Setup(format!("open's response data: {e}")))
                })
                .collect::<Result<Vec<u64>, _>>()
        })
        .collect::<Result<_, _>>()?;
    if ids.iter().any(|v| v.len() != per_desk) {
        return Err(BenchError::Setup(
            "an open's receipt did not give one deal id per call".into(),
        ));
    }
    let all_ids = || ids.iter().flatten().copied();

    // Stage 3: the sellers accept; bank B, the lender the terms name, attaches the mortgage.
    ctx.say("accepting the deals and attaching the mortgages");
    let mut jobs: Vec<(Signer, Vec<SetupCall>)> = (0..desks)
        .map(|d| {
            let calls = ids[d]
                .iter()
                .map(|&deal_id| exec(ctx.sys.deal, &deal::ExecuteMsg::Accept { deal_id }))
                .collect();
            (seller(d), calls)
        })
        .collect();
    jobs.push((
        bank_b.clone(),
        all_ids()
            .map(|deal_id| {
                exec(
                    ctx.sys.deal,
                    &deal::ExecuteMsg::AttachMortgage {
                        deal_id,
                        amount: Amount(MORTGAGE),
                    },
                )
            })
            .collect(),
    ));
    ctx.batches(jobs, SETTLE_SETUP_CALLS, SETTLE_SETUP_GAS)
        .await?;

    // Stage 4: each buyer funds the escrow and signs the terms (one transaction: the
    // signature needs the deposit, which the call before it made).
    let terms = deal::Terms {
        price: Amount(PRICE),
        deadline,
        lender: Some(bank_b.address()),
        mortgage_amount: Some(Amount(MORTGAGE)),
        schedule: None,
    };
    let sign = |deal_id| exec(ctx.sys.deal, &deal::ExecuteMsg::Sign { deal_id, terms });
    ctx.say("funding the escrow and signing the terms");
    let jobs = (0..desks)
        .map(|d| {
            let calls = ids[d]
                .iter()
                .flat_map(|&deal_id| {
                    [
                        exec(
                            ctx.sys.krw,
                            &krw::ExecuteMsg::Send {
                                contract: ctx.sys.escrow,
                                amount: Amount(PRICE),
                                msg: json(&escrow::FundMsg::Fund { deal_id }),
                            },
                        ),
                        sign(deal_id),
                    ]
                })
                .collect();
            (buyer(d), calls)
        })
        .collect();
    ctx.batches(jobs, SETTLE_SETUP_CALLS, SETTLE_SETUP_GAS)
        .await?;

    // Stage 5: the sellers sign.
    let jobs = (0..desks)
        .map(|d| (seller(d), ids[d].iter().map(|&id| sign(id)).collect()))
        .collect();
    ctx.batches(jobs, SETTLE_SETUP_CALLS, SETTLE_SETUP_GAS)
        .await?;

    // Stage 6: two of the three officials approve each deal, the pairs in turn so that all
    // three work at once.
    ctx.say("approving the deals");
    let mut approve: Vec<Vec<SetupCall>> = vec![Vec::new(); officials.len()];
    for (j, deal_id) in all_ids().enumerate() {
        for o in [j % officials.len(), (j + 1) % officials.len()] {
            approve[o].push(exec(ctx.sys.deal, &deal::ExecuteMsg::Approve { deal_id }));
        }
    }
    ctx.batches(
        officials.iter().cloned().zip(approve).collect(),
        SETTLE_SETUP_CALLS,
        SETTLE_SETUP_GAS,
    )
    .await?;
    let contract = ctx.client().deal(ctx.sys.deal);
    for deal_id in [ids[0][0], ids[desks - 1][per_desk - 1]] {
        let status = contract.deal(deal_id).await?.status;
        if status != deal::Status::Approved {
            return Err(BenchError::Setup(format!(
                "deal {deal_id} is {status} after setup, not approved"
            )));
        }
    }

    // The measured transactions: desk d's broker settles its deals in order.
    let settle_msg = |deal_id| bytes(&deal::ExecuteMsg::Settle { deal_id });
    let brokers: Vec<Signer> = (0..desks).map(broker).collect();
    let mut nonces = Vec::with_capacity(desks);
    for b in &brokers {
        nonces.push(ctx.client().next_nonce(b.address()).await?);
    }
    let probe = ctx
        .builder(nonces[0], PROBE_GAS)
        .execute_raw(ctx.sys.deal, settle_msg(ids[0][0]))
        .sign(&brokers[0])?;
    let gas = gas_limit_for(ctx.simulate_gas(&probe).await?);
    ctx.say(&format!(
        "pre-signing {total} settle transactions (gas limit {gas})"
    ));
    let items = (0..desks)
        .flat_map(|d| (0..per_desk).map(move |k| (d, k)))
        .map(|(d, k)| ToSign {
            signer: d,
            builder: ctx
                .builder(nonces[d] + k as u64, gas)
                .execute_raw(ctx.sys.deal, settle_msg(ids[d][k])),
        })
        .collect();
    let signed = sign_all(Arc::new(brokers), items).await?;
    let streams = Streams::new(signed.chunks(per_desk).map(<[SignedTx]>::to_vec).collect());
    Ok((
        Plan::Txs {
            streams: Arc::new(streams),
            gas,
        },
        desks,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use hanok_node::dev::{DevKeys, SystemContracts};

    #[test]
    fn contract_address_matches_the_vm() {
        let auth = DevKeys::new().authority().address;
        let sys = SystemContracts::of(&auth);
        assert_eq!(contract_address(&auth, "registry"), sys.registry);
        assert_eq!(contract_address(&auth, "deal"), sys.deal);
    }
}

//! The first-home register deployed to a real dev node over gRPC, as its authors would: one
//! signed transaction uploads the wasm and instantiates it; banks then claim through the node.

use hanok_client::{call_result, Client, ClientError, Signer};
use hanok_first_home::{BudgetResponse, Claim};
use hanok_node::{dev::dev_genesis, NodeConfig};
use hanok_sdk::Amount;
use hanok_types::{Address, Hash};
use serde_json::json;

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error>>;

const BENEFIT: u128 = 5_000_000;

fn dev(name: &str) -> Signer {
    Signer::dev(name)
}

fn person_hash(resident_number: &str) -> String {
    let mut input = b"first-home-2027-salt".to_vec();
    input.extend_from_slice(resident_number.as_bytes());
    Hash::sha256(&input).to_hex()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deployed_over_grpc_it_refuses_a_second_claim_by_the_same_person() -> Result {
    let dir = tempfile::tempdir()?;
    let mut config = NodeConfig::dev(dir.path());
    config.listen = "127.0.0.1:0".parse()?;
    config.block_interval_ms = 50;
    let node = hanok_node::start(config, dev_genesis()).await?;
    let client = Client::connect(format!("http://{}", node.local_addr)).await?;

    // The identity contract of the dev genesis, found by its label.
    let authority = dev("authority");
    let identity = client
        .all_contracts()
        .await?
        .into_iter()
        .find(|c| c.label == "identity" && c.creator == authority.address().0.to_vec())
        .and_then(|c| Address::from_slice(&c.address))
        .ok_or("no identity contract")?;

    // Upload + instantiate in one all-or-nothing transaction.
    // The committed module (contracts/artifacts/wasm/first-home.wasm).
    let wasm = hanok_contracts::FIRST_HOME.to_vec();
    let code_hash = Hash::sha256(&wasm);
    let tx = client
        .tx_builder(&authority)
        .await?
        .upload(wasm.clone())
        .instantiate(
            code_hash,
            "first-home-2027",
            None,
            &json!({
                "identity": identity,
                "budget": Amount(10 * BENEFIT),
                "benefit": Amount(BENEFIT),
            }),
        )?
        .sign(&authority)?;
    let receipt = client.submit_and_wait_ok(&tx).await?;
    assert_eq!(
        receipt.results[0],
        code_hash.0.to_vec(),
        "upload returns the code hash"
    );
    let register = Address::from_slice(&receipt.results[1]).ok_or("instantiate result")?;

    // Bank A files a claim for Kim; Bank B's claim for the same person is refused.
    let kim = person_hash("9001011234567");
    let claim = |parcel: &str| json!({"claim": {"person_hash": kim, "parcel_id": parcel}});
    let r = client
        .execute(&dev("bank-a"), register, &claim("1168010300-1-0123-0000"))
        .await?;
    assert!(r.events.iter().any(|e| e.r#type == "benefit_claimed"));
    let _ = call_result(&r, 0)?;
    let err = client
        .execute(&dev("bank-b"), register, &claim("1168010300-1-0999-0000"))
        .await
        .err()
        .ok_or("a second claim for the same person went through")?;
    assert!(
        matches!(&err, ClientError::Contract { message, .. } if message.contains(&format!("already claimed at height {}", r.height))),
        "{err}"
    );
    // A citizen cannot claim at all.
    let err = client
        .execute(&dev("seller"), register, &claim("p-2"))
        .await
        .err()
        .ok_or("a citizen filed a claim")?;
    assert!(err.to_string().contains("only an enrolled bank"), "{err}");

    let record: Option<Claim> = client
        .query(register, &json!({"claim": {"person_hash": kim}}))
        .await?;
    assert_eq!(record.map(|c| c.bank), Some(dev("bank-a").address()));
    let budget: BudgetResponse = client.query(register, &json!({"budget": {}})).await?;
    assert_eq!(budget.remaining, Amount(9 * BENEFIT));
    assert_eq!(budget.claims, 1);

    node.shutdown().await?;
    Ok(())
}

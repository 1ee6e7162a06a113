//! A real (non-dev) genesis from a file: a node started from it in-process, driven with the
//! client SDK; restarts; another genesis on the same data dir; malformed files.

use anyhow::{bail, Context, Result};
use hanok_client::{Client, ClientError, NewParcel, Owner, Role, Signer};
use hanok_ledger::LedgerError;
use hanok_node::genesis_file::{load_node_genesis, GenesisFile};
use hanok_node::{start, Error, NodeConfig, NodeHandle};
use hanok_types::{Address, SecretKey};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

const CHAIN_ID: &str = "hanok-test-genesis-1";

struct Keys {
    authority: SecretKey,
    proposer: SecretKey,
    official: SecretKey,
}

impl Keys {
    /// Fresh keys (not the dev ones); a per-test tag keeps tests apart.
    fn new(tag: &str) -> Keys {
        let k = |who: &str| SecretKey::from_seed(format!("genesis-test/{tag}/{who}").as_bytes());
        Keys {
            authority: k("authority"),
            proposer: k("proposer"),
            official: k("official"),
        }
    }
}

/// Five of the system contracts wired as in the dev genesis (the deal without `tax`), through `$label` placeholders; the
/// proposer in hex, the authority as a did:key.
fn genesis_json(keys: &Keys) -> Value {
    json!({
        "chain_id": CHAIN_ID,
        "time": 1_767_225_600u64,
        "authority": keys.authority.public_key().did(),
        "proposers": [hex::encode(keys.proposer.public_key().to_bytes())],
        "admission": "identity",
        "limits": {"max_block_gas": 5_000_000_000u64},
        "contracts": [
            {"label": "identity", "code": "builtin:identity",
             "msg": {"authority": "$authority"}},
            {"label": "registry", "code": "builtin:registry",
             "msg": {"identity": "$identity", "deal": "$deal",
                     "policy": {"threshold": 1, "officials": [keys.official.address()]}}},
            {"label": "krw", "code": "builtin:krw", "msg": {"identity": "$identity"}},
            {"label": "escrow", "code": "builtin:escrow",
             "msg": {"token": "$krw", "deal": "$deal"}},
            {"label": "deal", "code": "builtin:deal",
             "msg": {"identity": "$identity", "registry": "$registry",
                     "escrow": "$escrow", "token": "$krw"}},
        ],
    })
}

fn write(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

/// Writes a key file readable by its owner only.
fn write_key(path: &Path, key: &SecretKey) -> Result<()> {
    write(path, &format!("{}\n", hex::encode(key.to_bytes())))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}

/// A genesis file and a proposer key in `dir`, and a config naming them.
fn setup(dir: &Path, keys: &Keys, genesis: &Value) -> Result<NodeConfig> {
    let genesis_path = dir.join("genesis.json");
    write(&genesis_path, &serde_json::to_string_pretty(genesis)?)?;
    let key_path = dir.join("proposer.key");
    write_key(&key_path, &keys.proposer)?;
    let mut config = NodeConfig::dev(dir.join("data"));
    config.listen = "127.0.0.1:0".parse()?;
    config.chain_id = CHAIN_ID.into();
    config.block_interval_ms = 20;
    config.request_timeout_ms = 5_000;
    config.genesis = Some(genesis_path);
    config.proposer_key = Some(key_path);
    Ok(config)
}

async fn boot(config: &NodeConfig) -> Result<(NodeHandle, Client)> {
    let genesis = config.node_genesis()?;
    let handle = start(config.clone(), genesis).await?;
    let client = Client::connect(format!("http://{}", handle.local_addr)).await?;
    Ok((handle, client))
}

fn parcel(id: &str, owner: Address) -> NewParcel {
    NewParcel {
        parcel_id: id.into(),
        lot_number: "대치동 123".into(),
        address: "서울특별시 강남구 대치동 123".into(),
        area_m2_hundredths: 8_497,
        land_use: hanok_client::LandUse::Residential,
        owners: vec![Owner {
            owner,
            share_bps: 10_000,
        }],
    }
}

fn addr(authority: &SecretKey, label: &str) -> Address {
    hanok_vm::contract_address(&authority.address(), label)
}

fn expect_status<T: std::fmt::Debug>(
    r: std::result::Result<T, ClientError>,
    code: tonic::Code,
) -> Result<String> {
    match r {
        Err(ClientError::Status { code: c, message }) if c == code => Ok(message),
        other => bail!("expected {code:?}, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_runs_from_a_genesis_file() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let keys = Keys::new("runs");
    let config = setup(dir.path(), &keys, &genesis_json(&keys))?;
    let authority = Signer::new(keys.authority.clone());
    let official = Signer::new(keys.official.clone());
    let owner = SecretKey::from_seed(b"genesis-test/runs/owner").address();
    let identity = addr(&keys.authority, "identity");
    let registry = addr(&keys.authority, "registry");

    let (node, client) = boot(&config).await?;
    let status = client.status().await?;
    assert_eq!(status.chain_id, CHAIN_ID);
    assert_eq!(status.height, 0, "no bootstrap block on a genesis file");

    // Not enrolled yet: the node refuses the official's transaction.
    let refused = client
        .registry(registry)
        .register_parcel(&official, &parcel("G-1", owner))
        .await;
    expect_status(refused, tonic::Code::PermissionDenied)?;

    // The authority (enrolled by the identity contract's instantiation) enrols the official.
    client
        .identity(identity)
        .enrol(&authority, official.address(), &[Role::Official])
        .await
        .context("enrolling the official")?;
    client
        .registry(registry)
        .register_parcel(&official, &parcel("G-1", owner))
        .await
        .context("registering a parcel")?;
    let p = client.registry(registry).parcel("G-1").await?;
    assert_eq!(p.parcel_id, "G-1", "{p:?}");
    assert_eq!(p.owners[0].owner, owner, "{p:?}");

    // A key nobody enrolled is still refused.
    let stranger = Signer::new(SecretKey::from_seed(b"genesis-test/runs/stranger"));
    let refused = client
        .identity(identity)
        .enrol(&stranger, stranger.address(), &[Role::Official])
        .await;
    expect_status(refused, tonic::Code::PermissionDenied)?;

    let height = client.status().await?.height;
    drop(client);
    node.shutdown().await?;

    // Restart on the same data dir with the same genesis: the chain and the parcel are there.
    let (node, client) = boot(&config).await?;
    assert!(client.status().await?.height >= height);
    let p = client.registry(registry).parcel("G-1").await?;
    assert_eq!(p.parcel_id, "G-1", "{p:?}");
    client
        .registry(registry)
        .register_parcel(&official, &parcel("G-2", owner))
        .await
        .context("registering after restart")?;
    drop(client);
    node.shutdown().await?;

    // Another genesis (one field changed) on the same data dir is refused.
    let mut other = genesis_json(&keys);
    other["time"] = json!(1_767_225_601u64);
    let other_config = setup(dir.path(), &keys, &other)?;
    let err = match boot(&other_config).await {
        Ok(_) => bail!("a different genesis was accepted on the same data dir"),
        Err(e) => e,
    };
    let text = format!("{err:#}");
    assert!(text.contains("another genesis"), "{text}");
    Ok(())
}

#[test]
fn the_proposer_key_must_be_listed_and_private() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let keys = Keys::new("proposer");
    let config = setup(dir.path(), &keys, &genesis_json(&keys))?;
    assert!(config.node_genesis().is_ok());

    // The config's chain id must be the genesis chain id.
    let mut wrong_chain = config.clone();
    wrong_chain.chain_id = "hanok-dev-1".into();
    let err = wrong_chain.node_genesis().expect_err("chain id differs");
    assert!(err.to_string().contains(CHAIN_ID), "{err}");

    // The authority's key is not a proposer of this genesis.
    let path = config.genesis.clone().context("genesis")?;
    let err = load_node_genesis(&path, keys.authority.clone()).expect_err("not a proposer");
    assert!(
        matches!(&err, LedgerError::Genesis { field, .. } if field == "proposers"),
        "{err}"
    );

    // A key file others can read is refused, as ssh does.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let key = config.proposer_key.clone().context("key")?;
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644))?;
        let err = config.node_genesis().expect_err("readable by others");
        assert!(
            matches!(err, Error::Ledger(LedgerError::Key { .. })),
            "{err}"
        );
        assert!(err.to_string().contains("chmod 600"), "{err}");
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600))?;
    }

    // Not hex.
    let key = config.proposer_key.clone().context("key")?;
    write(&key, "not a key\n")?;
    let err = config.node_genesis().expect_err("garbage key");
    assert!(err.to_string().contains("64 hex digits"), "{err}");
    assert!(
        !err.to_string().contains("not a key"),
        "never echo a key file: {err}"
    );
    Ok(())
}

/// Resolves `genesis` as written to a file in a tempdir; returns the error's field.
fn field_of_error(genesis: &Value) -> Result<(String, String)> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("genesis.json");
    write(&path, &serde_json::to_string(genesis)?)?;
    let file = match GenesisFile::load(&path) {
        Ok(f) => f,
        Err(LedgerError::Genesis { field, reason, .. }) => return Ok((field, reason)),
        Err(e) => bail!("unexpected error {e}"),
    };
    match file.resolve(&path) {
        Ok(_) => bail!("accepted: {genesis}"),
        Err(LedgerError::Genesis {
            field,
            reason,
            path: p,
        }) => {
            assert_eq!(p, path);
            Ok((field, reason))
        }
        Err(e) => bail!("unexpected error {e}"),
    }
}

#[test]
fn malformed_files_name_the_field() -> Result<()> {
    let keys = Keys::new("malformed");
    let good = genesis_json(&keys);
    let case = |edit: &dyn Fn(&mut Value)| -> Result<(String, String)> {
        let mut g = good.clone();
        edit(&mut g);
        field_of_error(&g)
    };

    let (field, reason) = case(&|g| g["contracts"][1]["code"] = json!("builtin:registri"))?;
    assert_eq!(field, "contracts[1].code");
    assert!(reason.contains("builtin:registri") && reason.contains("builtin:registry"));

    let (field, reason) = case(&|g| g["authority"] = json!("02abcd"))?;
    assert_eq!(field, "authority");
    assert!(reason.contains("33 bytes"), "{reason}");
    let (field, _) = case(&|g| g["authority"] = json!("did:key:zNotAKey"))?;
    assert_eq!(field, "authority");
    let (field, _) = case(&|g| g["proposers"][0] = json!(format!("03{}", "00".repeat(32))))?;
    assert_eq!(field, "proposers[0]");

    let (field, reason) = case(&|g| g["contracts"][1]["msg"]["deal"] = json!("$dael"))?;
    assert_eq!(field, "contracts[1].msg.deal");
    assert!(
        reason.contains("$dael") && reason.contains("$deal"),
        "{reason}"
    );
    let (field, _) = case(&|g| g["contracts"][1]["msg"]["policy"]["officials"][0] = json!("$x"))?;
    assert_eq!(field, "contracts[1].msg.policy.officials[0]");

    let (field, _) = case(&|g| g["admission"] = json!("roles"))?;
    assert_eq!(field, "admission");
    let (field, _) = case(&|g| g["proposers"] = json!([]))?;
    assert_eq!(field, "proposers");
    let (field, _) = case(&|g| g["contracts"][2]["label"] = json!("identity"))?;
    assert_eq!(field, "contracts[2].label");
    let (field, _) = case(&|g| g["contracts"][2]["label"] = json!("authority"))?;
    assert_eq!(field, "contracts[2].label");
    let (field, _) = case(&|g| g["contracts"][3]["code"] = json!("missing/escrow.wasm"))?;
    assert_eq!(field, "contracts[3].code");
    let (field, _) = case(&|g| g["time"] = json!("tomorrow"))?;
    assert_eq!(field, "time");
    let (field, _) = case(&|g| g["limits"]["max_tx_gas"] = json!(10_000_000_000u64))?;
    assert_eq!(field, "limits.max_tx_gas");
    let (field, _) = case(&|g| g["limits"]["max_blok_gas"] = json!(1))?;
    assert_eq!(field, "limits.max_blok_gas");
    let (field, _) = case(&|g| g["contracts"][0]["mgs"] = json!({}))?;
    assert_eq!(field, "contracts[0].mgs");
    let (field, _) = case(&|g| {
        g.as_object_mut().map(|o| o.remove("chain_id"));
    })?;
    assert_eq!(field, "chain_id");
    let (field, _) = case(&|g| g["proposer"] = json!([]))?;
    assert_eq!(field, "proposer");
    // A misspelt field is reported as unknown, not as the correct one missing.
    let (field, reason) = case(&|g| {
        if let Some(o) = g.as_object_mut() {
            o.remove("chain_id");
            o.insert("chain-id".into(), json!(CHAIN_ID));
        }
    })?;
    assert_eq!(field, "chain-id");
    assert!(reason.contains("unknown field"), "{reason}");
    Ok(())
}

#[test]
fn wasm_paths_are_relative_to_the_genesis_file_and_dollar_escapes() -> Result<()> {
    let keys = Keys::new("paths");
    let dir = tempfile::tempdir()?;
    std::fs::create_dir(dir.path().join("code"))?;
    std::fs::write(
        dir.path().join("code/identity.wasm"),
        hanok_contracts::IDENTITY,
    )?;
    let builtin = genesis_json(&keys);
    let mut from_path = builtin.clone();
    from_path["contracts"][0]["code"] = json!("code/identity.wasm");
    let resolve = |g: &Value| -> Result<hanok_node::genesis_file::ResolvedGenesis> {
        let path: PathBuf = dir.path().join("genesis.json");
        write(&path, &serde_json::to_string(g)?)?;
        Ok(GenesisFile::load(&path)?.resolve(&path)?)
    };
    let a = resolve(&builtin)?;
    let b = resolve(&from_path)?;
    assert_eq!(a.genesis.hash(), b.genesis.hash());
    assert_eq!(a.chain.rules.max_block_gas, 5_000_000_000);

    // `$$` is a literal `$`; the resolved message holds addresses, not placeholders.
    let mut escaped = builtin.clone();
    escaped["contracts"][2]["msg"]["note"] = json!("$$5");
    let c = resolve(&escaped)?;
    let msg: Value = serde_json::from_slice(&c.genesis.contracts[2].msg)?;
    assert_eq!(msg["note"], "$5");
    assert_eq!(msg["identity"], json!(addr(&keys.authority, "identity")));
    Ok(())
}

#[test]
fn the_dev_genesis_as_a_file_has_the_dev_genesis_hash() -> Result<()> {
    // Block 0 only: the dev genesis' bootstrap block 1 (the dev accounts' enrolments) cannot be
    // written in a genesis file.
    let text = GenesisFile::dev().to_json();
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("dev.json");
    write(&path, &text)?;
    let resolved = GenesisFile::load(&path)?.resolve(&path)?;
    let dev = hanok_node::dev::dev_genesis();
    assert_eq!(resolved.genesis.hash(), dev.genesis.hash());
    // And the dev authority, as the only dev proposer, can start a node from it.
    let authority = hanok_node::dev::DevKeys::new().authority().key.clone();
    let g = load_node_genesis(&path, authority)?;
    assert!(g.bootstrap.is_empty());
    Ok(())
}

/// The state root after the dev genesis (block 0) is consensus data: it covers every genesis
/// key, among them each contract's binary `ContractInfo` and code. It moves when that encoding,
/// the state layout or the system contracts' wasm change; `UPDATE_EXPECT=1 cargo test -p
/// hanok-node --test genesis` rewrites it, and the commit that does must say why.
#[test]
fn the_dev_genesis_state_root_is_pinned() -> Result<()> {
    let dev = hanok_node::dev::dev_genesis();
    let dir = tempfile::tempdir()?;
    let vm = hanok_vm::Vm::new(hanok_vm::VmConfig::default())?;
    let (chain, _) = hanok_chain::Chain::open(dir.path(), dev.genesis, vm, dev.chain)?;
    assert_eq!(chain.height(), 0);
    expect_test::expect!["b371550cf281a63e0b079f1548abfbd30633179b01c7f473978ec89867374462"]
        .assert_eq(&chain.state_root().to_hex());
    Ok(())
}

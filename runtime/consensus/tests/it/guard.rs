//! What a node refuses: foreign chains, unauthorized callers, malformed payloads; and what halts
//! it: a ledger that diverges.

use crate::harness::{Cluster, GENESIS};
use hanok_consensus::{Applied, Authorize, Consensus, ConsensusConfig, Role};
use hanok_proto::v1::raft_client::RaftClient;
use hanok_proto::v1::{HelloRequest, RaftRequest};
use std::sync::Arc;
use tokio::net::TcpListener;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refuses_foreign_genesis_unauthorized_callers_and_malformed_payloads() -> anyhow::Result<()>
{
    let cluster = Cluster::start(1, |_| {}).await?;
    let node = &cluster.nodes[0];
    cluster.leader().await?;
    let mut client = RaftClient::connect(format!("http://{}", node.member.addr)).await?;

    let other = [9u8; 32];
    let status = client
        .append_entries(RaftRequest {
            genesis_hash: other.to_vec(),
            from: 42,
            payload: vec![1, 2, 3],
        })
        .await
        .expect_err("a foreign chain is refused");
    assert_eq!(status.code(), tonic::Code::FailedPrecondition);
    assert!(status.message().contains(&hex::encode(other)), "{status:?}");
    assert!(
        status.message().contains(&hex::encode(GENESIS)),
        "{status:?}"
    );

    // Same chain, garbage payload: INVALID_ARGUMENT, and the node keeps running.
    for payload in [vec![], vec![0xff; 7], vec![1; 100]] {
        let status = client
            .vote(RaftRequest {
                genesis_hash: GENESIS.to_vec(),
                from: 42,
                payload,
            })
            .await
            .expect_err("garbage is refused");
        assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    }
    assert_eq!(node.c().status().role, Role::Leader);

    // A snapshot chunk may not jump ahead: openraft would allocate up to its offset.
    let chunk =
        hanok_consensus::openraft::raft::InstallSnapshotRequest::<hanok_consensus::TypeConfig> {
            vote: hanok_consensus::openraft::Vote::new_committed(1, 1),
            meta: Default::default(),
            offset: 1 << 50,
            data: vec![1, 2, 3],
            done: false,
        };
    let status = client
        .install_snapshot(RaftRequest {
            genesis_hash: GENESIS.to_vec(),
            from: 42,
            payload: postcard::to_stdvec(&chunk)?,
        })
        .await
        .expect_err("a jump ahead is refused");
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    assert_eq!(node.c().status().role, Role::Leader);

    // Hello answers whatever the caller's chain, so the caller can name both hashes.
    let hello = node.c().hello(&node.member.addr).await?;
    assert_eq!((hello.id, hello.name.as_str()), (1, "bank-1"));
    assert_eq!(hello.genesis_hash, GENESIS);
    let reply = client
        .hello(HelloRequest {
            genesis_hash: other.to_vec(),
            from: 42,
        })
        .await?
        .into_inner();
    assert_eq!(reply.genesis_hash, GENESIS.to_vec());

    // A service whose authorize refuses answers PERMISSION_DENIED before looking at anything.
    let deny: Authorize = Arc::new(|_| Err("certificate names no member".into()));
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let service = node.c().service(deny);
    let server = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
    );
    let mut denied = RaftClient::connect(format!("http://{addr}")).await?;
    let status = denied
        .append_entries(RaftRequest {
            genesis_hash: other.to_vec(),
            from: 42,
            payload: vec![],
        })
        .await
        .expect_err("unauthorized");
    assert_eq!(status.code(), tonic::Code::PermissionDenied);
    assert!(status.message().contains("certificate names no member"));
    server.abort();
    cluster.shutdown().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_on_another_chain_never_joins() -> anyhow::Result<()> {
    let cluster = Cluster::start(1, |_| {}).await?;
    cluster.leader().await?;
    let node = &cluster.nodes[0];
    // A node of another consortium that believes node 1 is one of its voters.
    let tmp = tempfile::tempdir()?;
    let mut members = cluster.members.clone();
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    members.push(hanok_consensus::Member {
        id: 2,
        name: "intruder".into(),
        addr: listener.local_addr()?.to_string(),
    });
    let mut config = ConsensusConfig::new(2, members, tmp.path().join("raft"), [9; 32]);
    config.election_timeout_min_ms = 300;
    config.election_timeout_max_ms = 400;
    config.heartbeat_ms = 50;
    let machine = Arc::new(crate::harness::MemMachine::default());
    let intruder = Consensus::start(config, machine).await?;
    // It campaigns against node 1, which refuses every vote request (FAILED_PRECONDITION, logged
    // with both hashes on the intruder's side). Node 1 keeps leading its own chain, in its term.
    let term = node.c().status().term;
    let hello = intruder.hello(&node.member.addr).await?;
    assert_eq!(hello.genesis_hash, GENESIS);
    assert_ne!(hello.genesis_hash, [9; 32]);
    let err = intruder
        .check_genesis(&node.member.addr)
        .await
        .expect_err("another chain");
    let msg = err.to_string();
    assert!(
        msg.contains(&hex::encode(GENESIS)) && msg.contains(&hex::encode([9u8; 32])),
        "{msg}"
    );
    assert_eq!(
        node.c()
            .check_genesis(&node.member.addr)
            .await?
            .genesis_hash,
        GENESIS
    );
    crate::harness::eventually("the intruder campaigned and was refused twice", || {
        intruder.status().term >= 3
    })
    .await?;
    let s = node.c().status();
    assert_eq!((s.role, s.term), (Role::Leader, term));
    assert_ne!(intruder.status().role, Role::Leader);
    intruder.shutdown().await?;
    drop(listener);
    cluster.shutdown().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_diverging_ledger_halts_its_node_and_the_others_go_on() -> anyhow::Result<()> {
    let cluster = Cluster::start(3, |_| {}).await?;
    for h in 1..=3 {
        cluster.propose_next(&format!("block {h}")).await?;
    }
    cluster.converge(3).await?;
    let leader = cluster.leader().await?;
    let bad = (leader + 1) % 3;
    *cluster.nodes[bad].machine.diverge_at.lock().expect("lock") = Some(5);
    for h in 4..=10u64 {
        assert_eq!(
            cluster.propose_next(&format!("block {h}")).await?,
            Applied::Committed { height: h }
        );
    }
    crate::harness::eventually("the diverging node halts", || {
        cluster.nodes[bad].c().halted().is_some()
    })
    .await?;
    let reason = cluster.nodes[bad].c().halted().unwrap_or_default();
    assert!(reason.contains("state root of block 5 differs"), "{reason}");
    assert_eq!(cluster.nodes[bad].machine.height(), 4);
    assert_eq!(cluster.nodes[bad].c().status().role, Role::Shutdown);
    // It refuses writes with the reason.
    let b = cluster.nodes[bad].machine.next_block(b"x");
    let err = cluster.nodes[bad]
        .c()
        .propose(b)
        .await
        .expect_err("halted node takes no writes");
    assert!(err.to_string().contains("halted"), "{err}");
    cluster.converge(10).await?;
    cluster.shutdown().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ledger_behind_the_raft_state_refuses_to_start() -> anyhow::Result<()> {
    let mut cluster = Cluster::start(1, |_| {}).await?;
    for h in 1..=3 {
        cluster.propose_next(&format!("block {h}")).await?;
    }
    cluster.stop(0).await?;
    // The ledger was lost (restored from an old backup) but the Raft dir was kept.
    cluster.nodes[0].machine = Arc::new(crate::harness::MemMachine::default());
    let err = cluster
        .restart(0)
        .await
        .expect_err("a ledger behind the Raft state must not start");
    let msg = format!("{err:#}");
    assert!(
        msg.contains("ledger is at height 0") && msg.contains("height 3"),
        "{msg}"
    );
    Ok(())
}

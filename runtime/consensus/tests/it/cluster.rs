//! Three nodes: ordering, NotLeader, status, fail-over, and restart from the Raft dir.

use crate::harness::{eventually, Cluster, DEADLINE};
use hanok_consensus::{Applied, ConsensusError, Role};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_order_blocks_fail_over_and_restart() -> anyhow::Result<()> {
    let mut cluster = Cluster::start(3, |_| {}).await?;
    let leader = cluster.leader().await?;
    let leader_member = cluster.nodes[leader].member.clone();
    assert_eq!(
        cluster.nodes[leader].c().wait_for_leader(DEADLINE).await?,
        leader_member
    );

    // 50 blocks through the leader, each committed and applied there before propose returns.
    for h in 1..=50u64 {
        let applied = cluster.propose_next(&format!("block {h}")).await?;
        assert_eq!(applied, Applied::Committed { height: h });
    }
    cluster.converge(50).await?;
    let hashes = cluster.nodes[0].machine.hashes();
    for n in &cluster.nodes {
        assert_eq!(n.machine.hashes(), hashes, "node {} differs", n.member.id);
    }

    // A follower refuses to propose and names the leader.
    let follower = (leader + 1) % 3;
    let b = cluster.nodes[follower]
        .machine
        .next_block(b"from a follower");
    match cluster.nodes[follower].c().propose(b).await {
        Err(ConsensusError::NotLeader { leader: Some(m) }) => assert_eq!(m, leader_member),
        other => panic!("expected NotLeader naming {leader_member}, got {other:?}"),
    }

    // The leader sees every member at height 50.
    eventually("the leader sees all members at height 50", || {
        let s = cluster.nodes[leader].c().status();
        s.role == Role::Leader
            && s.applied_height == 50
            && s.members.len() == 3
            && s.members.iter().all(|m| m.matched_height == Some(50))
    })
    .await?;
    eventually("the follower reports height 50", || {
        cluster.nodes[follower].c().status().applied_height == 50
    })
    .await?;
    let s = cluster.nodes[follower].c().status();
    assert_eq!(s.role, Role::Follower);
    assert_eq!(s.leader, Some(leader_member.clone()));
    assert!(s.committed_index >= s.applied_index);

    // Stop the leader: the others elect a new one and go on committing.
    let old_term = s.term;
    let old_last_log = cluster.nodes[leader].c().status().last_log_index;
    cluster.stop(leader).await?;
    let new_leader = cluster.leader().await?;
    assert_ne!(new_leader, leader);
    assert!(cluster.nodes[new_leader].c().status().term > old_term);
    for h in 51..=60u64 {
        assert_eq!(
            cluster.propose_next(&format!("block {h}")).await?,
            Applied::Committed { height: h }
        );
    }

    // Restart the old leader from its dir: its log survived, and it catches up.
    cluster.restart(leader).await?;
    let s = cluster.nodes[leader].c().status();
    assert!(
        s.last_log_index >= old_last_log,
        "log lost: {:?} < {old_last_log:?}",
        s.last_log_index
    );
    assert!(
        s.term >= old_term,
        "vote lost: term {} < {old_term}",
        s.term
    );
    cluster.converge(60).await?;
    assert_eq!(
        cluster.nodes[leader].machine.hashes(),
        cluster.nodes[new_leader].machine.hashes()
    );
    // And it takes part again: a further block reaches all three.
    assert_eq!(
        cluster.propose_next("block 61").await?,
        Applied::Committed { height: 61 }
    );
    cluster.converge(61).await?;

    // Stop everyone, then restart one node alone: with no peer to catch up from, what it shows
    // is what it persisted (its vote's term and its whole log).
    let before: Vec<_> = cluster
        .nodes
        .iter()
        .map(|n| {
            let s = n.c().status();
            (s.term, s.last_log_index)
        })
        .collect();
    for i in 0..3 {
        cluster.stop(i).await?;
    }
    cluster.restart(follower).await?;
    let (term, last_log) = before[follower];
    eventually(
        "the lone restarted node shows its persisted vote and log",
        || {
            let s = cluster.nodes[follower].c().status();
            s.term >= term && s.last_log_index == last_log
        },
    )
    .await?;
    for i in (0..3).filter(|i| *i != follower) {
        cluster.restart(i).await?;
    }
    assert_eq!(
        cluster.propose_next("block 62").await?,
        Applied::Committed { height: 62 }
    );
    cluster.converge(62).await?;
    cluster.shutdown().await
}

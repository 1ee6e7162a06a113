//! Log purge and snapshots: a node that was down catches up from the block log; a new member is
//! added as learner then voter.

use crate::harness::{eventually, Cluster};
use anyhow::Context as _;
use hanok_consensus::Role;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lagging_node_and_new_member_catch_up_through_snapshots() -> anyhow::Result<()> {
    let mut cluster = Cluster::start(3, |c| {
        c.snapshot_logs_since_last = 10;
        c.max_in_snapshot_log_to_keep = 0;
    })
    .await?;
    for h in 1..=5 {
        cluster.propose_next(&format!("block {h}")).await?;
    }
    cluster.converge(5).await?;

    let leader = cluster.leader().await?;
    let down = (leader + 1) % 3;
    let down_last_log = cluster.nodes[down].c().status().last_log_index;
    cluster.stop(down).await?;
    for h in 6..=45 {
        cluster.propose_next(&format!("block {h}")).await?;
    }
    // The others purged their Raft logs beyond what the stopped node has.
    let leader = cluster.leader().await?;
    eventually("the leader purged beyond the stopped node's log", || {
        let m = cluster.nodes[leader].c().raft().metrics().borrow().clone();
        m.purged.map(|p| p.index) > down_last_log
    })
    .await?;

    cluster.restart(down).await?;
    cluster
        .converge(45)
        .await
        .context("the restarted node catches up")?;
    let m = cluster.nodes[down].c().raft().metrics().borrow().clone();
    assert!(m.snapshot.is_some(), "caught up without a snapshot");
    assert_eq!(
        cluster.nodes[down].machine.hashes(),
        cluster.nodes[leader].machine.hashes()
    );

    // A fourth organisation joins with an empty ledger: learner, then voter.
    let leader = cluster.leader().await?;
    let new = cluster.add_node().await?;
    let member = cluster.nodes[new].member.clone();
    cluster.nodes[leader].c().add_member(member.clone()).await?;
    cluster.converge(45).await?;
    let s = cluster.nodes[leader].c().status();
    assert!(s.members.iter().any(|m| m.member == member));
    eventually("the new member follows as a voter", || {
        cluster.nodes[new].c().status().role == Role::Follower
    })
    .await?;
    cluster.propose_next("block 46").await?;
    cluster.converge(46).await?;
    cluster.shutdown().await
}

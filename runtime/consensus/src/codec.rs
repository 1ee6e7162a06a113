//! postcard encoding of openraft messages and store records.

use serde::de::DeserializeOwned;
use serde::Serialize;

/// Encodes a value with postcard.
pub(crate) fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, postcard::Error> {
    postcard::to_stdvec(value)
}

/// Decodes a postcard value that must fill `bytes` exactly (trailing bytes are an error).
pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, postcard::Error> {
    match postcard::take_from_bytes(bytes)? {
        (value, []) => Ok(value),
        _ => Err(postcard::Error::DeserializeBadEncoding),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Applied, BlockBytes, Member, NodeId, TypeConfig};
    use openraft::error::{ForwardToLeader, RaftError};
    use openraft::raft::{AppendEntriesRequest, AppendEntriesResponse, VoteRequest};
    use openraft::{CommittedLeaderId, Entry, EntryPayload, LogId, Membership, Vote};
    use std::collections::{BTreeMap, BTreeSet};

    fn log_id(term: u64, index: u64) -> LogId<NodeId> {
        LogId::new(CommittedLeaderId::new(term, 1), index)
    }

    #[test]
    fn append_entries_with_a_block_round_trips_and_keeps_the_block_bytes_verbatim() {
        let block: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
        let members = BTreeMap::from([(
            1,
            Member {
                id: 1,
                name: "bank-a".into(),
                addr: "127.0.0.1:7000".into(),
            },
        )]);
        let req = AppendEntriesRequest::<TypeConfig> {
            vote: Vote::new_committed(3, 1),
            prev_log_id: Some(log_id(3, 9)),
            entries: vec![
                Entry {
                    log_id: log_id(3, 10),
                    payload: EntryPayload::Normal(BlockBytes(block.clone())),
                },
                Entry {
                    log_id: log_id(3, 11),
                    payload: EntryPayload::Membership(Membership::new(
                        vec![BTreeSet::from([1])],
                        members,
                    )),
                },
                Entry {
                    log_id: log_id(3, 12),
                    payload: EntryPayload::Blank,
                },
            ],
            leader_commit: Some(log_id(3, 9)),
        };
        let bytes = encode(&req).expect("encode");
        // The block is carried as a byte string: 1000 bytes plus a little framing, and the
        // bytes appear verbatim.
        assert!(bytes.len() < block.len() + 200, "{} bytes", bytes.len());
        assert!(bytes.windows(block.len()).any(|w| w == block.as_slice()));
        let back: AppendEntriesRequest<TypeConfig> = decode(&bytes).expect("decode");
        assert_eq!(back.vote, req.vote);
        assert_eq!(back.prev_log_id, req.prev_log_id);
        assert_eq!(back.leader_commit, req.leader_commit);
        assert_eq!(back.entries, req.entries);
    }

    #[test]
    fn replies_and_errors_round_trip() {
        let ok: Result<AppendEntriesResponse<NodeId>, RaftError<NodeId>> =
            Ok(AppendEntriesResponse::Conflict);
        let back: Result<AppendEntriesResponse<NodeId>, RaftError<NodeId>> =
            decode(&encode(&ok).expect("encode")).expect("decode");
        assert_eq!(back, ok);

        let err: Result<AppendEntriesResponse<NodeId>, RaftError<NodeId>> =
            Err(RaftError::Fatal(openraft::error::Fatal::Stopped));
        let back: Result<AppendEntriesResponse<NodeId>, RaftError<NodeId>> =
            decode(&encode(&err).expect("encode")).expect("decode");
        assert_eq!(back, err);

        let vote = VoteRequest::<NodeId>::new(Vote::new(4, 2), Some(log_id(3, 7)));
        let back: VoteRequest<NodeId> = decode(&encode(&vote).expect("encode")).expect("decode");
        assert_eq!(back, vote);

        let fwd: ForwardToLeader<NodeId, Member> = ForwardToLeader::empty();
        let back: ForwardToLeader<NodeId, Member> =
            decode(&encode(&fwd).expect("encode")).expect("decode");
        assert_eq!(back, fwd);

        let applied = Some(Applied::Skipped {
            reason: "stale".into(),
        });
        let back: Option<Applied> = decode(&encode(&applied).expect("encode")).expect("decode");
        assert_eq!(back, applied);
    }

    #[test]
    fn malformed_payloads_are_errors_not_panics() {
        for junk in [&[][..], &[0xff; 3][..], &[1, 2, 3, 4, 5, 6, 7, 8, 9][..]] {
            assert!(decode::<AppendEntriesRequest<TypeConfig>>(junk).is_err());
        }
    }
}

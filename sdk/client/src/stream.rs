//! [`Client::submit_stream`](crate::Client::submit_stream)'s two halves: [`SubmitSender`] and
//! [`SubmitReceiver`], over one `Ledger.SubmitStream` call.

use crate::error::{ClientError, Result};
use crate::tx::SignedTx;
use hanok_proto::v1;
use hanok_proto::v1::submit_stream_response::Outcome;
use hanok_types::Hash;
use tokio::sync::mpsc;

/// Requests queued on this side before [`SubmitSender::send`] waits for the node to read.
pub(crate) const SEND_BUFFER: usize = 64;

/// The sending half of a submit stream. Each transaction sent gets exactly one answer on the
/// [`SubmitReceiver`], with the position [`SubmitSender::send`] returned.
///
/// Dropping it (or [`SubmitSender::close`]) half-closes the stream: the node answers
/// everything sent, then ends the stream.
#[derive(Debug)]
pub struct SubmitSender {
    tx: mpsc::Sender<v1::SubmitRequest>,
    next: u64,
}

impl SubmitSender {
    pub(crate) fn new(tx: mpsc::Sender<v1::SubmitRequest>) -> SubmitSender {
        SubmitSender { tx, next: 0 }
    }

    /// Sends `tx` and returns its position in the stream (the `seq` of its answer, counted
    /// from 0). Waits while the node reads no more: it has its window of transactions
    /// unanswered (`submit_stream_window`, 1,024 by default), or its answers wait for the
    /// receiver to be read — so read the receiver concurrently, from another task.
    ///
    /// # Errors
    /// [`ClientError::Transport`] when the stream has ended (the receiver says why).
    pub async fn send(&mut self, tx: &SignedTx) -> Result<u64> {
        let seq = self.next;
        self.tx
            .send(v1::SubmitRequest {
                tx: Some(tx.as_proto().clone()),
            })
            .await
            .map_err(|_| {
                ClientError::Transport(
                    "the submit stream has ended; its receiver says why".to_string(),
                )
            })?;
        self.next = self.next.saturating_add(1);
        Ok(seq)
    }

    /// How many transactions were sent.
    pub fn sent(&self) -> u64 {
        self.next
    }

    /// Half-closes the stream: nothing more will be sent. The receiver still gets an answer for
    /// each transaction sent, then the end of the stream.
    pub fn close(self) {}
}

/// One answer of a submit stream.
#[derive(Debug)]
pub struct SubmitAnswer {
    /// The transaction's position in the stream, as [`SubmitSender::send`] returned it.
    pub seq: u64,
    /// Its hash.
    pub tx_hash: Hash,
    /// Its receipt once committed, whatever its status (use
    /// [`check_receipt`](crate::check_receipt) to turn a failure into an error); or why it has
    /// none: [`ClientError::Status`] with the node's refusal (the code and message a unary
    /// `Submit` would have answered, or `ABORTED` when it was evicted from the mempool), or
    /// [`ClientError::Timeout`] when it was admitted but not committed within the node's wait
    /// (it may still commit: ask [`Client::receipt`](crate::Client::receipt) later).
    pub outcome: Result<v1::Receipt>,
}

/// The receiving half of a submit stream: one answer per transaction sent, refusals as soon
/// as the node knows them, receipts in commit order (block height, then position in the block).
#[derive(Debug)]
pub struct SubmitReceiver {
    inner: tonic::Streaming<v1::SubmitStreamResponse>,
}

impl SubmitReceiver {
    pub(crate) fn new(inner: tonic::Streaming<v1::SubmitStreamResponse>) -> SubmitReceiver {
        SubmitReceiver { inner }
    }

    /// The next answer; `None` once the sender was closed and everything sent is answered.
    ///
    /// # Errors
    /// [`ClientError::Status`] when the stream ends early: `UNAVAILABLE` when the node stops
    /// (what was sent and not answered may still commit: ask for receipts),
    /// `RESOURCE_EXHAUSTED` when this receiver took no answer for the node's stall timeout;
    /// [`ClientError::Transport`] when the connection is lost; [`ClientError::Decode`] for an
    /// answer without an outcome or with a malformed hash.
    pub async fn next(&mut self) -> Result<Option<SubmitAnswer>> {
        let Some(r) = self.inner.message().await? else {
            return Ok(None);
        };
        let tx_hash = Hash::from_slice(&r.tx_hash).ok_or_else(|| {
            ClientError::Decode(format!(
                "answer {}: tx_hash is {} bytes, not 32",
                r.seq,
                r.tx_hash.len()
            ))
        })?;
        let outcome = match r.outcome {
            Some(Outcome::Receipt(receipt)) => Ok(receipt),
            Some(Outcome::Refused(refusal)) => Err(match tonic::Code::from_i32(refusal.code) {
                tonic::Code::DeadlineExceeded => ClientError::Timeout {
                    tx_hash: tx_hash.to_hex(),
                },
                code => ClientError::Status {
                    code,
                    message: refusal.message,
                },
            }),
            None => {
                return Err(ClientError::Decode(format!(
                    "answer {} has neither a receipt nor a refusal",
                    r.seq
                )))
            }
        };
        Ok(Some(SubmitAnswer {
            seq: r.seq,
            tx_hash,
            outcome,
        }))
    }
}

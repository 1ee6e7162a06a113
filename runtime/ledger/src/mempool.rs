//! [`Mempool`]: checked transactions waiting for a block, per account in nonce order, bounded.

use hanok_types::{Address, CheckedTx, Hash};
use std::collections::{BTreeMap, HashMap, HashSet};

/// Why the mempool refused a transaction.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MempoolError {
    /// The pool holds `capacity` transactions already.
    #[error("mempool full ({capacity} transactions); retry after the next block")]
    Full {
        /// Total capacity.
        capacity: usize,
    },
    /// The sender has too many transactions waiting.
    #[error("sender {sender} already has {limit} transactions waiting, the per-account limit; wait for them to commit")]
    AccountFull {
        /// The sender.
        sender: Address,
        /// Per-account limit.
        limit: usize,
    },
    /// The nonce is further ahead of the sender's next nonce than the pool lets wait.
    #[error("nonce {got} is too far ahead of the sender's next nonce {expected} (at most {max_gap} ahead may wait); submit the missing nonces first")]
    NonceGap {
        /// The next nonce the pool expects.
        expected: u64,
        /// The nonce sent.
        got: u64,
        /// How far ahead a tx may be.
        max_gap: u64,
    },
    /// The nonce is below the next nonce: already used (committed or being committed).
    #[error("nonce {got} is already used; the sender's next nonce is {expected}: query GetAccount for next_nonce and re-sign")]
    NonceUsed {
        /// The next nonce.
        expected: u64,
        /// The nonce sent.
        got: u64,
    },
    /// Another transaction with this nonce is already waiting.
    #[error("another transaction of this sender with nonce {nonce} is already waiting (tx {existing}); replacement is not supported")]
    NonceTaken {
        /// The nonce.
        nonce: u64,
        /// The waiting transaction.
        existing: Hash,
    },
    /// This exact transaction is already waiting.
    #[error("transaction {0} is already in the mempool")]
    Duplicate(Hash),
}

/// A transaction's size as the block carries it: its body and its signature.
fn tx_bytes(tx: &CheckedTx) -> usize {
    tx.body_bytes()
        .len()
        .saturating_add(hanok_types::SIGNATURE_LEN)
}

#[derive(Debug, Default)]
struct Account {
    /// Nonce of the next transaction not yet handed to the block producer.
    next: u64,
    waiting: BTreeMap<u64, CheckedTx>,
}

/// A transaction's share of a block's encoding: its bytes plus protobuf framing.
fn encoded_len(tx: &CheckedTx) -> usize {
    tx.body_bytes()
        .len()
        .saturating_add(tx.signature().len())
        .saturating_add(16)
}

/// Waiting transactions. Not thread-safe by itself: the node holds it in a mutex and every
/// operation is short.
#[derive(Debug)]
pub struct Mempool {
    capacity: usize,
    per_account: usize,
    len: usize,
    accounts: HashMap<Address, Account>,
    /// Senders in the order they first got a ready transaction, for fair block filling.
    order: Vec<Address>,
    /// Hashes waiting or handed to the producer and not yet committed.
    known: HashSet<Hash>,
}

impl Mempool {
    /// An empty pool holding at most `capacity` transactions, `per_account` per sender.
    pub fn new(capacity: usize, per_account: usize) -> Mempool {
        Mempool {
            capacity,
            per_account: per_account.max(1),
            len: 0,
            accounts: HashMap::new(),
            order: Vec::new(),
            known: HashSet::new(),
        }
    }

    /// Transactions waiting.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether `hash` is waiting or in a block being produced.
    pub fn contains(&self, hash: &Hash) -> bool {
        self.known.contains(hash)
    }

    /// Adds `tx`, whose sender's committed next nonce is `chain_next`. A nonce above the next
    /// one waits (up to the per-account limit ahead) until the gap is filled.
    ///
    /// # Errors
    /// [`MempoolError`], each saying what to do.
    pub fn insert(&mut self, tx: CheckedTx, chain_next: u64) -> Result<(), MempoolError> {
        let hash = tx.hash();
        if self.known.contains(&hash) {
            return Err(MempoolError::Duplicate(hash));
        }
        let sender = tx.sender();
        let per_account = self.per_account;
        let account = self.accounts.entry(sender).or_default();
        account.next = account.next.max(chain_next);
        let nonce = tx.nonce();
        let result = if nonce < account.next {
            Err(MempoolError::NonceUsed {
                expected: account.next,
                got: nonce,
            })
        } else if let Some(existing) = account.waiting.get(&nonce) {
            Err(MempoolError::NonceTaken {
                nonce,
                existing: existing.hash(),
            })
        } else if account.waiting.len() >= per_account {
            // Before the gap check: with the account full, every nonce it lacks is at least
            // `per_account` ahead, and "submit the missing nonces first" would be wrong advice
            // (none is missing; the sender has to wait for its transactions to commit).
            Err(MempoolError::AccountFull {
                sender,
                limit: per_account,
            })
        } else if nonce.saturating_sub(account.next) >= per_account as u64 {
            Err(MempoolError::NonceGap {
                expected: account.next,
                got: nonce,
                max_gap: per_account.saturating_sub(1) as u64,
            })
        } else if self.len >= self.capacity {
            Err(MempoolError::Full {
                capacity: self.capacity,
            })
        } else {
            account.waiting.insert(nonce, tx);
            Ok(())
        };
        match result {
            Ok(()) => {
                self.len = self.len.saturating_add(1);
                self.known.insert(hash);
                if !self.order.contains(&sender) {
                    self.order.push(sender);
                }
                Ok(())
            }
            Err(e) => {
                if self
                    .accounts
                    .get(&sender)
                    .is_some_and(|a| a.waiting.is_empty())
                {
                    self.accounts.remove(&sender);
                }
                Err(e)
            }
        }
    }

    /// Whether at least `n` transactions are ready (their nonces follow without a gap).
    pub fn ready_at_least(&self, n: usize) -> bool {
        let mut count = 0usize;
        for a in self.accounts.values() {
            let mut next = a.next;
            while a.waiting.contains_key(&next) {
                count = count.saturating_add(1);
                if count >= n {
                    return true;
                }
                next = next.saturating_add(1);
            }
        }
        false
    }

    /// Takes up to `max` ready transactions whose gas limits sum to at most `max_gas`, and whose
    /// encodings to at most `max_bytes`, for the next block: per sender in nonce order, senders
    /// taking turns so one busy account cannot starve the others, and each sender's transactions
    /// in the block adding up to at most `max_account_bytes` (its first one always fits, so a
    /// transaction within the size limit is never stuck): one key sending large transactions
    /// cannot fill the block. What does not fit waits for the next block.
    pub fn take_ready(
        &mut self,
        max: usize,
        max_gas: u64,
        max_bytes: usize,
        max_account_bytes: usize,
    ) -> Vec<CheckedTx> {
        let mut out = Vec::new();
        let mut gas: u64 = 0;
        let mut total: usize = 0;
        let mut bytes: HashMap<Address, usize> = HashMap::new();
        let mut progress = true;
        while out.len() < max && progress {
            progress = false;
            for sender in &self.order {
                if out.len() >= max {
                    break;
                }
                let Some(a) = self.accounts.get_mut(sender) else {
                    continue;
                };
                let taken = bytes.get(sender).copied().unwrap_or(0);
                let fits = a.waiting.get(&a.next).is_some_and(|tx| {
                    gas.saturating_add(tx.gas_limit()) <= max_gas
                        && total.saturating_add(encoded_len(tx)) <= max_bytes
                        && (taken == 0 || taken.saturating_add(tx_bytes(tx)) <= max_account_bytes)
                });
                if !fits {
                    continue;
                }
                if let Some(tx) = a.waiting.remove(&a.next) {
                    gas = gas.saturating_add(tx.gas_limit());
                    total = total.saturating_add(encoded_len(&tx));
                    bytes.insert(*sender, taken.saturating_add(tx_bytes(&tx)));
                    a.next = a.next.saturating_add(1);
                    self.len = self.len.saturating_sub(1);
                    out.push(tx);
                    progress = true;
                }
            }
        }
        out
    }

    /// Puts back transactions [`Self::take_ready`] handed out for a block that was not
    /// committed (its proposal or commit failed before it was durable), so they go into a
    /// later block. Their hashes are still known, so nobody could have submitted them again.
    pub fn restore(&mut self, txs: Vec<CheckedTx>) {
        for tx in txs {
            let sender = tx.sender();
            // An account emptied meanwhile may have been dropped; it resumes at this nonce.
            let account = self.accounts.entry(sender).or_insert_with(|| Account {
                next: tx.nonce(),
                waiting: BTreeMap::new(),
            });
            account.next = account.next.min(tx.nonce());
            if account.waiting.insert(tx.nonce(), tx).is_none() {
                self.len = self.len.saturating_add(1);
            }
            if !self.order.contains(&sender) {
                self.order.push(sender);
            }
        }
    }

    /// After a block: forgets the committed hashes, sets each touched sender's next nonce from
    /// the chain (`next_nonce`), and evicts transactions that can no longer be included (nonce
    /// used, or expired at `height + 1`). Returns the evicted transactions' hashes and why.
    pub fn after_block(
        &mut self,
        committed: &[Hash],
        height: u64,
        mut next_nonce: impl FnMut(&Address) -> u64,
    ) -> Vec<(Hash, String)> {
        for h in committed {
            self.known.remove(h);
        }
        let mut evicted = Vec::new();
        for (sender, a) in self.accounts.iter_mut() {
            a.next = next_nonce(sender);
            let next = a.next;
            let stale: Vec<u64> = a
                .waiting
                .iter()
                .filter(|(n, tx)| **n < next || tx.expiry_height() <= height)
                .map(|(n, _)| *n)
                .collect();
            for n in stale {
                if let Some(tx) = a.waiting.remove(&n) {
                    let why = if n < next {
                        format!(
                            "nonce {n} was used by another transaction; the next nonce is {next}"
                        )
                    } else {
                        format!(
                            "expired: expiry_height {} and the next block is {}",
                            tx.expiry_height(),
                            height.saturating_add(1)
                        )
                    };
                    self.len = self.len.saturating_sub(1);
                    self.known.remove(&tx.hash());
                    evicted.push((tx.hash(), why));
                }
            }
        }
        self.accounts.retain(|_, a| !a.waiting.is_empty());
        let accounts = &self.accounts;
        self.order.retain(|s| accounts.contains_key(s));
        evicted
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hanok_proto::v1;
    use hanok_types::{sign_body, SecretKey};

    fn tx(key: &SecretKey, nonce: u64) -> CheckedTx {
        let body = v1::TxBody {
            chain_id: "t".into(),
            sender: key.address().0.to_vec(),
            sender_pubkey: key.public_key().to_bytes().to_vec(),
            nonce,
            expiry_height: 100,
            gas_limit: 10_000,
            calls: vec![v1::Call {
                kind: Some(v1::call::Kind::Upload(v1::Upload { wasm: vec![0] })),
            }],
            memo: String::new(),
        };
        let limits = hanok_types::TxLimits::default();
        CheckedTx::check_signed(sign_body(key, &body), "t", &limits).expect("valid tx")
    }

    #[test]
    fn gaps_wait_and_fill_in_nonce_order() {
        let k = SecretKey::from_seed(b"a");
        let mut m = Mempool::new(10, 4);
        m.insert(tx(&k, 1), 0).expect("gap waits");
        assert!(m
            .take_ready(10, u64::MAX, usize::MAX, usize::MAX)
            .is_empty());
        m.insert(tx(&k, 0), 0).expect("fills the gap");
        let got: Vec<u64> = m
            .take_ready(10, u64::MAX, usize::MAX, usize::MAX)
            .iter()
            .map(CheckedTx::nonce)
            .collect();
        assert_eq!(got, vec![0, 1]);
        assert!(matches!(
            m.insert(tx(&k, 1), 0),
            Err(MempoolError::Duplicate(_))
        ));
    }

    #[test]
    fn restored_txs_are_taken_again_in_nonce_order() {
        let (a, b) = (SecretKey::from_seed(b"a"), SecretKey::from_seed(b"b"));
        let mut m = Mempool::new(10, 4);
        for n in 0..3 {
            m.insert(tx(&a, n), 0).expect("room");
        }
        m.insert(tx(&b, 0), 0).expect("room");
        let taken = m.take_ready(10, u64::MAX, usize::MAX, usize::MAX);
        assert_eq!((taken.len(), m.len()), (4, 0));
        // A refused insert from `b` drops its (now empty) account meanwhile.
        assert!(m.insert(tx(&b, 0), 0).is_err());
        m.restore(taken);
        assert_eq!(m.len(), 4);
        let again = m.take_ready(10, u64::MAX, usize::MAX, usize::MAX);
        let mut got: Vec<_> = again.iter().map(|t| (t.sender(), t.nonce())).collect();
        got.sort();
        let mut want = vec![
            (a.address(), 0),
            (a.address(), 1),
            (a.address(), 2),
            (b.address(), 0),
        ];
        want.sort();
        assert_eq!(got, want);
    }

    #[test]
    fn bounds_are_errors_not_hangs() {
        let k = SecretKey::from_seed(b"a");
        let mut m = Mempool::new(2, 4);
        assert!(matches!(
            m.insert(tx(&k, 9), 0),
            Err(MempoolError::NonceGap { .. })
        ));
        m.insert(tx(&k, 0), 0).expect("room");
        m.insert(tx(&k, 1), 0).expect("room");
        assert!(matches!(
            m.insert(tx(&k, 2), 0),
            Err(MempoolError::Full { capacity: 2 })
        ));
        // A full account is told to wait, not to fill a gap it does not have.
        let mut m = Mempool::new(10, 2);
        m.insert(tx(&k, 0), 0).expect("room");
        m.insert(tx(&k, 1), 0).expect("room");
        assert!(matches!(
            m.insert(tx(&k, 2), 0),
            Err(MempoolError::AccountFull { limit: 2, .. })
        ));
        let other = SecretKey::from_seed(b"b");
        let mut m = Mempool::new(2, 4);
        assert!(matches!(
            m.insert(tx(&other, 0), 5),
            Err(MempoolError::NonceUsed {
                expected: 5,
                got: 0
            })
        ));
    }

    #[test]
    fn one_account_takes_at_most_its_bytes_per_block() {
        let big = SecretKey::from_seed(b"big");
        let small = SecretKey::from_seed(b"small");
        let mut m = Mempool::new(20, 8);
        for n in 0..4 {
            m.insert(tx(&big, n), 0).expect("room");
        }
        m.insert(tx(&small, 0), 0).expect("room");
        // (Nonce 0 encodes two bytes shorter than the others: take the larger size.)
        let one = tx_bytes(&tx(&big, 1));
        // Room for two of `big`'s transactions per block; `small` is not held back by them.
        let block = m.take_ready(10, u64::MAX, usize::MAX, 2 * one + 1);
        let from = |k: &SecretKey| block.iter().filter(|t| t.sender() == k.address()).count();
        assert_eq!((from(&big), from(&small)), (2, 1));
        // A limit below one transaction still lets each account's first one through.
        let block = m.take_ready(10, u64::MAX, usize::MAX, 1);
        assert_eq!(
            block.iter().map(CheckedTx::nonce).collect::<Vec<_>>(),
            vec![2]
        );
        assert_eq!(m.len(), 1, "the rest waits for the next block");
    }
}

//! Hashes, transactions, blocks and receipts.

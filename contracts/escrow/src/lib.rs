//! The escrow contract.

//! The identity contract.

//! The registry contract.

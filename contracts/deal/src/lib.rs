//! The deal contract.

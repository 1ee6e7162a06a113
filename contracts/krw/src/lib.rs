//! The krw contract.

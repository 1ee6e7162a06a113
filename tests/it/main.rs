//! Cross-crate tests: the acceptance story and its failures on the real contracts, compiled to
//! wasm, on the real VM.

mod authorization;
mod failures;
mod story;

//! The system contracts compiled to wasm.

//! In-process test harness running hanok contracts as real wasm on the real VM.

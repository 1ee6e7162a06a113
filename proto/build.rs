//! Compiles `hanok/v1/*.proto` with the pure-Rust `protox` (no system `protoc`) and generates
//! messages, clients and servers with `tonic-prost-build`, plus the encoded file descriptor set
//! used for gRPC server reflection.

use prost::Message;
use std::path::PathBuf;

const PROTOS: &[&str] = &[
    "hanok/v1/types.proto",
    "hanok/v1/ledger.proto",
    "hanok/v1/contracts.proto",
    "hanok/v1/proofs.proto",
    "hanok/v1/raft.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    for p in PROTOS {
        println!("cargo:rerun-if-changed={p}");
    }
    let fds = protox::compile(PROTOS, ["."])?;
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(out_dir.join("hanok_v1_descriptor.bin"), fds.encode_to_vec())?;
    // Services only with the `grpc` feature: the messages alone need nothing but prost.
    let grpc = std::env::var_os("CARGO_FEATURE_GRPC").is_some();
    tonic_prost_build::configure()
        .build_client(grpc)
        .build_server(grpc)
        .compile_fds(fds)?;
    Ok(())
}

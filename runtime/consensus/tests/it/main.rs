//! Integration tests of hanok-consensus: real Raft clusters over loopback gRPC in one process.

mod harness;

mod cluster;
mod guard;
mod snapshot;

//! Compiles `proto/prism_admin.proto` into the Prism admin gRPC client and server with a pure-Rust
//! protobuf compiler (protox), so building needs no `protoc` on the machine.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto = "proto/prism_admin.proto";
    println!("cargo:rerun-if-changed={proto}");
    let fds = protox::compile([proto], ["proto"])?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .btree_map(".")
        // Messages that carry backend credentials get a redacting Debug (see admin/proto.rs).
        .skip_debug(["prism.BackendConfig"])
        .compile_fds(fds)?;
    Ok(())
}

//! Compiles the vendored (trimmed) etcd v3 protos with `protox` (no system `protoc`).
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = ["proto/etcd/rpc.proto", "proto/etcd/mvccpb/kv.proto"];
    for f in files {
        println!("cargo:rerun-if-changed={f}");
    }
    let fds = protox::compile(files, ["proto/etcd"])?;
    tonic_prost_build::configure()
        .build_server(false)
        .build_client(true)
        // Values arrive as slices of the response buffer: no copy per key.
        .bytes(".")
        // A KeyValue holds a stored value (perhaps a plaintext Secret): its Debug is
        // written by hand and never shows the value.
        .skip_debug([".mvccpb.KeyValue"])
        .compile_fds(fds)?;
    Ok(())
}

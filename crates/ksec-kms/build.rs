//! Compiles the vendored Kubernetes KMS protos with `protox` (no system `protoc`).
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = ["proto/v2/api.proto", "proto/v1beta1/api.proto"];
    for f in files {
        println!("cargo:rerun-if-changed={f}");
    }
    let fds = protox::compile(files, ["proto"])?;
    tonic_prost_build::configure()
        .build_server(false)
        .build_client(true)
        .compile_fds(fds)?;
    Ok(())
}

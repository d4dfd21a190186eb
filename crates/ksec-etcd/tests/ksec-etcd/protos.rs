//! The generated etcd client code in `src/proto/` is committed (a build then needs neither
//! a build script nor a code generator). This test regenerates it from the vendored protos
//! with the settings it was made with and fails when the committed files differ.
//! `KSEC_UPDATE_PROTOS=1 cargo test -p ksec-etcd --test ksec-etcd protos` rewrites them.

use std::path::Path;

#[test]
fn committed_proto_code_matches_the_vendored_protos() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let include = root.join("proto/etcd");
    let files = [include.join("rpc.proto"), include.join("mvccpb/kv.proto")];
    let fds = protox::compile(&files, [&include]).unwrap();
    let out = tempfile::tempdir().unwrap();
    tonic_prost_build::configure()
        .build_server(false)
        .build_client(true)
        // Values arrive as slices of the response buffer: no copy per key.
        .bytes(".")
        // A KeyValue may hold a plaintext Secret: its Debug is written by hand in lib.rs
        // and never shows the value.
        .skip_debug([".mvccpb.KeyValue"])
        .out_dir(out.path())
        .compile_fds(fds)
        .unwrap();

    let update = std::env::var_os("KSEC_UPDATE_PROTOS").is_some_and(|v| v == "1");
    let mut stale = Vec::new();
    for name in ["mvccpb.rs", "etcdserverpb.rs"] {
        let fresh = std::fs::read_to_string(out.path().join(name)).unwrap();
        let committed_path = root.join("src/proto").join(name);
        let committed = std::fs::read_to_string(&committed_path).unwrap_or_default();
        if fresh != committed {
            if update {
                std::fs::write(&committed_path, &fresh).unwrap();
            } else {
                stale.push(committed_path.display().to_string());
            }
        }
    }
    assert!(
        stale.is_empty(),
        "generated code is stale: {stale:?}; run KSEC_UPDATE_PROTOS=1 cargo test -p ksec-etcd --test ksec-etcd protos and commit the result"
    );
}

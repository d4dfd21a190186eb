//! The generated gRPC code in `src/proto/` is committed (a build then needs neither a
//! build script nor a code generator). This test regenerates it from the vendored protos
//! exactly as the code was made and fails when the committed files differ, so a change
//! to a `.proto` file or to the generator's version cannot go unnoticed.
//! `KSEC_UPDATE_PROTOS=1 cargo test -p ksec-kms --test ksec-kms protos` rewrites them.

use std::path::Path;

#[test]
fn committed_proto_code_matches_the_vendored_protos() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let proto = root.join("proto");
    let files = [proto.join("v2/api.proto"), proto.join("v1beta1/api.proto")];
    let fds = protox::compile(&files, [&proto]).unwrap();
    let out = tempfile::tempdir().unwrap();
    tonic_prost_build::configure()
        .build_server(false)
        .build_client(true)
        .out_dir(out.path())
        .compile_fds(fds)
        .unwrap();

    let update = std::env::var_os("KSEC_UPDATE_PROTOS").is_some_and(|v| v == "1");
    let mut stale = Vec::new();
    for name in ["v2.rs", "v1beta1.rs"] {
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
        "generated code is stale: {stale:?}; run KSEC_UPDATE_PROTOS=1 cargo test -p ksec-kms --test ksec-kms protos and commit the result"
    );
}

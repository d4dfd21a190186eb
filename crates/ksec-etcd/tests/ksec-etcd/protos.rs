//! The generated etcd client code in `src/proto/` is committed (a build then needs neither
//! a build script nor a code generator). This test regenerates it from the vendored protos
//! with the settings it was made with and fails when the committed files differ.
//! `KSEC_UPDATE_PROTOS=1 cargo test -p ksec-etcd --test ksec-etcd protos` rewrites them.

use std::path::Path;

#[test]
fn committed_proto_code_matches_the_vendored_protos() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    ksec_testkit::protos::assert_generated_code_is_current(
        root,
        &root.join("proto/etcd"),
        &["rpc.proto", "mvccpb/kv.proto"],
        &["mvccpb.rs", "etcdserverpb.rs"],
        |builder| {
            builder
                // Values arrive as slices of the response buffer: no copy per key.
                .bytes(".")
                // A KeyValue may hold a plaintext Secret: its Debug is written by hand in
                // lib.rs and never shows the value.
                .skip_debug([".mvccpb.KeyValue"])
        },
    );
}

//! The generated gRPC code in `src/proto/` is committed (a build then needs neither a
//! build script nor a code generator). This test regenerates it from the vendored protos
//! exactly as the code was made and fails when the committed files differ, so a change
//! to a `.proto` file or to the generator's version cannot go unnoticed.
//! `KSEC_UPDATE_PROTOS=1 cargo test -p ksec-kms --test ksec-kms protos` rewrites them.

use std::path::Path;

#[test]
fn committed_proto_code_matches_the_vendored_protos() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    ksec_testkit::protos::assert_generated_code_is_current(
        root,
        &root.join("proto"),
        &["v2/api.proto", "v1beta1/api.proto"],
        &["v2.rs", "v1beta1.rs"],
        |builder| builder,
    );
}

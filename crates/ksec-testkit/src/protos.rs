//! The check that committed generated gRPC code is current (feature `protos`). ksec-kms
//! and ksec-etcd commit the code tonic generates from their vendored `.proto` files, so
//! a build needs neither a build script nor a code generator; each crate's `protos` test
//! regenerates it here with the settings it was made with and fails when the committed
//! files differ. `KSEC_UPDATE_PROTOS=1` rewrites them instead.
use std::path::Path;

/// Regenerates the client code of `protos` (relative to `include`, under the crate at
/// `crate_dir`) with `configure` applied to tonic's builder (client only, no server),
/// and compares each of `outputs` with the committed `crate_dir/src/proto/NAME`.
/// Panics naming the stale files and the command that updates them.
pub fn assert_generated_code_is_current(
    crate_dir: &Path,
    include: &Path,
    protos: &[&str],
    outputs: &[&str],
    configure: impl FnOnce(tonic_prost_build::Builder) -> tonic_prost_build::Builder,
) {
    let files: Vec<_> = protos.iter().map(|p| include.join(p)).collect();
    let fds = protox::compile(&files, [include]).expect("the vendored protos compile");
    let out = crate::tempdir();
    configure(
        tonic_prost_build::configure()
            .build_server(false)
            .build_client(true),
    )
    .out_dir(out.path())
    .compile_fds(fds)
    .expect("tonic generates code from the protos");

    let update = std::env::var_os("KSEC_UPDATE_PROTOS").is_some_and(|v| v == "1");
    let mut stale = Vec::new();
    for name in outputs {
        let fresh = std::fs::read_to_string(out.path().join(name)).expect("generated file");
        let committed_path = crate_dir.join("src/proto").join(name);
        let committed = std::fs::read_to_string(&committed_path).unwrap_or_default();
        if fresh != committed {
            if update {
                std::fs::write(&committed_path, &fresh).expect("rewrite the generated file");
            } else {
                stale.push(committed_path.display().to_string());
            }
        }
    }
    let krate = crate_dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    assert!(
        stale.is_empty(),
        "generated code is stale: {stale:?}; run KSEC_UPDATE_PROTOS=1 cargo test -p {krate} --test {krate} protos and commit the result"
    );
}

//! The plugin driven by grpc-go, the gRPC implementation kube-apiserver's KMS client
//! uses: `tests/kms_client_go` (Debian's grpc-go 1.33 in GOPATH mode) dials the
//! socket as the apiserver does and reports what it saw as one JSON line.
use crate::plugin::Server;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ksec_keys::local::{rotate_key_file, LocalBackend};
use ksec_keys::KeyBackend;
use ksec_kms::Plugin;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// Where Debian's golang-google-grpc-dev and golang-google-protobuf-dev put their
/// sources (`KSEC_GOPATH` overrides it).
const DEBIAN_GOPATH: &str = "/usr/share/gocode";

/// Builds the Go client once per test run (under cargo's per-target temp dir, with
/// its own Go build cache). `None` when Go or grpc-go is missing (skip; a panic
/// under CI=true).
fn go_client() -> Option<PathBuf> {
    static BUILT: OnceLock<Option<PathBuf>> = OnceLock::new();
    BUILT.get_or_init(build).clone()
}

fn build() -> Option<PathBuf> {
    let go = ksec_testkit::peer("go")?;
    let gopath = std::env::var("KSEC_GOPATH").unwrap_or_else(|_| DEBIAN_GOPATH.into());
    for pkg in [
        "google.golang.org/grpc",
        "google.golang.org/protobuf/encoding/protowire",
    ] {
        if !Path::new(&gopath).join("src").join(pkg).is_dir() {
            return ksec_testkit::missing(
                &format!("Go package {pkg}"),
                &format!(
                    "not under {gopath}/src (apt-get install golang-google-grpc-dev golang-google-protobuf-dev, or set KSEC_GOPATH)"
                ),
            );
        }
    }
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("kms-client-go");
    std::fs::create_dir_all(&out).unwrap();
    let bin = out.join("kms-client-go");
    let tmp = out.join(format!("kms-client-go.{}", std::process::id()));
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/kms_client_go");
    let o = Command::new(&go)
        .current_dir(&src)
        .env("GO111MODULE", "off")
        .env("GOPATH", &gopath)
        .env("GOCACHE", out.join("go-cache"))
        .env("GOFLAGS", "")
        // Pure Go: no C compiler needed (golang-go only recommends gcc).
        .env("CGO_ENABLED", "0")
        .arg("build")
        .arg("-o")
        .arg(&tmp)
        .arg(".")
        .output()
        .unwrap_or_else(|e| panic!("run {} build: {e}", go.display()));
    assert!(
        o.status.success(),
        "building {} with grpc-go from {gopath} failed:\n{}",
        src.display(),
        String::from_utf8_lossy(&o.stderr)
    );
    std::fs::rename(&tmp, &bin).unwrap();
    Some(bin)
}

/// Runs the Go client and parses its JSON line; panics with its stderr when it fails.
fn run(bin: &Path, args: &[&str]) -> Value {
    let o = Command::new(bin)
        .args(args)
        .output()
        .expect("run the Go KMS client");
    assert!(
        o.status.success(),
        "Go KMS client {args:?} failed ({}): {}",
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
    let line = String::from_utf8_lossy(&o.stdout);
    serde_json::from_str(line.trim())
        .unwrap_or_else(|e| panic!("Go KMS client {args:?} printed {line:?}: {e}"))
}

fn local(path: &Path) -> Arc<dyn KeyBackend> {
    Arc::new(LocalBackend::open(path).unwrap())
}

fn start(dir: &Path, keys: &Path) -> (Arc<Plugin>, Server, String) {
    let socket = dir.join("kms.sock");
    let plugin = Plugin::new(local(keys), Duration::from_secs(10), Duration::from_secs(1));
    let server = Server::start(socket.clone(), plugin.clone());
    (plugin, server, socket.to_str().unwrap().to_string())
}

#[test]
fn grpc_go_status_round_trip_errors_deadline_concurrency_and_v1beta1() {
    let Some(bin) = go_client() else { return };
    let dir = ksec_testkit::tempdir();
    let keys = dir.path().join("keys");
    let id = rotate_key_file(&keys).unwrap();
    let (_plugin, _server, socket) = start(dir.path(), &keys);

    let r = run(&bin, &["roundtrip", &socket]);
    assert_eq!(r["status"]["version"], "v2", "{r}");
    assert_eq!(r["status"]["healthz"], "ok", "{r}");
    assert_eq!(r["status"]["key_id"], id.as_str(), "{r}");
    assert_eq!(r["encrypt"]["key_id"], id.as_str(), "{r}");
    let ct_len = r["encrypt"]["ciphertext_len"].as_u64().unwrap();
    assert!(
        (32..1024).contains(&ct_len),
        "ciphertext of a 32-byte seed is {ct_len} bytes: {r}"
    );
    assert_eq!(r["decrypt_matches"], true, "{r}");
    assert_eq!(r["tampered"]["code"], "InvalidArgument", "{r}");
    assert_eq!(r["unknown_method"]["code"], "Unimplemented", "{r}");
    assert!(
        r["unknown_method"]["message"]
            .as_str()
            .unwrap()
            .contains("unknown method /v2.KeyManagementService/Nope"),
        "{r}"
    );
    assert_eq!(r["short_deadline"]["code"], "OK", "{r}");
    assert_eq!(r["short_deadline_key_id"], id.as_str(), "{r}");
    // 64 goroutines on the one connection, 50 wrap + unwrap pairs each.
    assert_eq!(r["concurrent"]["calls"], 64 * 50 * 2, "{r}");
    assert_eq!(r["concurrent"]["errors"], 0, "{r}");
    assert_eq!(r["concurrent"]["mismatches"], 0, "{r}");
    assert_eq!(r["v1beta1"]["version"], "v1beta1", "{r}");
    assert_eq!(r["v1beta1"]["runtime_name"], "ksec", "{r}");
    assert_eq!(r["v1beta1"]["roundtrip"], true, "{r}");
}

#[test]
fn grpc_go_decrypts_with_the_old_key_id_after_rotation_and_reload() {
    let Some(bin) = go_client() else { return };
    let dir = ksec_testkit::tempdir();
    let keys = dir.path().join("keys");
    let id1 = rotate_key_file(&keys).unwrap();
    let (plugin, _server, socket) = start(dir.path(), &keys);

    let seed: Vec<u8> = (0u8..32).collect();
    let seed_b64 = B64.encode(&seed);
    let enc1 = run(&bin, &["encrypt", &socket, &seed_b64]);
    assert_eq!(enc1["key_id"], id1.as_str(), "{enc1}");

    let id2 = rotate_key_file(&keys).unwrap();
    assert_ne!(id1, id2);
    plugin.replace_backend(local(&keys));
    let st = run(&bin, &["status", &socket]);
    assert_eq!(st["key_id"], id2.as_str(), "{st}");
    assert_eq!(st["healthz"], "ok", "{st}");

    // Wrapped before the rotation: decrypts with its old key id and annotations.
    let dec = run(&bin, &["decrypt", &socket, &enc1.to_string()]);
    assert_eq!(dec["plaintext"], seed_b64.as_str(), "{dec}");
    let enc2 = run(&bin, &["encrypt", &socket, &seed_b64]);
    assert_eq!(enc2["key_id"], id2.as_str(), "{enc2}");
    assert_ne!(enc2["ciphertext"], enc1["ciphertext"]);
    let dec = run(&bin, &["decrypt", &socket, &enc2.to_string()]);
    assert_eq!(dec["plaintext"], seed_b64.as_str(), "{dec}");

    // The old key removed from the file: refused with InvalidArgument, never garbage.
    std::fs::write(
        &keys,
        format!("{}\n", ksec_keys::local::generate_key_line().unwrap()),
    )
    .unwrap();
    plugin.replace_backend(local(&keys));
    let dec = run(&bin, &["decrypt", &socket, &enc1.to_string()]);
    assert_eq!(dec["error"]["code"], "InvalidArgument", "{dec}");
    assert!(dec.get("plaintext").is_none(), "{dec}");
}

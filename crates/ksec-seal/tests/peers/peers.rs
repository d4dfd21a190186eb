//! Calling the independent Sealed Secrets implementations: one module for ksec-seal's
//! interop tests (the library) and the `ksec` binary's (the command line), which include
//! it by path. Each finder returns `None` (and says why) when its peer is missing, or
//! fails the test under CI (`ksec_testkit::missing`).
#![allow(dead_code, unreachable_pub)]
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A script next to this file (both including crates sit in `crates/`).
pub fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../ksec-seal/tests/peers")
        .join(name)
}

/// Runs a peer with `stdin`, failing the test (with its stderr) if it fails.
pub fn run(cmd: &mut Command, stdin: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn peer");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin)
        .expect("write to peer");
    let out = child.wait_with_output().expect("peer output");
    assert!(
        out.status.success(),
        "peer failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// kubesealpy (Python, the project venv).
pub struct Kubesealpy(PathBuf);

impl Kubesealpy {
    /// The interpreter that imports kubesealpy.
    pub fn find() -> Option<Self> {
        ksec_testkit::python_with("KSEC_PYTHON", "kubesealpy").map(Self)
    }

    /// Seals a Secret (YAML) for `cert` with kubesealpy's Sealer: SealedSecret YAML.
    pub fn seal(&self, cert: &Path, scope: &str, secret_yaml: &[u8]) -> Vec<u8> {
        run(
            Command::new(&self.0)
                .arg(script("kubesealpy_peer.py"))
                .arg("seal")
                .arg(cert)
                .arg(scope),
            secret_yaml,
        )
    }

    /// Opens one SealedSecret (plain YAML, no `---`) with `key`: JSON
    /// `{"name", "namespace", "data": {k: base64}}`.
    pub fn unseal(&self, key: &Path, sealed_yaml: &[u8]) -> serde_json::Value {
        let out = run(
            Command::new(&self.0)
                .arg(script("kubesealpy_peer.py"))
                .arg("unseal")
                .arg(key),
            sealed_yaml,
        );
        serde_json::from_slice(&out).expect("kubesealpy_peer.py prints JSON")
    }
}

/// The PyPI package aes-gcm-rsa-oaep (its own venv).
pub struct AesGcmRsaOaep(PathBuf);

impl AesGcmRsaOaep {
    /// The interpreter that imports it.
    pub fn find() -> Option<Self> {
        ksec_testkit::python_with("KSEC_PYTHON_AESGCM", "aes_gcm_rsa_oaep").map(Self)
    }

    /// Seals `value` for the certificate `cert` under `label`: base64.
    pub fn encrypt(&self, cert: &Path, label: &str, value: &[u8]) -> Vec<u8> {
        self.call("encrypt", cert, label, value)
    }

    /// Opens the base64 sealed value with `key` under `label`.
    pub fn decrypt(&self, key: &Path, label: &str, sealed_b64: &[u8]) -> Vec<u8> {
        self.call("decrypt", key, label, sealed_b64)
    }

    fn call(&self, cmd: &str, path: &Path, label: &str, stdin: &[u8]) -> Vec<u8> {
        run(
            Command::new(&self.0)
                .arg(script("aesgcm_peer.py"))
                .arg(cmd)
                .arg(path)
                .arg(label),
            stdin,
        )
    }
}

/// npm @linode/kubeseal-encrypt (JavaScript, WebCrypto): seals one value namespace-wide
/// for the certificate `cert` (its public key is handed over as SPKI PEM). Base64.
pub fn linode_seal(cert: &Path, namespace: &str, value: &[u8]) -> Option<Vec<u8>> {
    let node = ksec_testkit::peer("node")?;
    let py = ksec_testkit::python_with("KSEC_PYTHON", "cryptography")?;
    let Some(modules) = std::env::var_os("KSEC_NODE_MODULES")
        .filter(|m| Path::new(m).join("@linode/kubeseal-encrypt").exists())
    else {
        return ksec_testkit::missing(
            "npm @linode/kubeseal-encrypt",
            "KSEC_NODE_MODULES is unset or lacks it",
        );
    };
    let dir = ksec_testkit::tempdir();
    let spki = run(
        Command::new(&py)
            .arg(script("kubesealpy_peer.py"))
            .arg("spki")
            .arg(cert),
        b"",
    );
    let pub_pem = dir.path().join("pub.pem");
    std::fs::write(&pub_pem, spki).expect("write the public key");
    Some(run(
        Command::new(node)
            .env("KSEC_NODE_MODULES", modules)
            .arg(script("linode_seal.cjs"))
            .arg(&pub_pem)
            .arg(namespace),
        value,
    ))
}

/// A SealedSecret (YAML) holding one peer-sealed value under `encryptedData.k`; `annotations`
/// is a flow mapping (`{}` for the strict scope).
pub fn sealed_secret_with(namespace: &str, name: &str, annotations: &str, value: &[u8]) -> String {
    format!(
        "apiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\nmetadata:\n  name: {name}\n  namespace: {namespace}\n  annotations: {annotations}\nspec:\n  encryptedData:\n    k: {}\n",
        String::from_utf8_lossy(value)
    )
}

/// The annotations of a namespace-wide SealedSecret, for [`sealed_secret_with`].
pub const NAMESPACE_WIDE: &str = "{sealedsecrets.bitnami.com/namespace-wide: \"true\"}";

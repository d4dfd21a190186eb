//! A KMS plugin client that is not ours: Python grpcio stubs generated from the
//! official protos vendored in `ksec-kms/proto`, driven through
//! `ksec-kms/tests/kms_client.py` (one JSON command per line, one JSON answer).
use crate::python_with;
use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

fn kms_crate() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../ksec-kms")
}

/// The running Python client; killed when dropped.
pub struct PyKmsClient {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl PyKmsClient {
    /// Generates the stubs into `stubs` and connects to the plugin at `socket`.
    /// `None` when the venv's grpcio-tools is missing (a failure under `CI=true`).
    pub fn start(socket: &Path, stubs: &Path) -> Option<Self> {
        let py = python_with("KSEC_PYTHON", "grpc_tools")?;
        let out = Command::new(&py)
            .args(["-m", "grpc_tools.protoc"])
            .arg(format!("-I{}", kms_crate().join("proto").display()))
            .arg(format!("--python_out={}", stubs.display()))
            .arg(format!("--grpc_python_out={}", stubs.display()))
            .args(["v2/api.proto", "v1beta1/api.proto"])
            .output()
            .expect("run grpc_tools.protoc");
        assert!(
            out.status.success(),
            "protoc: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut child = Command::new(&py)
            .arg(kms_crate().join("tests/kms_client.py"))
            .arg(stubs)
            .arg(socket)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the python KMS client");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = BufReader::new(child.stdout.take().expect("stdout"));
        Some(Self {
            child,
            stdin,
            stdout,
        })
    }

    /// Sends one command (`{"op": …}`, see `kms_client.py`) and returns the answer.
    pub fn call(&mut self, cmd: Value) -> Value {
        writeln!(self.stdin, "{cmd}").expect("write to the python client");
        let mut line = String::new();
        self.stdout
            .read_line(&mut line)
            .expect("read from the python client");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("client said {line:?}: {e}"))
    }
}

impl Drop for PyKmsClient {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

//! A real OpenBao dev server on 127.0.0.1 with Transit enabled and a key `ksec`,
//! for the tests and benchmarks of the Vault backend and the KMS plugin.
use crate::{free_port, peer, wait_for_port, ChildGuard};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A running dev server (root token `root`), stopped when dropped.
pub struct OpenBao {
    bin: PathBuf,
    /// `http://127.0.0.1:PORT`.
    pub addr: String,
    /// The server process (call `stop()` on it to simulate an outage).
    pub guard: ChildGuard,
}

impl OpenBao {
    /// Starts the server, waits until it is unsealed, enables Transit and creates the
    /// key `ksec`. `None` when `bao` is missing (a failure under `CI=true`).
    pub fn start() -> Option<Self> {
        let bin = peer("bao")?;
        Some(Self::start_with(bin))
    }

    /// As [`start`](Self::start), with a known `bao` binary and no peer policy (benchmarks).
    pub fn start_with(bin: PathBuf) -> Self {
        Self::start_on(bin, free_port())
    }

    /// A fresh dev server on `port` (a dev server keeps nothing: restarting one on the
    /// same port is how tests make a backend come back with other keys).
    pub fn start_on(bin: PathBuf, port: u16) -> Self {
        let guard = ChildGuard::spawn(
            "bao",
            Command::new(&bin)
                .args(["server", "-dev", "-dev-root-token-id=root"])
                .arg(format!("-dev-listen-address=127.0.0.1:{port}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
        )
        .expect("start bao");
        wait_for_port(port, Duration::from_secs(30));
        let b = Self {
            bin,
            addr: format!("http://127.0.0.1:{port}"),
            guard,
        };
        // The listener comes up before the core is unsealed.
        let start = Instant::now();
        while b.try_cli(&["status"]).is_none() {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "bao never became ready"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        b.cli(&["secrets", "enable", "transit"]);
        b.cli(&["write", "-f", "transit/keys/ksec"]);
        b
    }

    /// Creates namespace `ns` (OpenBao 2.3+) with Transit mounted at `mount` and a key
    /// `key` in it, nowhere else: only requests with `X-Vault-Namespace: ns` find them.
    pub fn transit_in_namespace(&self, ns: &str, mount: &str, key: &str) {
        let in_ns = format!("-namespace={ns}");
        self.cli(&["namespace", "create", ns]);
        self.cli(&[
            "secrets",
            "enable",
            &in_ns,
            &format!("-path={mount}"),
            "transit",
        ]);
        self.cli(&["write", &in_ns, "-f", &format!("{mount}/keys/{key}")]);
    }

    /// Runs the `bao` CLI against the server as root; its trimmed stdout, or `None` on failure.
    pub fn try_cli(&self, args: &[&str]) -> Option<String> {
        let out = Command::new(&self.bin)
            .args(args)
            .env("BAO_ADDR", &self.addr)
            .env("BAO_TOKEN", "root")
            .output()
            .expect("run bao");
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    /// As [`try_cli`](Self::try_cli), failing the test when the command fails.
    pub fn cli(&self, args: &[&str]) -> String {
        self.try_cli(args)
            .unwrap_or_else(|| panic!("bao {args:?} failed"))
    }
}

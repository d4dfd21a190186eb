//! A real etcd server on 127.0.0.1 (Debian's `etcd-server`, 3.4), with `etcdctl` next to
//! it, for the at-rest audit and decrypt tests and benchmarks. Its data directory is a
//! private temporary folder; the process is stopped when the value is dropped.
use crate::{free_port, peer, wait_for_port, ChildGuard};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A running single-member etcd.
pub struct Etcd {
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
    /// The server process (call `stop()` on it to take etcd away mid-test).
    pub guard: ChildGuard,
    etcdctl: PathBuf,
    _dir: tempfile::TempDir,
}

impl Etcd {
    /// Starts etcd and waits until it answers. `None` when `etcd` or `etcdctl` is
    /// missing (a failure under `CI=true`).
    pub fn start() -> Option<Self> {
        let etcd = peer("etcd")?;
        let etcdctl = peer("etcdctl")?;
        Some(Self::start_with(etcd, etcdctl, &[]))
    }

    /// As [`start`](Self::start), with known binaries and extra server flags
    /// (`--quota-backend-bytes=…` for large benchmarks).
    pub fn start_with(etcd: PathBuf, etcdctl: PathBuf, extra: &[&str]) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("ksec-etcd-")
            .tempdir()
            .expect("tempdir");
        let (client, peer_port) = (free_port(), free_port());
        let endpoint = format!("http://127.0.0.1:{client}");
        let peer_url = format!("http://127.0.0.1:{peer_port}");
        let guard = ChildGuard::spawn(
            "etcd",
            Command::new(&etcd)
                .arg("--data-dir")
                .arg(dir.path().join("data"))
                .args(["--name", "ksec-test"])
                .args(["--listen-client-urls", &endpoint])
                .args(["--advertise-client-urls", &endpoint])
                .args(["--listen-peer-urls", &peer_url])
                .args(["--initial-advertise-peer-urls", &peer_url])
                .arg(format!("--initial-cluster=ksec-test={peer_url}"))
                .args(["--log-level", "error"])
                .args(extra)
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
        )
        .expect("start etcd");
        wait_for_port(client, Duration::from_secs(30));
        let e = Self {
            endpoint,
            guard,
            etcdctl,
            _dir: dir,
        };
        let start = Instant::now();
        while !e.etcdctl(&["endpoint", "health"]).status.success() {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "etcd never became healthy"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        e
    }

    /// Runs `etcdctl` (API v3) against this server.
    pub fn etcdctl(&self, args: &[&str]) -> Output {
        Command::new(&self.etcdctl)
            .env("ETCDCTL_API", "3")
            .arg(format!("--endpoints={}", self.endpoint))
            .args(args)
            .output()
            .expect("run etcdctl")
    }

    /// `etcdctl snapshot save PATH`, failing the test when it fails.
    pub fn snapshot(&self, path: &Path) {
        let out = self.etcdctl(&["snapshot", "save", &path.display().to_string()]);
        assert!(
            out.status.success(),
            "etcdctl snapshot save: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The `etcdctl` binary.
    pub fn etcdctl_path(&self) -> &Path {
        &self.etcdctl
    }
}

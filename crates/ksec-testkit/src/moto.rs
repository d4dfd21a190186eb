//! A real moto server (AWS KMS and STS) on 127.0.0.1, for the AWS KMS backend's
//! tests and benchmark and the KMS plugin's.
use crate::{free_port, peer, wait_for_port, ChildGuard};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

/// A running `moto_server`, stopped when dropped.
pub struct Moto {
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
    /// The server process.
    pub guard: ChildGuard,
}

impl Moto {
    /// Starts `moto_server` on a free port and waits until it listens. `None` when
    /// it is missing (a failure under `CI=true`).
    pub fn start() -> Option<Self> {
        Some(Self::start_with(peer("moto_server")?))
    }

    /// As [`start`](Self::start), with a known binary and no peer policy (benchmarks).
    pub fn start_with(bin: PathBuf) -> Self {
        let port = free_port();
        let guard = ChildGuard::spawn(
            "moto_server",
            Command::new(bin)
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
        )
        .expect("start moto_server");
        wait_for_port(port, Duration::from_secs(60));
        Self {
            endpoint: format!("http://127.0.0.1:{port}"),
            guard,
        }
    }
}

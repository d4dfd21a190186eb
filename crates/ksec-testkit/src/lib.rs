//! Test support for the ksec workspace (a dev-dependency only, never shipped).
//!
//! The rule it enforces: interop tests run against real peers (sops, age, gpg,
//! OpenBao, moto, SoftHSM, etcd, kubesealpy, …). `scripts/test` installs them.
//! When one is missing, a developer's run says so and skips that test; under
//! `CI=true` (or `KSEC_REQUIRE_PEERS=1`) a missing peer fails the test instead.
//!
//! With the `cluster` feature, the `cluster` module is an in-memory Kubernetes API, in process
//! behind `kube::Client` or served over HTTPS with kubeconfigs for the real `ksec` binary
//! and `kubectl`.
//!
//! # Example
//! A test asks for the peer it runs; without it a developer's run skips, CI fails:
//! ```
//! let Some(sh) = ksec_testkit::peer("sh") else { return };
//! let dir = ksec_testkit::tempdir();
//! let out = dir.path().join("out");
//! let status = std::process::Command::new(sh)
//!     .arg("-c")
//!     .arg(format!("echo hello > {}", out.display()))
//!     .status()
//!     .expect("sh runs");
//! assert!(status.success());
//! assert_eq!(std::fs::read_to_string(&out).expect("written"), "hello\n");
//! // A server under test listens on a free port of 127.0.0.1.
//! let port = ksec_testkit::free_port();
//! assert!(std::net::TcpListener::bind(("127.0.0.1", port)).is_ok());
//! ```
//!
//! With the `protos` feature, the `protos` module checks that a crate's committed
//! generated gRPC code is what its vendored `.proto` files give today.

pub mod bench;
#[cfg(feature = "cluster")]
pub mod cluster;
pub mod etcd;
pub mod files_server;
pub mod kms_client;
pub mod kube_validate;
pub mod moto;
pub mod openbao;
#[cfg(feature = "protos")]
pub mod protos;
pub mod softhsm;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// True when missing peers must fail tests instead of skipping them.
pub fn peers_required() -> bool {
    let on = |v: &str| {
        std::env::var(v)
            .map(|s| s == "true" || s == "1")
            .unwrap_or(false)
    };
    on("CI") || on("KSEC_REQUIRE_PEERS")
}

/// Reports a peer that cannot be found: panics under CI, otherwise prints why the
/// test is skipped. Returns `None` so callers can write `let Some(x) = … else { return };`.
pub fn missing<T>(what: &str, why: &str) -> Option<T> {
    if peers_required() {
        panic!("required peer {what} is missing: {why} (run scripts/test, which installs it)");
    }
    eprintln!("SKIPPED: peer {what} is missing ({why}); run scripts/test to install it");
    None
}

/// Finds an executable on `PATH` (which `scripts/test` extends with the project's
/// venvs and npm prefix). An environment variable `KSEC_PEER_<NAME>` (upper case,
/// `-` as `_`) overrides the lookup.
pub fn peer(name: &str) -> Option<PathBuf> {
    let var = format!("KSEC_PEER_{}", name.to_uppercase().replace(['-', '.'], "_"));
    if let Some(p) = std::env::var_os(&var) {
        let p = PathBuf::from(p);
        if p.exists() {
            return Some(p);
        }
        return missing(
            name,
            &format!("{var} points to {} which does not exist", p.display()),
        );
    }
    match which(name) {
        Some(p) => Some(p),
        None => missing(name, "not found on PATH"),
    }
}

/// Looks an executable up on `PATH` without any skip/fail policy.
pub fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    p.metadata()
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// A Python interpreter that can import `module`. `env_var` names an interpreter
/// set by `scripts/test` (for example `KSEC_PYTHON`, or `KSEC_PYTHON_AESGCM` for the
/// venv that holds `aes-gcm-rsa-oaep`); without it `python3` is tried.
pub fn python_with(env_var: &str, module: &str) -> Option<PathBuf> {
    let py = std::env::var_os(env_var)
        .map(PathBuf::from)
        .or_else(|| which("python3"))?;
    let ok = Command::new(&py)
        .args(["-c", &format!("import {module}")])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if ok {
        Some(py)
    } else {
        missing(
            &format!("python module {module}"),
            &format!("{} cannot import it (set {env_var})", py.display()),
        )
    }
}

/// The folder of reference fixtures (`$KSEC_FIXTURES`, else `../shared/testdata`
/// next to the workspace). Missing fixtures follow the same policy as peers.
pub fn fixtures() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("KSEC_FIXTURES") {
        let p = PathBuf::from(p);
        if p.is_dir() {
            return Some(p);
        }
    }
    let guess = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata");
    if guess.is_dir() {
        return Some(guess);
    }
    missing(
        "fixtures",
        "set KSEC_FIXTURES to the shared testdata folder",
    )
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind 127.0.0.1:0")
}

/// Waits until `127.0.0.1:port` accepts TCP connections, or panics after `timeout`.
pub fn wait_for_port(port: u16, timeout: Duration) {
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < timeout,
            "nothing listened on 127.0.0.1:{port} within {timeout:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits until the unix socket `path` accepts connections, or panics after `timeout`.
pub fn wait_for_socket(path: &Path, timeout: Duration) {
    wait_until_listening(path, timeout, "the server", || None);
}

/// Polls the unix socket `path` until it accepts a connection; panics with what
/// `exited` reports (the server died) or after `timeout`.
fn wait_until_listening(
    path: &Path,
    timeout: Duration,
    name: &str,
    mut exited: impl FnMut() -> Option<String>,
) {
    let start = Instant::now();
    while std::os::unix::net::UnixStream::connect(path).is_err() {
        if let Some(why) = exited() {
            panic!(
                "{name} exited before it listened on {}: {why}",
                path.display()
            );
        }
        assert!(
            start.elapsed() < timeout,
            "{name} never listened on {}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Sends `signal` (`-HUP`, `-TERM`, …) to process `pid` with `kill`, failing the test
/// when it cannot.
pub fn signal(pid: u32, signal: &str) {
    let ok = Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "kill {signal} {pid} failed");
}

/// Runs `git -C dir ARGS` with a fixed author and no commit signing (whatever the
/// machine's git configuration says), asserts that it succeeded and returns its output.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
        .args(["-c", "commit.gpgsign=false"])
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run git: {e}"));
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs the real `age-keygen` (at `keygen`) to write a new identity to `path` and
/// returns its recipient (`age1…`), read from the file's `# public key:` line.
pub fn age_keygen(keygen: &Path, path: &Path) -> String {
    let out = Command::new(keygen).arg("-o").arg(path).output();
    let out = out.unwrap_or_else(|e| panic!("cannot run {}: {e}", keygen.display()));
    assert!(
        out.status.success(),
        "age-keygen: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    text.lines()
        .find_map(|l| l.strip_prefix("# public key: ").map(str::to_string))
        .unwrap_or_else(|| panic!("{} has no `# public key:` line", path.display()))
}

/// A plain HTTP/1.1 GET (a chunked body is joined): the status code and the body;
/// `None` when nothing listens or the answer is not HTTP.
pub fn http_get(addr: std::net::SocketAddr, path: &str) -> Option<(u16, Vec<u8>)> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut buf = vec![];
    s.read_to_end(&mut buf).ok()?;
    let split = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&buf[..split]);
    let code = head.split_whitespace().nth(1)?.parse().ok()?;
    let mut body = buf[split + 4..].to_vec();
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        body = dechunk(&body)?;
    }
    Some((code, body))
}

fn dechunk(mut b: &[u8]) -> Option<Vec<u8>> {
    let mut out = vec![];
    while let Some(eol) = b.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(std::str::from_utf8(&b[..eol]).ok()?.trim(), 16).ok()?;
        if size == 0 {
            break;
        }
        out.extend_from_slice(b.get(eol + 2..eol + 2 + size)?);
        b = b.get(eol + 4 + size..)?;
    }
    Some(out)
}

/// A child process (a server a test started) that is killed when dropped,
/// also when the test fails.
pub struct ChildGuard {
    child: Option<Child>,
    /// What it is, for messages.
    pub name: String,
}

impl ChildGuard {
    /// Spawns `cmd` and guards it.
    pub fn spawn(name: &str, cmd: &mut Command) -> std::io::Result<Self> {
        let child = cmd.spawn()?;
        Ok(Self {
            child: Some(child),
            name: name.to_string(),
        })
    }

    /// The process id.
    pub fn id(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    /// Waits until the process listens on the unix socket `path`; panics when it
    /// exits first, or after `timeout`.
    pub fn wait_for_socket(&mut self, path: &Path, timeout: Duration) {
        let child = &mut self.child;
        wait_until_listening(path, timeout, &self.name, || {
            let status = child.as_mut()?.try_wait().ok()??;
            Some(status.to_string())
        });
    }

    /// Waits for the process to exit by itself; panics after `timeout`.
    pub fn wait_for_exit(&mut self, timeout: Duration) -> std::process::ExitStatus {
        let start = Instant::now();
        loop {
            let child = self.child.as_mut().expect("the process was stopped");
            if let Some(status) = child.try_wait().expect("wait for the process") {
                return status;
            }
            assert!(
                start.elapsed() < timeout,
                "{} did not exit within {timeout:?}",
                self.name
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The process's standard error, when it was piped and not taken yet.
    pub fn take_stderr(&mut self) -> Option<std::process::ChildStderr> {
        self.child.as_mut()?.stderr.take()
    }

    /// Stops the process now (for tests of a peer that goes away mid-run).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A private temporary directory removed at the end of the test.
pub fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("ksec-test-")
        .tempdir()
        .expect("tempdir")
}

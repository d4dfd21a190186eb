//! A real etcd server on 127.0.0.1 (Debian's `etcd-server`, 3.4), with `etcdctl` next to
//! it, for the at-rest audit and decrypt tests and benchmarks; plain HTTP, or TLS with
//! client certificates made by the `openssl` CLI. Its data directory is a
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
    tls: Option<TlsFiles>,
    _dir: tempfile::TempDir,
}

/// Certificates for a TLS etcd (PEM files): a CA, the server's pair (valid for
/// 127.0.0.1) and a client pair, all signed by the CA.
#[derive(Clone, Debug)]
pub struct TlsFiles {
    /// The CA certificate.
    pub ca: PathBuf,
    /// Server certificate and key.
    pub server_cert: PathBuf,
    /// Server key.
    pub server_key: PathBuf,
    /// Client certificate.
    pub client_cert: PathBuf,
    /// Client key.
    pub client_key: PathBuf,
}

impl TlsFiles {
    /// Makes a fresh CA and the two pairs in `dir` with the `openssl` CLI. `None` when
    /// openssl is missing (a failure under `CI=true`).
    pub fn generate(dir: &Path) -> Option<Self> {
        let openssl = peer("openssl")?;
        let run = |args: &[&str]| {
            let out = Command::new(&openssl)
                .args(args)
                .current_dir(dir)
                .output()
                .expect("run openssl");
            assert!(
                out.status.success(),
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
        ];
        run(&[
            &["req", "-x509"][..],
            &ec,
            &[
                "-keyout",
                "ca.key",
                "-out",
                "ca.crt",
                "-subj",
                "/CN=ksec-test-ca",
                "-days",
                "2",
            ],
        ]
        .concat());
        for (name, usage) in [("server", "serverAuth"), ("client", "clientAuth")] {
            let ext = dir.join(format!("{name}.ext"));
            std::fs::write(
                &ext,
                format!("subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage={usage}\n"),
            )
            .expect("write openssl extensions");
            run(&[
                &["req"][..],
                &ec,
                &[
                    "-keyout",
                    &format!("{name}.key"),
                    "-out",
                    &format!("{name}.csr"),
                    "-subj",
                    &format!("/CN={name}"),
                ],
            ]
            .concat());
            run(&[
                "x509",
                "-req",
                "-in",
                &format!("{name}.csr"),
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                &format!("{name}.crt"),
                "-days",
                "2",
                "-extfile",
                &ext.display().to_string(),
            ]);
        }
        Some(Self {
            ca: dir.join("ca.crt"),
            server_cert: dir.join("server.crt"),
            server_key: dir.join("server.key"),
            client_cert: dir.join("client.crt"),
            client_key: dir.join("client.key"),
        })
    }
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
        Self::launch(etcd, etcdctl, None, extra)
    }

    /// An etcd that serves clients over TLS only and requires client certificates
    /// signed by `tls.ca` (`--client-cert-auth`), as kubeadm sets etcd up.
    pub fn start_tls(tls: &TlsFiles) -> Option<Self> {
        let etcd = peer("etcd")?;
        let etcdctl = peer("etcdctl")?;
        Some(Self::launch(etcd, etcdctl, Some(tls.clone()), &[]))
    }

    fn launch(etcd: PathBuf, etcdctl: PathBuf, tls: Option<TlsFiles>, extra: &[&str]) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("ksec-etcd-")
            .tempdir()
            .expect("tempdir");
        let (client, peer_port) = (free_port(), free_port());
        let scheme = if tls.is_some() { "https" } else { "http" };
        let endpoint = format!("{scheme}://127.0.0.1:{client}");
        let peer_url = format!("http://127.0.0.1:{peer_port}");
        let mut cmd = Command::new(&etcd);
        cmd.arg("--data-dir")
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
            .stderr(Stdio::null());
        if let Some(t) = &tls {
            cmd.arg("--cert-file")
                .arg(&t.server_cert)
                .arg("--key-file")
                .arg(&t.server_key)
                .arg("--trusted-ca-file")
                .arg(&t.ca)
                .arg("--client-cert-auth");
        }
        let guard = ChildGuard::spawn("etcd", &mut cmd).expect("start etcd");
        wait_for_port(client, Duration::from_secs(30));
        let e = Self {
            endpoint,
            guard,
            etcdctl,
            tls,
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
        let mut cmd = Command::new(&self.etcdctl);
        cmd.env("ETCDCTL_API", "3")
            .arg(format!("--endpoints={}", self.endpoint));
        if let Some(t) = &self.tls {
            cmd.arg("--cacert")
                .arg(&t.ca)
                .arg("--cert")
                .arg(&t.client_cert)
                .arg("--key")
                .arg(&t.client_key);
        }
        cmd.args(args).output().expect("run etcdctl")
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

//! The fake served over HTTPS on 127.0.0.1, with the authentication of a kube-apiserver
//! started with `--anonymous-auth=false`: a client certificate signed by the cluster CA,
//! or a bearer token the server knows; anything else gets 401 Unauthorized.
//!
//! TLS is rustls with the aws-lc-rs provider, HTTP/2 (what kubectl negotiates) and
//! HTTP/1.1 (kube-rs). As Go's API server does, a client certificate is requested but not
//! required during the handshake and judged per request, so an untrusted certificate is a
//! 401 response rather than a failed handshake. There is no authorization: every
//! authenticated user may do everything (inject 403s with [`FakeApi::fail`]).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use http::{Request, Response};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use ksec_crypto::tls::{CertificateAuthority, IssuedCertificate};
use rustls::client::danger::HandshakeSignatureValid;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::WebPkiClientVerifier;
use rustls::{DigitallySignedStruct, DistinguishedName, RootCertStore, ServerConfig};

use super::http::{status_response, RespBody};
use super::store::FakeApi;

/// The user a client certificate of [`super::Credentials::ClientCertificate`] names.
pub const CERT_USER: &str = "ksec-test-admin";
/// The user behind [`super::Credentials::Token`].
pub const TOKEN_USER: &str = "ksec-test-token";
/// The user behind [`super::Credentials::TokenFile`].
pub const TOKEN_FILE_USER: &str = "ksec-test-token-file";
/// The user behind [`super::Credentials::Exec`].
pub const EXEC_USER: &str = "ksec-test-exec";

const VALIDITY: Duration = Duration::from_secs(7 * 86_400);

/// One request the HTTPS server answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestRecord {
    /// The authenticated user, `None` when the request was refused with 401.
    pub user: Option<String>,
    /// `GET`, `POST`, ….
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// The query string, empty when there is none.
    pub query: String,
    /// The status code of the answer.
    pub status: u16,
}

/// The credentials and certificates of one test cluster.
pub(super) struct Pki {
    pub(super) ca: CertificateAuthority,
    /// A second CA the server does not trust, for wrong client certificates.
    pub(super) stranger: CertificateAuthority,
    pub(super) client: IssuedCertificate,
    /// Bearer tokens and the users they stand for.
    pub(super) tokens: Vec<(String, &'static str)>,
}

impl Pki {
    fn generate() -> Self {
        let ca = CertificateAuthority::generate("ksec-test-cluster-ca", VALIDITY)
            .expect("generate the cluster CA");
        let stranger = CertificateAuthority::generate("ksec-test-stranger-ca", VALIDITY)
            .expect("generate a second CA");
        let client = ca
            .issue_client(CERT_USER, Some("system:masters"), VALIDITY)
            .expect("issue the client certificate");
        let tokens = [TOKEN_USER, TOKEN_FILE_USER, EXEC_USER]
            .into_iter()
            .map(|user| (random_token(), user))
            .collect();
        Self {
            ca,
            stranger,
            client,
            tokens,
        }
    }

    pub(super) fn token_of(&self, user: &str) -> &str {
        self.tokens
            .iter()
            .find(|(_, u)| *u == user)
            .map_or("", |(t, _)| t.as_str())
    }
}

fn random_token() -> String {
    let bytes = ksec_crypto::rand::array::<24>().expect("random token");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The fake API served over HTTPS on 127.0.0.1 with generated kubeconfigs; stops when
/// dropped.
///
/// ```
/// use ksec_testkit::cluster::{ApiServer, Credentials, FakeApi};
/// let server = ApiServer::start(FakeApi::new());
/// let kubeconfig = server.kubeconfig(Credentials::Token);
/// assert!(std::fs::read_to_string(kubeconfig).unwrap().contains(&server.url()));
/// ```
pub struct ApiServer {
    api: FakeApi,
    addr: SocketAddr,
    pub(super) pki: Arc<Pki>,
    pub(super) dir: tempfile::TempDir,
    log: Arc<Mutex<Vec<RequestRecord>>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl ApiServer {
    /// Serves `api` on a free port of 127.0.0.1, on a runtime thread of its own (so sync
    /// tests that run a binary and async tests alike can use it).
    pub fn start(api: FakeApi) -> Self {
        let pki = Arc::new(Pki::generate());
        let dir = crate::tempdir();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let addr = listener.local_addr().expect("local address");
        let verifier = Arc::new(DeferredClientAuth::trusting(&pki.ca));
        let tls = tls_config(&pki, verifier.clone());
        let log = Arc::new(Mutex::new(Vec::new()));
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let server = Served {
            api: api.clone(),
            pki: pki.clone(),
            verifier,
            log: log.clone(),
        };
        let thread = std::thread::Builder::new()
            .name(format!("ksec-test-apiserver-{}", addr.port()))
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .expect("runtime of the test API server");
                rt.block_on(server.accept_until(listener, tls, stopped));
                rt.shutdown_background();
            })
            .expect("spawn the test API server");
        let server = Self {
            api,
            addr,
            pki,
            dir,
            log,
            stop: Some(stop),
            thread: Some(thread),
        };
        server.write_credential_files();
        server
    }

    /// The fake behind the server (shared: what one writes, the other reads).
    pub fn api(&self) -> &FakeApi {
        &self.api
    }

    /// `https://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The cluster CA's certificate (PEM), which signs the serving and client certificates.
    pub fn ca_pem(&self) -> String {
        self.pki.ca.certificate().to_pem()
    }

    /// The bearer token of [`super::Credentials::Token`].
    pub fn token(&self) -> &str {
        self.pki.token_of(TOKEN_USER)
    }

    /// Every request answered so far, oldest first.
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// A file in the server's private directory (removed with the server).
    pub(super) fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

fn tls_config(pki: &Pki, verifier: Arc<DeferredClientAuth>) -> Arc<ServerConfig> {
    let serving = pki
        .ca
        .issue_server(&["localhost", "127.0.0.1"], VALIDITY)
        .expect("issue the serving certificate");
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
        serving.private_key_der().expose().to_vec(),
    ));
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_client_cert_verifier(verifier)
        .with_single_cert(
            vec![CertificateDer::from(serving.certificate().der().to_vec())],
            key,
        )
        .expect("serving certificate");
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Arc::new(config)
}

/// Requests a client certificate and checks that the client holds its key, but leaves
/// judging the chain to each request (Go's `tls.RequestClientCert`).
#[derive(Debug)]
struct DeferredClientAuth(Arc<dyn ClientCertVerifier>);

impl DeferredClientAuth {
    /// Judges chains against `ca`.
    fn trusting(ca: &CertificateAuthority) -> Self {
        let mut roots = RootCertStore::empty();
        roots
            .add(CertificateDer::from(ca.certificate().der().to_vec()))
            .expect("trust the cluster CA");
        let webpki = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
            .allow_unauthenticated()
            .build()
            .expect("client certificate verifier");
        Self(webpki)
    }

    /// The user a verified chain names (its subject CN).
    fn user(&self, chain: &[CertificateDer<'static>]) -> Option<String> {
        let (leaf, intermediates) = chain.split_first()?;
        self.0
            .verify_client_cert(leaf, intermediates, UnixTime::now())
            .ok()?;
        ksec_crypto::x509::Certificate::from_der(leaf)
            .ok()?
            .common_name
    }
}

impl ClientCertVerifier for DeferredClientAuth {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.0.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// What each connection task needs.
#[derive(Clone)]
struct Served {
    api: FakeApi,
    pki: Arc<Pki>,
    verifier: Arc<DeferredClientAuth>,
    log: Arc<Mutex<Vec<RequestRecord>>>,
}

impl Served {
    async fn accept_until(
        self,
        listener: std::net::TcpListener,
        tls: Arc<ServerConfig>,
        mut stopped: tokio::sync::oneshot::Receiver<()>,
    ) {
        let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
        let acceptor = tokio_rustls::TlsAcceptor::from(tls);
        loop {
            let (tcp, _) = tokio::select! {
                _ = &mut stopped => return,
                accepted = listener.accept() => match accepted {
                    Ok(a) => a,
                    Err(_) => continue,
                },
            };
            let acceptor = acceptor.clone();
            let served = self.clone();
            tokio::spawn(async move {
                let Ok(stream) = acceptor.accept(tcp).await else {
                    return; // a failed handshake: the client sees it
                };
                let cert_user = stream
                    .get_ref()
                    .1
                    .peer_certificates()
                    .and_then(|chain| served.verifier.user(chain));
                let service = service_fn(move |req| {
                    let served = served.clone();
                    let cert_user = cert_user.clone();
                    async move { Ok::<_, Infallible>(served.answer(cert_user, req).await) }
                });
                let _ = auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    }

    /// Authenticates the request, then lets the fake answer it.
    async fn answer(
        &self,
        cert_user: Option<String>,
        req: Request<Incoming>,
    ) -> Response<RespBody> {
        let bearer = req
            .headers()
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim);
        let token_user = bearer.and_then(|t| {
            self.pki
                .tokens
                .iter()
                .find(|(known, _)| known == t)
                .map(|(_, user)| user.to_string())
        });
        let user = cert_user.or(token_user);
        let mut record = RequestRecord {
            user: user.clone(),
            method: req.method().to_string(),
            path: req.uri().path().to_string(),
            query: req.uri().query().unwrap_or("").to_string(),
            status: 401,
        };
        let resp = match user {
            None => status_response(401, "Unauthorized"),
            Some(_) => self.api.handle(req).await,
        };
        record.status = resp.status().as_u16();
        self.log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(record);
        resp
    }
}

//! What sealing asks of a cluster (feature `cluster`), through `ksec-kube`'s client: the
//! sealed-secrets controller reached through the API server's service proxy, as kubeseal
//! reaches it (read the Service, use its first port's name:
//! `/api/v1/namespaces/NS/services/http:NAME:PORT/proxy/v1/{cert.pem,verify,rotate}`),
//! and the controller's key Secrets (label `sealedsecrets.bitnami.com/sealed-secrets-key`,
//! whatever its value: `active` or `compromised`) for backups and restores.
//!
//! The functions are async (kube-rs); the caller chooses the runtime. Errors name the
//! server, the kubeconfig and context, the Service or Secret, and what to do.
//!
//! The controller itself (`ksec-controller`) reads only the `active` keys of its own
//! namespace to register them and creates new keys by renewal; these functions serve the
//! other side: a backup reads every key Secret, a restore recreates them from a backup.
use crate::backup::{wipe, Backup, ExistingSecret, RestoreAction, RestoreItem};
use crate::error::{Cause, Error, Result};
use crate::keys::KEY_LABEL;
use crate::SealedSecret;
use ksec_kube::{ClusterConfig, KubeOptions};
use serde_json::Value;
use zeroize::Zeroizing;

/// The largest answer read as key Secrets (each is a few KiB).
const MAX_SECRET_ANSWER: usize = 64 << 20;

/// The controller's endpoints, below its proxy path.
const CERT_PEM: &str = "/v1/cert.pem";
const VERIFY: &str = "/v1/verify";
const ROTATE: &str = "/v1/rotate";

/// The fields of a re-sealed SealedSecret that belong to the object in the cluster, not
/// to the manifest in git.
const SERVER_SET_FIELDS: [&str; 3] = ["creationTimestamp", "deletionTimestamp", "generation"];

/// A connection to a cluster: the resolved configuration and its client.
struct Cluster {
    config: ClusterConfig,
    client: kube::Client,
}

impl Cluster {
    /// Resolves the kubeconfig and context and builds a client (inside a runtime).
    async fn connect(options: &KubeOptions) -> Result<Self> {
        let config = ClusterConfig::load(options).await.map_err(kube_error)?;
        let client = config.client().map_err(kube_error)?;
        Ok(Self { config, client })
    }

    /// A JSON API request.
    async fn json(&self, req: http::Request<Vec<u8>>) -> Result<Value, kube::Error> {
        self.client.request::<Value>(req).await
    }

    /// A JSON API request whose answer holds private keys (key Secrets). The body is
    /// read into buffers that are wiped when dropped (grown by copying into a larger one,
    /// so no unwiped copy is left behind) and dropped as soon as it is parsed; the caller
    /// wipes the parsed value ([`wipe`]). Below this, hyper's receive buffers and the
    /// body's chunks (`Bytes`) are kube-rs's and hyper's, and are freed unwiped.
    async fn secret_json(&self, req: http::Request<Vec<u8>>) -> Result<Value, kube::Error> {
        use futures::AsyncReadExt;
        let body = self.client.request_stream(req).await?;
        let mut body = std::pin::pin!(body);
        let mut chunk = Zeroizing::new([0u8; 16 << 10]);
        let mut answer = Zeroizing::new(Vec::with_capacity(64 << 10));
        loop {
            let n = body
                .read(chunk.as_mut_slice())
                .await
                .map_err(kube::Error::ReadEvents)?;
            if n == 0 {
                break;
            }
            if answer.len() + n > MAX_SECRET_ANSWER {
                return Err(kube::Error::ReadEvents(std::io::Error::other(format!(
                    "the answer has more than {MAX_SECRET_ANSWER} bytes, more than any List of key Secrets should"
                ))));
            }
            if answer.capacity() - answer.len() < n {
                let mut larger = Zeroizing::new(Vec::with_capacity(
                    (answer.capacity() * 2).max(answer.len() + n),
                ));
                larger.extend_from_slice(&answer);
                answer = larger;
            }
            answer.extend_from_slice(&chunk[..n]);
        }
        serde_json::from_slice(&answer).map_err(kube::Error::SerdeError)
    }

    /// The key Secrets (any value of their label) of `namespace`, or of every namespace:
    /// the API's List.
    async fn key_secrets(&self, namespace: Option<&str>) -> Result<Value> {
        let path = match namespace {
            Some(ns) => format!("/api/v1/namespaces/{ns}/secrets"),
            None => "/api/v1/secrets".to_string(),
        };
        let req = request(
            http::Method::GET,
            &format!("{path}?labelSelector={KEY_LABEL}"),
            vec![],
        )?;
        self.secret_json(req)
            .await
            .map_err(|e| Error::Kube(self.explain(e)))
    }

    /// An error of a request, explained with the server and kubeconfig.
    fn explain(&self, e: kube::Error) -> Cause {
        Cause::new(self.config.explain(e))
    }
}

fn kube_error(e: ksec_kube::Error) -> Error {
    Error::Kube(Cause::new(e))
}

/// A JSON request to the API server. Paths are built from namespaces and names, which
/// Kubernetes restricts to URI-safe characters; one that is not is refused here.
fn request(method: http::Method, path: &str, body: Vec<u8>) -> Result<http::Request<Vec<u8>>> {
    let mut req = http::Request::new(body);
    *req.method_mut() = method;
    *req.uri_mut() = path.parse().map_err(|_| Error::Field {
        field: path.into(),
        problem:
            "not a valid API path: a namespace or name holds characters Kubernetes does not allow"
                .into(),
    })?;
    let headers = req.headers_mut();
    headers.insert(
        http::header::ACCEPT,
        http::HeaderValue::from_static("application/json"),
    );
    headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    Ok(req)
}

/// The HTTP status of an API error, if it is one.
fn code(e: &kube::Error) -> Option<u16> {
    match e {
        kube::Error::Api(s) => Some(s.code),
        _ => None,
    }
}

/// The sealed-secrets controller behind its Service, reached through the API server's
/// service proxy.
pub struct Controller {
    cluster: Cluster,
    namespace: String,
    name: String,
    /// `http:NAME:PORTNAME`, as kubeseal joins it.
    target: String,
}

impl std::fmt::Debug for Controller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Controller")
            .field("cluster", &self.cluster.config)
            .field("namespace", &self.namespace)
            .field("name", &self.name)
            .field("target", &self.target)
            .finish()
    }
}

impl Controller {
    /// Reads the controller's Service `namespace`/`name` and takes its first port's
    /// name, as kubeseal does.
    pub async fn find(options: &KubeOptions, namespace: &str, name: &str) -> Result<Self> {
        let cluster = Cluster::connect(options).await?;
        let path = format!("/api/v1/namespaces/{namespace}/services/{name}");
        let svc = match cluster
            .json(request(http::Method::GET, &path, vec![])?)
            .await
        {
            Ok(s) => s,
            Err(e) if code(&e) == Some(404) => {
                return Err(Error::ControllerServiceNotFound {
                    namespace: namespace.into(),
                    name: name.into(),
                    server: cluster.config.server(),
                })
            }
            Err(e) => {
                return Err(Error::ControllerService {
                    namespace: namespace.into(),
                    name: name.into(),
                    source: cluster.explain(e),
                })
            }
        };
        let Some(port) = svc.pointer("/spec/ports/0") else {
            return Err(Error::ServiceWithoutPorts {
                namespace: namespace.into(),
                name: name.into(),
            });
        };
        let port_name = port.get("name").and_then(Value::as_str).unwrap_or("");
        Ok(Self {
            target: proxy_target(name, port_name),
            cluster,
            namespace: namespace.to_string(),
            name: name.to_string(),
        })
    }

    /// The controller's namespace.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The name of the controller's Service.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The API server's path of one of the controller's endpoints (`/v1/cert.pem`).
    pub fn path(&self, endpoint: &str) -> String {
        proxy_path(&self.namespace, &self.target, endpoint)
    }

    /// What went wrong reaching the controller.
    fn proxy_error(&self, endpoint: &str, e: kube::Error) -> Error {
        let (namespace, name, endpoint) = (
            self.namespace.clone(),
            self.name.clone(),
            endpoint.to_string(),
        );
        match &e {
            kube::Error::Api(s) if s.code == 503 || s.code == 502 => Error::ControllerUnavailable {
                namespace,
                name,
                endpoint,
                code: s.code,
                message: s.message.trim().to_string(),
            },
            kube::Error::Api(s) if s.code == 403 => Error::ProxyForbidden {
                namespace,
                target: self.target.clone(),
                reason: self.cluster.explain(e),
            },
            kube::Error::Api(s) if s.code == 429 => Error::ControllerRateLimited {
                namespace,
                name,
                endpoint,
            },
            kube::Error::Api(s) if s.code != 401 => Error::ControllerStatus {
                namespace,
                name,
                endpoint,
                code: s.code,
                message: s.message.trim().to_string(),
            },
            _ => Error::ControllerRequest {
                namespace,
                name,
                endpoint,
                source: self.cluster.explain(e),
            },
        }
    }

    /// `GET /v1/cert.pem`: the controller's newest certificate (PEM).
    pub async fn certificate(&self) -> Result<Vec<u8>> {
        let mut req = request(http::Method::GET, &self.path(CERT_PEM), vec![])?;
        req.headers_mut().insert(
            http::header::ACCEPT,
            http::HeaderValue::from_static("application/x-pem-file, */*"),
        );
        self.cluster
            .client
            .request_text(req)
            .await
            .map(String::into_bytes)
            .map_err(|e| self.proxy_error(CERT_PEM, e))
    }

    /// `POST /v1/verify`: true when the controller can open the SealedSecret, false on
    /// its 409 Conflict.
    pub async fn verify(&self, sealed: &SealedSecret) -> Result<bool> {
        let body = body_of(sealed);
        let req = request(http::Method::POST, &self.path(VERIFY), body)?;
        match self.cluster.client.request_text(req).await {
            Ok(_) => Ok(true),
            Err(e) if code(&e) == Some(409) => Ok(false),
            Err(e) => Err(self.proxy_error(VERIFY, e)),
        }
    }

    /// `POST /v1/rotate`: the SealedSecret re-sealed with the controller's newest key
    /// (without the fields the API server sets on objects, so it can go back to git);
    /// `None` on its 409 Conflict (no key of the controller opens it).
    pub async fn rotate(&self, sealed: &SealedSecret) -> Result<Option<SealedSecret>> {
        let body = body_of(sealed);
        let req = request(http::Method::POST, &self.path(ROTATE), body)?;
        let text = match self.cluster.client.request_text(req).await {
            Ok(text) => text,
            Err(e) if code(&e) == Some(409) => return Ok(None),
            Err(e) => return Err(self.proxy_error(ROTATE, e)),
        };
        let value: Value =
            serde_json::from_str(&text).map_err(|e| Error::ControllerAnswerNotJson {
                namespace: self.namespace.clone(),
                name: self.name.clone(),
                endpoint: ROTATE.into(),
                message: e.to_string(),
            })?;
        let mut rotated = SealedSecret::from_value(&value).map_err(|e| {
            Error::ControllerAnswerNotSealedSecret {
                namespace: self.namespace.clone(),
                name: self.name.clone(),
                endpoint: ROTATE.into(),
                error: Box::new(e),
            }
        })?;
        for field in SERVER_SET_FIELDS {
            rotated.metadata.remove(field);
        }
        Ok(Some(rotated))
    }
}

/// The JSON a SealedSecret is sent to the controller as.
fn body_of(sealed: &SealedSecret) -> Vec<u8> {
    // A serde_json::Value always serializes.
    serde_json::to_vec(&sealed.to_value()).unwrap_or_default()
}

/// `http:NAME:PORTNAME`: the service proxy's target, as kubeseal joins it (an unnamed
/// port leaves the last part empty).
fn proxy_target(service: &str, port_name: &str) -> String {
    format!("http:{service}:{port_name}")
}

/// The API server's path of a controller endpoint through the service proxy.
fn proxy_path(namespace: &str, target: &str, endpoint: &str) -> String {
    format!("/api/v1/namespaces/{namespace}/services/{target}/proxy{endpoint}")
}

/// The key Secrets of the cluster (of `namespace`, or of every namespace), as a backup.
pub async fn read_key_secrets(options: &KubeOptions, namespace: Option<&str>) -> Result<Backup> {
    let cluster = Cluster::connect(options).await?;
    let mut list = cluster.key_secrets(namespace).await?;
    let mut items = list
        .get_mut("items")
        .and_then(Value::as_array_mut)
        .map(std::mem::take)
        .unwrap_or_default();
    wipe(&mut list);
    let place = format!(
        "the cluster at {}{}",
        cluster.config.server(),
        namespace
            .map(|n| format!(" (namespace {n})"))
            .unwrap_or_default()
    );
    if items.is_empty() {
        return Err(Error::NoKeySecrets {
            place,
            namespace: namespace.map(String::from),
        });
    }
    let backup = Backup::from_secrets(&items, &place);
    items.iter_mut().for_each(wipe);
    backup
}

/// The Secrets a restore of `backup` (into the namespaces it records, or all into
/// `namespace`) must not overwrite: the key Secrets of every target namespace, and any
/// Secret named like a key Secret of the backup.
pub async fn existing_key_secrets(
    options: &KubeOptions,
    backup: &Backup,
    namespace: Option<&str>,
) -> Result<Vec<ExistingSecret>> {
    let cluster = Cluster::connect(options).await?;
    let mut namespaces: Vec<&str> = backup
        .keys()
        .iter()
        .map(|k| namespace.unwrap_or(k.namespace()))
        .collect();
    namespaces.sort();
    namespaces.dedup();
    let mut out = vec![];
    for ns in namespaces {
        let mut list = cluster.key_secrets(Some(ns)).await?;
        for s in list["items"].as_array().into_iter().flatten() {
            out.push(ExistingSecret::from_secret(s));
        }
        wipe(&mut list);
    }
    for k in backup.keys() {
        let ns = namespace.unwrap_or(k.namespace());
        if out.iter().any(|e| e.namespace == ns && e.name == k.name()) {
            continue;
        }
        let req = request(
            http::Method::GET,
            &format!("/api/v1/namespaces/{ns}/secrets/{}", k.name()),
            vec![],
        )?;
        match cluster.secret_json(req).await {
            Ok(mut s) => {
                out.push(ExistingSecret::from_secret(&s));
                wipe(&mut s);
            }
            Err(e) if code(&e) == Some(404) => {}
            Err(e) => return Err(Error::Kube(cluster.explain(e))),
        }
    }
    Ok(out)
}

/// Creates the key Secrets the plan marks [`RestoreAction::Create`] and returns their
/// `namespace/name`. If one fails, the ones created before it are deleted again, so a
/// failed restore leaves nothing behind ([`Error::RestoreStopped`] says what it left when
/// a deletion failed too).
pub async fn create_key_secrets(
    options: &KubeOptions,
    plan: &[RestoreItem<'_>],
) -> Result<Vec<String>> {
    let cluster = Cluster::connect(options).await?;
    let mut created: Vec<(String, String)> = vec![];
    for item in plan.iter().filter(|i| i.action == RestoreAction::Create) {
        let doc = item.key.secret_in(&item.namespace);
        // A serde_json::Value always serializes.
        let body = zeroize::Zeroizing::new(serde_json::to_vec(doc.value()).unwrap_or_default());
        // http::Request owns a plain Vec: this copy goes to hyper and is freed unwiped.
        let req = request(
            http::Method::POST,
            &format!("/api/v1/namespaces/{}/secrets", item.namespace),
            body.to_vec(),
        )?;
        // The API server answers with the created Secret, key included.
        if let Err(e) = cluster.secret_json(req).await.map(|mut s| wipe(&mut s)) {
            let (namespace, name) = (item.namespace.clone(), item.key.name().to_string());
            let error = match code(&e) {
                Some(409) => Error::KeySecretAppeared { namespace, name },
                Some(404) => Error::NamespaceMissing { namespace, name },
                _ => Error::CreateKeySecret {
                    namespace,
                    name,
                    source: cluster.explain(e),
                },
            };
            let mut left = vec![];
            for (ns, name) in &created {
                let req = request(
                    http::Method::DELETE,
                    &format!("/api/v1/namespaces/{ns}/secrets/{name}"),
                    vec![],
                )?;
                if cluster.json(req).await.is_err() {
                    left.push(format!("{ns}/{name}"));
                }
            }
            return Err(Error::RestoreStopped {
                created: created.len(),
                left,
                error: Box::new(error),
            });
        }
        created.push((item.namespace.clone(), item.key.name().to_string()));
    }
    Ok(created
        .into_iter()
        .map(|(ns, n)| format!("{ns}/{n}"))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_paths_are_kubeseals() {
        let target = proxy_target("sealed-secrets-controller", "http");
        assert_eq!(target, "http:sealed-secrets-controller:http");
        assert_eq!(
            proxy_path("kube-system", &target, CERT_PEM),
            "/api/v1/namespaces/kube-system/services/http:sealed-secrets-controller:http/proxy/v1/cert.pem"
        );
        // An unnamed port: kubeseal leaves the port part empty.
        assert_eq!(proxy_target("ss", ""), "http:ss:");
    }
}

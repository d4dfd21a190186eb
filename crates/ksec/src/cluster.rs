//! What the commands ask of a cluster, through `ksec-kube`'s client: the sealed-secrets
//! controller reached through the API server's service proxy, as kubeseal reaches it
//! (read the Service, use its first port's name:
//! `/api/v1/namespaces/NS/services/http:NAME:PORT/proxy/v1/{cert.pem,verify,rotate}`),
//! and the controller's key Secrets (label `sealedsecrets.bitnami.com/sealed-secrets-key`).
//!
//! Each call runs on a small current-thread runtime: the commands are synchronous.
//! Errors name the server, the kubeconfig and context, the Service or Secret, and what
//! to do.
use anyhow::{anyhow, bail, Context, Result};
use ksec_kube::{ClusterConfig, KubeOptions};
use ksec_seal::backup::{wipe, Backup, ExistingSecret, RestoreAction, RestoreItem};
use ksec_seal::keys::KEY_LABEL;
use serde_json::Value;
use std::future::Future;

/// Runs `f` to completion on a current-thread runtime.
pub fn block_on<T>(f: impl Future<Output = Result<T>>) -> Result<T> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?
        .block_on(f)
}

/// A connection to a cluster: the resolved configuration and its client.
pub struct Cluster {
    config: ClusterConfig,
    client: kube::Client,
}

impl Cluster {
    /// Resolves the kubeconfig and context and builds a client (inside a runtime).
    pub async fn connect(options: &KubeOptions) -> Result<Self> {
        let config = ClusterConfig::load(options).await?;
        let client = config.client()?;
        Ok(Self { config, client })
    }

    /// A JSON API request; errors explained with the server and kubeconfig.
    async fn json(&self, req: http::Request<Vec<u8>>) -> Result<Value, kube::Error> {
        self.client.request::<Value>(req).await
    }

    fn explain(&self, e: kube::Error) -> anyhow::Error {
        self.config.explain(e).into()
    }

    fn request(method: http::Method, path: &str, body: Vec<u8>) -> http::Request<Vec<u8>> {
        http::Request::builder()
            .method(method)
            .uri(path)
            .header(http::header::ACCEPT, "application/json")
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(body)
            .expect("a request with a valid path")
    }
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

impl Controller {
    /// Reads the controller's Service and takes its first port's name, as kubeseal does.
    pub async fn find(options: &KubeOptions, namespace: &str, name: &str) -> Result<Self> {
        let cluster = Cluster::connect(options).await?;
        let path = format!("/api/v1/namespaces/{namespace}/services/{name}");
        let svc = match cluster
            .json(Cluster::request(http::Method::GET, &path, vec![]))
            .await
        {
            Ok(s) => s,
            Err(e) if code(&e) == Some(404) => bail!(
                "cannot get the sealed-secrets controller's Service {namespace}/{name} from {}: not found; \
                 point --controller-name and --controller-namespace (SEALED_SECRETS_CONTROLLER_NAME, \
                 SEALED_SECRETS_CONTROLLER_NAMESPACE) at the controller's Service, or pass --cert FILE",
                cluster.config.server()
            ),
            Err(e) => {
                return Err(cluster.explain(e)).with_context(|| {
                    format!("cannot get the sealed-secrets controller's Service {namespace}/{name}")
                })
            }
        };
        let Some(port) = svc.pointer("/spec/ports/0") else {
            bail!("the Service {namespace}/{name} has no ports, so the controller cannot be reached through it");
        };
        let port_name = port.get("name").and_then(Value::as_str).unwrap_or("");
        Ok(Self {
            cluster,
            namespace: namespace.to_string(),
            name: name.to_string(),
            target: format!("http:{name}:{port_name}"),
        })
    }

    fn path(&self, endpoint: &str) -> String {
        format!(
            "/api/v1/namespaces/{}/services/{}/proxy{endpoint}",
            self.namespace, self.target
        )
    }

    /// What went wrong reaching the controller, with what to do.
    fn proxy_error(&self, endpoint: &str, e: kube::Error) -> anyhow::Error {
        let what = format!(
            "the sealed-secrets controller {}/{} ({endpoint} through the API server's service proxy)",
            self.namespace, self.name
        );
        match &e {
            kube::Error::Api(s) if s.code == 503 || s.code == 502 => anyhow!(
                "{what} does not answer ({} {}): is it running? kubectl -n {} get pods,endpoints; \
                 or seal offline with --cert FILE",
                s.code,
                s.message.trim(),
                self.namespace
            ),
            kube::Error::Api(s) if s.code == 403 => anyhow!(
                "{}; users need services/proxy on {:?} in {} (the sealed-secrets-service-proxier Role \
                 of the chart and the Kustomize base grants it)",
                self.cluster.config.explain(e),
                self.target,
                self.namespace
            ),
            kube::Error::Api(s) if s.code == 429 => {
                anyhow!("{what} refused the request: rate limit exceeded; try again in a moment")
            }
            kube::Error::Api(s) if s.code != 401 => {
                anyhow!("{what} answered {}: {}", s.code, s.message.trim())
            }
            _ => anyhow::Error::from(self.cluster.config.explain(e)).context(what),
        }
    }

    /// `GET /v1/cert.pem`: the controller's newest certificate.
    pub async fn certificate(&self) -> Result<Vec<u8>> {
        let mut req = Cluster::request(http::Method::GET, &self.path("/v1/cert.pem"), vec![]);
        req.headers_mut().insert(
            http::header::ACCEPT,
            http::HeaderValue::from_static("application/x-pem-file, */*"),
        );
        self.cluster
            .client
            .request_text(req)
            .await
            .map(String::into_bytes)
            .map_err(|e| self.proxy_error("/v1/cert.pem", e))
    }

    /// `POST /v1/verify`: true when the controller can open the SealedSecret, false on
    /// its 409 Conflict.
    pub async fn verify(&self, sealed: &Value) -> Result<bool> {
        let body = serde_json::to_vec(sealed)?;
        let req = Cluster::request(http::Method::POST, &self.path("/v1/verify"), body);
        match self.cluster.client.request_text(req).await {
            Ok(_) => Ok(true),
            Err(e) if code(&e) == Some(409) => Ok(false),
            Err(e) => Err(self.proxy_error("/v1/verify", e)),
        }
    }

    /// `POST /v1/rotate`: the SealedSecret re-sealed with the controller's newest key;
    /// `None` on its 409 Conflict (no key of the controller opens it).
    pub async fn rotate(&self, sealed: &Value) -> Result<Option<Value>> {
        let body = serde_json::to_vec(sealed)?;
        let req = Cluster::request(http::Method::POST, &self.path("/v1/rotate"), body);
        match self.cluster.client.request_text(req).await {
            Ok(text) => Ok(Some(serde_json::from_str(&text).with_context(|| {
                format!(
                    "the sealed-secrets controller {}/{} answered /v1/rotate with something that is not JSON",
                    self.namespace, self.name
                )
            })?)),
            Err(e) if code(&e) == Some(409) => Ok(None),
            Err(e) => Err(self.proxy_error("/v1/rotate", e)),
        }
    }
}

/// The key Secrets of the cluster (of `namespace`, or of every namespace).
pub fn read_key_secrets(options: &KubeOptions, namespace: Option<&str>) -> Result<Backup> {
    block_on(async {
        let cluster = Cluster::connect(options).await?;
        let path = match namespace {
            Some(ns) => format!("/api/v1/namespaces/{ns}/secrets"),
            None => "/api/v1/secrets".to_string(),
        };
        let req = Cluster::request(
            http::Method::GET,
            &format!("{path}?labelSelector={}", KEY_LABEL),
            vec![],
        );
        let mut list = match cluster.json(req).await {
            Ok(l) => l,
            Err(e) if code(&e) == Some(403) && namespace.is_none() => {
                return Err(anyhow!(
                    "{}; to read the keys of one namespace only, pass -n NAMESPACE (the controller's, usually kube-system)",
                    cluster.config.explain(e)
                ))
            }
            Err(e) => return Err(cluster.explain(e)),
        };
        let mut items = list
            .get_mut("items")
            .and_then(Value::as_array_mut)
            .map(std::mem::take)
            .unwrap_or_default();
        wipe(&mut list);
        let source = format!(
            "the cluster at {}{}",
            cluster.config.server(),
            namespace
                .map(|n| format!(" (namespace {n})"))
                .unwrap_or_default()
        );
        if items.is_empty() {
            bail!(
                "{source} has no sealing key Secrets (label {KEY_LABEL}){}",
                if namespace.is_some() {
                    "; leave out -n to look in every namespace"
                } else {
                    ""
                }
            );
        }
        let backup = Backup::from_secrets(&items, &source);
        items.iter_mut().for_each(wipe);
        Ok(backup?)
    })
}

/// The Secrets a restore must not overwrite: the key Secrets of every target namespace,
/// and any Secret named like a key Secret of the backup.
pub fn existing_key_secrets(
    options: &KubeOptions,
    backup: &Backup,
    namespace: Option<&str>,
) -> Result<Vec<ExistingSecret>> {
    block_on(async {
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
            let req = Cluster::request(
                http::Method::GET,
                &format!("/api/v1/namespaces/{ns}/secrets?labelSelector={KEY_LABEL}"),
                vec![],
            );
            let mut list = cluster.json(req).await.map_err(|e| cluster.explain(e))?;
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
            let req = Cluster::request(
                http::Method::GET,
                &format!("/api/v1/namespaces/{ns}/secrets/{}", k.name()),
                vec![],
            );
            match cluster.json(req).await {
                Ok(mut s) => {
                    out.push(ExistingSecret::from_secret(&s));
                    wipe(&mut s);
                }
                Err(e) if code(&e) == Some(404) => {}
                Err(e) => return Err(cluster.explain(e)),
            }
        }
        Ok(out)
    })
}

/// Creates the key Secrets the plan marks [`RestoreAction::Create`]. If one fails, the
/// ones created before it are deleted again, so a failed restore leaves nothing behind.
pub fn create_key_secrets(options: &KubeOptions, plan: &[RestoreItem<'_>]) -> Result<Vec<String>> {
    block_on(async {
        let cluster = Cluster::connect(options).await?;
        let mut created: Vec<(String, String)> = vec![];
        for item in plan.iter().filter(|i| i.action == RestoreAction::Create) {
            let doc = item.key.secret_in(&item.namespace);
            let body = zeroize::Zeroizing::new(serde_json::to_vec(doc.value())?);
            let req = Cluster::request(
                http::Method::POST,
                &format!("/api/v1/namespaces/{}/secrets", item.namespace),
                body.to_vec(),
            );
            if let Err(e) = cluster.json(req).await {
                let what = format!(
                    "cannot create Secret {}/{}",
                    item.namespace,
                    item.key.name()
                );
                let err = match code(&e) {
                    Some(409) => anyhow!("{what}: it appeared meanwhile; run the restore again to see what the cluster has"),
                    Some(404) => anyhow!("{what}: namespace {} does not exist; create it (kubectl create namespace {}) or restore into another with -n", item.namespace, item.namespace),
                    _ => anyhow::Error::from(cluster.config.explain(e)).context(what),
                };
                let mut left = vec![];
                for (ns, name) in &created {
                    let req = Cluster::request(
                        http::Method::DELETE,
                        &format!("/api/v1/namespaces/{ns}/secrets/{name}"),
                        vec![],
                    );
                    if cluster.json(req).await.is_err() {
                        left.push(format!("{ns}/{name}"));
                    }
                }
                return Err(if left.is_empty() {
                    err.context(format!(
                        "nothing was restored ({} Secret(s) created before the failure were deleted again)",
                        created.len()
                    ))
                } else {
                    err.context(format!(
                        "the restore stopped; these Secrets were created and could not be deleted again: {}",
                        left.join(", ")
                    ))
                });
            }
            created.push((item.namespace.clone(), item.key.name().to_string()));
        }
        Ok(created
            .into_iter()
            .map(|(ns, n)| format!("{ns}/{n}"))
            .collect())
    })
}

//! An in-memory Kubernetes API server behind `kube::Client`, for tests and benchmarks.
//!
//! There is no kube-apiserver on these machines, so ksec's cluster code is tested against
//! this fake. It models what that code relies on, the way the real API server behaves:
//! - resourceVersions (one global counter, as etcd's revision), uids, creationTimestamp,
//!   `metadata.generation` bumped when anything but metadata/status changes;
//! - get, list (label and field selectors), watch (events streamed as newline-delimited
//!   JSON, resumable from a resourceVersion), create (409 AlreadyExists), replace (409
//!   Conflict on a stale resourceVersion), patch (JSON merge patch, RFC 7386; JSON patch,
//!   RFC 6902; strategic merge patch for built-in kinds, with the merge keys of common list
//!   fields; server-side apply is refused with 415 so a test notices), delete;
//! - namespaced and cluster-scoped resources (Namespaces, ClusterRoles, …); deleting a
//!   Namespace deletes what is in it;
//! - the status subresource (writes to the main resource keep the stored status, writes to
//!   `/status` change only the status; status is dropped on create);
//! - Secrets as the API server writes them (`stringData` merged into `data`, `type`
//!   defaulted to `Opaque`); immutable Secrets (changing `data`/`type` of one is 422);
//! - owner references: deleting an object deletes its dependents (background GC);
//! - faults injected by tests, and a log of the writes for idempotence checks;
//! - discovery (`/api`, `/apis`, `/version`, the resource lists of core/v1, apps/v1,
//!   batch/v1, rbac.authorization.k8s.io/v1, coordination.k8s.io/v1, events.k8s.io/v1 and
//!   bitnami.com/v1alpha1), `Table` answers, and protobuf request bodies of the kinds
//!   kubectl's `create secret|configmap|namespace|serviceaccount|role…` generators send,
//!   which is what kubectl needs;
//! - the service proxy, forwarded to a local HTTP server ([`FakeApi::forward_service`]).
//!
//! [`FakeApi::client`] talks to it in process; [`ApiServer`] serves it over HTTPS on
//! 127.0.0.1 with kubeconfigs for each kind of [`Credentials`], so a test can run the
//! real `ksec` binary or `kubectl` against it. Objects come in through
//! [`FakeApi::insert`] or manifests ([`FakeApi::load_file`]) and are read back with
//! [`FakeApi::get`], [`FakeApi::get_kind`], [`FakeApi::list`] and [`FakeApi::writes`].
//!
//! It knows nothing about ksec: it stores plain JSON by (resource, namespace, name), where
//! a resource is `"core/secrets"`, `"bitnami.com/sealedsecrets"`, `"apps/deployments"`, ….
//! None of this has met a live cluster.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use ksec_testkit::cluster::FakeApi;
//! let fake = FakeApi::new();
//! fake.insert("core/configmaps", serde_json::json!({
//!     "apiVersion": "v1", "kind": "ConfigMap",
//!     "metadata": {"name": "settings", "namespace": "team-a"},
//!     "data": {"level": "debug"}
//! }));
//! let api: kube::Api<k8s_openapi::api::core::v1::ConfigMap> =
//!     kube::Api::namespaced(fake.client(), "team-a");
//! let cm = api.get("settings").await.unwrap();
//! assert_eq!(cm.data.unwrap()["level"], "debug");
//! # }
//! ```

mod http;
mod kubeconfig;
mod load;
mod patch;
mod protobuf;
mod proxy;
mod resources;
mod selector;
mod server;
mod store;
mod table;
mod target;

pub use kubeconfig::{Credentials, KubeconfigBuilder};
pub use patch::merge_patch;
pub use server::{ApiServer, RequestRecord, CERT_USER, EXEC_USER, TOKEN_FILE_USER, TOKEN_USER};
pub use store::{FakeApi, Fault};

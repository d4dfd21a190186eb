//! An in-memory Kubernetes API server behind `kube::Client`, for tests and benchmarks.
//!
//! There is no kube-apiserver on these machines, so ksec's cluster code is tested against
//! this fake. It models what that code relies on, the way the real API server behaves:
//! - resourceVersions (one global counter, as etcd's revision), uids, creationTimestamp,
//!   `metadata.generation` bumped when anything but metadata/status changes;
//! - get, list (label and field selectors), watch (events streamed as newline-delimited
//!   JSON, resumable from a resourceVersion), create (409 AlreadyExists), replace (409
//!   Conflict on a stale resourceVersion), JSON merge patch (RFC 7386; every other patch
//!   type is refused with 415 so a test notices), delete;
//! - the status subresource (writes to the main resource keep the stored status, writes to
//!   `/status` change only the status; status is dropped on create);
//! - immutable Secrets (changing `data`/`type` of one is 422 Invalid);
//! - owner references: deleting an object deletes its dependents (background GC);
//! - faults injected by tests, and a log of the writes for idempotence checks.
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
mod patch;
mod selector;
mod store;
mod target;

pub use patch::merge_patch;
pub use store::{FakeApi, Fault};

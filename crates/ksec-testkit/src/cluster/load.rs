//! Loading objects into the fake from manifests (multi-document YAML, JSON, `kind: List`),
//! as `kubectl create -f` would, so a test can start from the files a user has.

use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

use super::resources;
use super::store::FakeApi;

impl FakeApi {
    /// Stores every object of a YAML (multi-document) or JSON manifest, `kind: List`
    /// included, and returns them as stored. Panics, naming the document, on a document
    /// that is not an object of a kind the fake serves (a test-setup error).
    pub fn load_str(&self, manifest: &str) -> Vec<Value> {
        self.load_named("<string>", manifest)
    }

    /// [`FakeApi::load_str`] of a file.
    pub fn load_file(&self, path: impl AsRef<Path>) -> Vec<Value> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        self.load_named(&path.display().to_string(), &text)
    }

    fn load_named(&self, source: &str, text: &str) -> Vec<Value> {
        let mut out = Vec::new();
        for (i, doc) in serde_norway::Deserializer::from_str(text).enumerate() {
            let value = Value::deserialize(doc)
                .unwrap_or_else(|e| panic!("{source}: document {}: {e}", i + 1));
            let objects = match value {
                Value::Null => continue,
                Value::Object(ref m) if m.get("kind").and_then(Value::as_str) == Some("List") => m
                    .get("items")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default(),
                v => vec![v],
            };
            for obj in objects {
                let api_version = obj["apiVersion"].as_str().unwrap_or("");
                let kind = obj["kind"].as_str().unwrap_or("");
                let resource = resources::by_kind(api_version, kind).unwrap_or_else(|| {
                    panic!(
                        "{source}: document {}: kind {kind:?} of apiVersion {api_version:?} is not a resource the fake serves",
                        i + 1
                    )
                });
                out.push(self.insert(&resource.key(), obj));
            }
        }
        out
    }

    /// The stored object of `kind` in `api_version` (`"v1"`, `"apps/v1"`), for reading
    /// back what a command wrote without spelling out the resource.
    pub fn get_kind(&self, api_version: &str, kind: &str, ns: &str, name: &str) -> Option<Value> {
        let resource = resources::by_kind(api_version, kind)?;
        let ns = if resource.namespaced { ns } else { "" };
        self.get(&resource.key(), ns, name)
    }
}

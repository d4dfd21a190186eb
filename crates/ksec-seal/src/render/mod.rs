//! Writing manifests byte for byte the way kubeseal does, so files written by ksec and
//! by kubeseal diff cleanly: [`json`] is Go's `json.MarshalIndent` with two spaces,
//! [`yaml`] is what `sigs.k8s.io/yaml` (go-yaml v2) makes of the same JSON.
pub mod json;
pub mod yaml;

use serde_json::Value;

/// Output format of a manifest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Format {
    /// Pretty JSON (kubeseal's default).
    #[default]
    Json,
    /// YAML, each document preceded by `---`.
    Yaml,
}

impl std::str::FromStr for Format {
    type Err = crate::Error;
    fn from_str(s: &str) -> Result<Self, crate::Error> {
        match s.to_ascii_lowercase().as_str() {
            "json" | "" => Ok(Format::Json),
            "yaml" | "yml" => Ok(Format::Yaml),
            other => Err(crate::Error::UnknownFormat {
                value: other.to_string(),
            }),
        }
    }
}

impl Format {
    /// The format a manifest is written in: JSON when its first non-blank character is
    /// `{`, YAML otherwise (so a rewrite keeps the file's format).
    pub fn of(manifest: &[u8]) -> Format {
        match manifest.iter().find(|b| !b.is_ascii_whitespace()) {
            Some(b'{') => Format::Json,
            _ => Format::Yaml,
        }
    }
}

/// Renders one document the way kubeseal prints it (with its trailing newline).
pub fn document(v: &Value, format: Format) -> String {
    match format {
        Format::Json => {
            let mut s = json::to_string_pretty(v);
            s.push('\n');
            s
        }
        Format::Yaml => {
            let mut s = String::from("---\n");
            s.push_str(&yaml::to_string(v));
            s
        }
    }
}

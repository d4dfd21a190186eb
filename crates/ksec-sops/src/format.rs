//! File formats (sops's stores) and how to lay out what is written.
use std::path::Path;

/// A file format (sops's `--input-type`/`--output-type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    /// YAML (`.yaml`, `.yml`).
    Yaml,
    /// JSON (`.json`).
    Json,
    /// dotenv (`.env`).
    Dotenv,
    /// INI (`.ini`).
    Ini,
    /// Anything else: the whole file is one value.
    Binary,
}

impl Format {
    /// The format sops picks from a file name.
    pub fn from_path(p: &Path) -> Self {
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let ext = p.extension().and_then(|e| e.to_str()).unwrap_or("");
        match ext {
            "yaml" | "yml" => Format::Yaml,
            "json" => Format::Json,
            "env" => Format::Dotenv,
            "ini" => Format::Ini,
            _ if name == ".env" => Format::Dotenv,
            _ => Format::Binary,
        }
    }

    /// Parses sops's names: `yaml`, `json`, `dotenv`, `ini`, `binary`.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "yaml" => Format::Yaml,
            "json" => Format::Json,
            "dotenv" => Format::Dotenv,
            "ini" => Format::Ini,
            "binary" => Format::Binary,
            _ => return None,
        })
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Format::Yaml => "YAML",
            Format::Json => "JSON",
            Format::Dotenv => "dotenv",
            Format::Ini => "INI",
            Format::Binary => "binary",
        })
    }
}

/// How to lay out what is written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EmitOptions {
    /// YAML indentation (sops's default 4) / JSON indentation in spaces (0 or
    /// none: a tab, as sops writes JSON).
    pub indent: Option<usize>,
}

impl EmitOptions {
    /// An explicit `indent`, else the one `.sops.yaml`'s `stores` section sets for
    /// `format` (YAML; JSON, which binary files are written as).
    pub fn resolve(indent: Option<usize>, config: Option<&crate::Config>, format: Format) -> Self {
        let from_config = config.and_then(|c| match format {
            Format::Yaml => c.yaml_indent,
            Format::Json | Format::Binary => c.json_indent,
            _ => None,
        });
        EmitOptions {
            indent: indent.or(from_config),
        }
    }
}

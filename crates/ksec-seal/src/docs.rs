//! Reading Kubernetes manifests: one JSON object, a stream of JSON objects, or YAML
//! with one or more documents. The result is plain JSON values.
use serde::Deserialize;
use serde_json::Value;

/// Why a manifest could not be read. Carries positions, never document content.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DocError {
    /// Invalid YAML.
    #[error("invalid YAML in document {doc}: {msg}")]
    Yaml {
        /// 1-based document number.
        doc: usize,
        /// Parser message with line and column.
        msg: String,
    },
    /// Invalid JSON.
    #[error("invalid JSON at line {line}, column {column}: {msg}")]
    Json {
        /// Line (1-based).
        line: usize,
        /// Column (1-based).
        column: usize,
        /// Parser message.
        msg: String,
    },
    /// Not UTF-8.
    #[error("the input is not UTF-8 text")]
    NotUtf8,
}

/// Parses every non-empty document of `input`.
pub fn parse_documents(input: &[u8]) -> Result<Vec<Value>, DocError> {
    let text = std::str::from_utf8(input).map_err(|_| DocError::NotUtf8)?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let first = text.trim_start().chars().next();
    if matches!(first, Some('{') | Some('[')) {
        let mut out = vec![];
        for v in serde_json::Deserializer::from_str(text).into_iter::<Value>() {
            match v {
                Ok(v) => out.push(v),
                Err(e) => {
                    return Err(DocError::Json {
                        line: e.line(),
                        column: e.column(),
                        msg: strip_position(&e.to_string()),
                    })
                }
            }
        }
        return Ok(out);
    }
    let mut out = vec![];
    for (i, doc) in serde_norway::Deserializer::from_str(text).enumerate() {
        let v = Value::deserialize(doc).map_err(|e| DocError::Yaml {
            doc: i + 1,
            msg: e.to_string(),
        })?;
        if !v.is_null() {
            out.push(v);
        }
    }
    Ok(out)
}

fn strip_position(msg: &str) -> String {
    match msg.find(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}

/// Expands `kind: List` documents (and `SecretList`/`SealedSecretList`) into their items.
pub fn flatten_lists(docs: Vec<Value>) -> Vec<Value> {
    let mut out = vec![];
    for d in docs {
        let is_list = d
            .get("kind")
            .and_then(Value::as_str)
            .is_some_and(|k| k == "List" || k.ends_with("List"))
            && d.get("items").is_some_and(Value::is_array);
        if is_list {
            if let Some(Value::Array(items)) = d.get("items") {
                out.extend(items.iter().cloned());
            }
        } else {
            out.push(d);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn yaml_multi_document_and_empty_documents() {
        let docs = parse_documents(b"---\na: 1\n---\n# only a comment\n---\nb: [x]\n").unwrap();
        assert_eq!(docs, vec![json!({"a": 1}), json!({"b": ["x"]})]);
    }

    #[test]
    fn json_stream() {
        let docs = parse_documents(b"{\"a\":1}\n{\"b\":2}").unwrap();
        assert_eq!(docs.len(), 2);
    }

    #[test]
    fn errors_carry_positions() {
        let e = parse_documents(b"a: 1\nb: [\n").unwrap_err();
        assert!(matches!(e, DocError::Yaml { doc: 1, .. }), "{e}");
        let e = parse_documents(b"{\"a\": }").unwrap_err();
        assert!(matches!(e, DocError::Json { line: 1, .. }), "{e}");
        assert_eq!(
            parse_documents(&[0xff, 0xfe]).unwrap_err(),
            DocError::NotUtf8
        );
    }

    #[test]
    fn lists_expand() {
        let d = flatten_lists(vec![
            json!({"kind": "List", "items": [{"a": 1}, {"b": 2}]}),
            json!({"c": 3}),
        ]);
        assert_eq!(d.len(), 3);
    }
}

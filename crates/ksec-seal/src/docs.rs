//! Reading Kubernetes manifests: one JSON object, a stream of JSON objects, or YAML with
//! one or more documents, and `kind: List` documents; then the Secrets and SealedSecrets
//! in them, with errors that name the file and the document.
use crate::error::{Error, Result};
use crate::{SealedSecret, Secret};
use serde::Deserialize;
use serde_json::Value;

/// Parses every non-empty document of `input` into plain JSON values.
pub fn parse_documents(input: &[u8]) -> Result<Vec<Value>> {
    let text = std::str::from_utf8(input).map_err(|_| Error::NotUtf8)?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let first = text.trim_start().chars().next();
    if matches!(first, Some('{') | Some('[')) {
        let mut out = vec![];
        for v in serde_json::Deserializer::from_str(text).into_iter::<Value>() {
            match v {
                Ok(v) => out.push(v),
                Err(e) => {
                    return Err(Error::Json {
                        line: e.line(),
                        column: e.column(),
                        message: strip_position(&e.to_string()),
                    })
                }
            }
        }
        return Ok(out);
    }
    let mut out = vec![];
    for (i, doc) in serde_norway::Deserializer::from_str(text).enumerate() {
        let v = Value::deserialize(doc).map_err(|e| Error::Yaml {
            document: i + 1,
            message: e.to_string(),
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

/// Reads every Secret of a manifest (YAML documents, a JSON stream, `kind: List`).
/// `origin` names the input in errors (a file name, `(stdin)`).
pub fn read_secrets(input: &[u8], origin: &str) -> Result<Vec<Secret>> {
    read_all(input, origin, "Secret", Secret::from_value)
}

/// Reads every SealedSecret of a manifest (YAML documents, a JSON stream, `kind: List`).
pub fn read_sealed_secrets(input: &[u8], origin: &str) -> Result<Vec<SealedSecret>> {
    read_all(input, origin, crate::KIND, SealedSecret::from_value)
}

/// Reads a manifest that must hold exactly one SealedSecret (a request body, a file to
/// merge into).
pub fn read_one_sealed_secret(input: &[u8], origin: &str) -> Result<SealedSecret> {
    let mut all = read_sealed_secrets(input, origin)?;
    match all.len() {
        1 => Ok(all.remove(0)),
        found => Err(Error::DocumentCount {
            kind: crate::KIND,
            found,
        }
        .within(origin)),
    }
}

fn read_all<T>(
    input: &[u8],
    origin: &str,
    kind: &'static str,
    read: impl Fn(&Value) -> Result<T>,
) -> Result<Vec<T>> {
    let docs = flatten_lists(parse_documents(input).map_err(|e| e.within(origin))?);
    if docs.is_empty() {
        return Err(Error::NoDocuments { kind }.within(origin));
    }
    docs.iter()
        .enumerate()
        .map(|(i, d)| read(d).map_err(|e| in_document(e, origin, i, docs.len())))
        .collect()
}

/// Names document `index` (of `count`) of `origin` in an error: `in.yaml: document 2`,
/// or just `in.yaml` when it holds one document.
pub fn in_document(error: Error, origin: &str, index: usize, count: usize) -> Error {
    if count > 1 {
        error.within(format!("{origin}: document {}", index + 1))
    } else {
        error.within(origin)
    }
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
        assert!(matches!(e, Error::Yaml { document: 1, .. }), "{e}");
        let e = parse_documents(b"{\"a\": }").unwrap_err();
        assert!(matches!(e, Error::Json { line: 1, .. }), "{e}");
        assert_eq!(parse_documents(&[0xff, 0xfe]).unwrap_err(), Error::NotUtf8);
    }

    #[test]
    fn lists_expand() {
        let d = flatten_lists(vec![
            json!({"kind": "List", "items": [{"a": 1}, {"b": 2}]}),
            json!({"c": 3}),
        ]);
        assert_eq!(d.len(), 3);
    }

    #[test]
    fn readers_name_the_file_and_the_document() {
        let two =
            b"kind: Secret\nmetadata: {name: a}\n---\nkind: Secret\ndata: {k: 'not base64!'}\n";
        let e = read_secrets(two, "in.yaml").unwrap_err().to_string();
        assert!(
            e.starts_with("in.yaml: document 2: data.k: not valid base64"),
            "{e}"
        );
        let e = read_secrets(b"kind: ConfigMap\n", "one.yaml")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("one.yaml: expected kind Secret"), "{e}");
        let e = read_secrets(b"# nothing\n", "empty.yaml")
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "empty.yaml: no Secret found in the input (expected a YAML or JSON v1 Secret)"
        );
        let e = read_sealed_secrets(b"a: [\n", "bad.yaml")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("bad.yaml: invalid YAML in document 1"), "{e}");
    }

    #[test]
    fn lists_and_json_streams_are_read() {
        let list = json!({"apiVersion": "v1", "kind": "List", "items": [
            {"kind": "SealedSecret", "apiVersion": "bitnami.com/v1alpha1", "metadata": {"name": "a"}},
            {"kind": "SealedSecret", "apiVersion": "bitnami.com/v1alpha1", "metadata": {"name": "b"}}]});
        let all = read_sealed_secrets(list.to_string().as_bytes(), "list.json").unwrap();
        assert_eq!(all.len(), 2);
        let e = read_one_sealed_secret(list.to_string().as_bytes(), "list.json").unwrap_err();
        assert_eq!(
            e.to_string(),
            "list.json: expected exactly one SealedSecret document, found 2"
        );
        let stream = b"{\"kind\":\"Secret\",\"metadata\":{\"name\":\"a\"}}\n{\"kind\":\"Secret\",\"metadata\":{\"name\":\"b\"}}";
        assert_eq!(read_secrets(stream, "s.json").unwrap().len(), 2);
    }
}

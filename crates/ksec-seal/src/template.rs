//! `spec.template.data`: Go templates over the decrypted values.
//!
//! The controller evaluates these with Go's text/template and sprig. This module
//! implements the subset that real charts use for connection strings: literal text,
//! `{{ .key }}`, `{{ index . "key" }}`, and pipelines through `trim`, `upper`, `lower`,
//! `quote`, `squote`, `b64enc`, `b64dec`, `trimSuffix "x"`, `trimPrefix "x"`,
//! `replace "a" "b"`, `printf "%s"`. Anything else is an error that names it.
use crate::Error;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use ksec_crypto::SecretBytes;
use std::collections::BTreeMap;

/// Why a template did not render. Never includes values.
fn template_error(message: impl Into<String>) -> Error {
    Error::Template {
        message: message.into(),
    }
}

/// Renders `tpl` with `data` as its dot.
pub fn render(tpl: &str, data: &BTreeMap<String, SecretBytes>) -> Result<SecretBytes, Error> {
    let mut out = zeroize::Zeroizing::new(Vec::with_capacity(tpl.len()));
    let mut rest = tpl;
    while let Some(start) = rest.find("{{") {
        out.extend_from_slice(&rest.as_bytes()[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .ok_or_else(|| template_error("unclosed action: missing }}"))?;
        let mut action = &after[..end];
        rest = &after[end + 2..];
        // Trim markers {{- and -}} remove surrounding white space.
        if let Some(a) = action.strip_prefix('-') {
            action = a;
            while out.last().is_some_and(|b| b.is_ascii_whitespace()) {
                out.pop();
            }
        }
        if let Some(a) = action.strip_suffix('-') {
            action = a;
            rest = rest.trim_start();
        }
        let v = eval(action.trim(), data)?;
        out.extend_from_slice(v.expose());
    }
    out.extend_from_slice(rest.as_bytes());
    Ok(SecretBytes::new(std::mem::take(&mut *out)))
}

fn words(s: &str) -> Result<Vec<String>, Error> {
    let mut out = vec![];
    let mut chars = s.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '"' {
            chars.next();
            let mut w = String::from("\"");
            loop {
                match chars.next() {
                    Some('\\') => match chars.next() {
                        Some('n') => w.push('\n'),
                        Some('t') => w.push('\t'),
                        Some(o) => w.push(o),
                        None => return Err(template_error("unterminated string")),
                    },
                    Some('"') => break,
                    Some(o) => w.push(o),
                    None => return Err(template_error("unterminated string")),
                }
            }
            out.push(w);
        } else {
            let mut w = String::new();
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                w.push(c);
                chars.next();
            }
            out.push(w);
        }
    }
    Ok(out)
}

fn lookup(data: &BTreeMap<String, SecretBytes>, key: &str) -> Result<SecretBytes, Error> {
    data.get(key)
        .cloned()
        .ok_or_else(|| template_error(format!("no value named {key:?} in encryptedData")))
}

fn literal(w: &str) -> Option<&str> {
    w.strip_prefix('"')
}

fn eval(action: &str, data: &BTreeMap<String, SecretBytes>) -> Result<SecretBytes, Error> {
    let mut value: Option<SecretBytes> = None;
    for stage in action.split('|') {
        let w = words(stage)?;
        let Some(head) = w.first() else {
            return Err(template_error("empty pipeline stage"));
        };
        let args: Vec<&str> = w[1..].iter().map(String::as_str).collect();
        let arg = |i: usize| -> Result<&str, Error> {
            args.get(i)
                .and_then(|a| literal(a))
                .ok_or_else(|| template_error(format!("{head}: expected a quoted string argument")))
        };
        let input = || {
            value
                .clone()
                .ok_or_else(|| template_error(format!("{head}: needs an input")))
        };
        let text = |b: &SecretBytes| String::from_utf8_lossy(b.expose()).into_owned();
        let next = match head.as_str() {
            h if h.starts_with('.') && h.len() > 1 => lookup(data, &h[1..])?,
            "index" => {
                if args.first() != Some(&".") {
                    return Err(template_error("index: only `index . \"key\"` is supported"));
                }
                lookup(data, arg(1)?)?
            }
            h if literal(h).is_some() => SecretBytes::from_slice(literal(h).unwrap_or_default().as_bytes()),
            "printf" => {
                let fmt = arg(0)?;
                let mut s = fmt.to_string();
                let mut inputs: Vec<SecretBytes> = args[1..]
                    .iter()
                    .map(|a| match a.strip_prefix('.') {
                        Some(k) if !k.is_empty() => lookup(data, k),
                        _ => Ok(SecretBytes::from_slice(literal(a).unwrap_or(a).as_bytes())),
                    })
                    .collect::<Result<_, _>>()?;
                if let Some(v) = value.clone() {
                    inputs.push(v);
                }
                for v in inputs {
                    s = s.replacen("%s", &text(&v), 1).replacen("%v", &text(&v), 1);
                }
                SecretBytes::new(s.into_bytes())
            }
            "trim" => SecretBytes::new(text(&input()?).trim().as_bytes().to_vec()),
            "upper" => SecretBytes::new(text(&input()?).to_uppercase().into_bytes()),
            "lower" => SecretBytes::new(text(&input()?).to_lowercase().into_bytes()),
            "quote" => SecretBytes::new(format!("{:?}", text(&input()?)).into_bytes()),
            "squote" => SecretBytes::new(format!("'{}'", text(&input()?)).into_bytes()),
            "b64enc" => SecretBytes::new(STANDARD.encode(input()?.expose()).into_bytes()),
            "b64dec" => SecretBytes::new(
                STANDARD
                    .decode(input()?.expose())
                    .map_err(|_| template_error("b64dec: input is not base64"))?,
            ),
            "trimSuffix" => {
                let t = text(&input()?);
                SecretBytes::new(t.strip_suffix(arg(0)?).unwrap_or(&t).as_bytes().to_vec())
            }
            "trimPrefix" => {
                let t = text(&input()?);
                SecretBytes::new(t.strip_prefix(arg(0)?).unwrap_or(&t).as_bytes().to_vec())
            }
            "replace" => SecretBytes::new(text(&input()?).replace(arg(0)?, arg(1)?).into_bytes()),
            other => {
                return Err(template_error(format!(
                    "function {other:?} is not supported (supported: index, .key, printf, trim, upper, lower, quote, squote, b64enc, b64dec, trimSuffix, trimPrefix, replace)"
                )))
            }
        };
        value = Some(next);
    }
    value.ok_or_else(|| template_error("empty action"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data() -> BTreeMap<String, SecretBytes> {
        [("user", "admin"), ("pw", " s3cret "), ("b64", "aGk=")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), SecretBytes::from_slice(v.as_bytes())))
            .collect()
    }

    fn r(t: &str) -> Result<String, Error> {
        render(t, &data()).map(|s| String::from_utf8(s.expose().to_vec()).unwrap())
    }

    #[test]
    fn supported_subset() {
        assert_eq!(
            r("u={{ .user }} p={{ index . \"pw\" | trim }}").unwrap(),
            "u=admin p=s3cret"
        );
        assert_eq!(r("{{ .user | upper | quote }}").unwrap(), "\"ADMIN\"");
        assert_eq!(r("{{ .b64 | b64dec }}").unwrap(), "hi");
        assert_eq!(
            r("{{ printf \"%s@%s\" .user \"host\" }}").unwrap(),
            "admin@host"
        );
        assert_eq!(r("a  {{- .user -}}  b").unwrap(), "aadminb");
        assert_eq!(r("{{ .user | replace \"min\" \"max\" }}").unwrap(), "admax");
        assert_eq!(r("no actions").unwrap(), "no actions");
    }

    #[test]
    fn errors_name_the_problem() {
        assert!(r("{{ .missing }}")
            .unwrap_err()
            .to_string()
            .contains("missing"));
        assert!(r("{{ env \"HOME\" }}")
            .unwrap_err()
            .to_string()
            .contains("not supported"));
        assert!(r("{{ .user ").unwrap_err().to_string().contains("unclosed"));
    }
}

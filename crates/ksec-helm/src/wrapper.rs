//! Wrapper mode: `helm secrets template|install|upgrade|lint|diff|… ARGS` runs the
//! real Helm with `ARGS` rewritten so that SOPS-encrypted `-f`/`--values` and
//! `--set-file` files reach Helm decrypted.
//!
//! Where helm-secrets decrypts each file to `FILE.dec` next to it (and may reuse a
//! stale one), ksec hands Helm a `secrets://` URL instead ([`Handoff::Urls`]): Helm
//! asks the getter plugin, which writes the plaintext to Helm's pipe. Only when Helm
//! has no getter plugin ([`Handoff::PrivateFiles`]) are decrypted copies written, each
//! a new 0600 file in a private 0700 [`ScratchDir`] that is removed when the run ends,
//! however it ends. Files that are not encrypted, URLs of other schemes and every
//! other argument are passed on unchanged.
use crate::content::{self, Plain};
use crate::error::{Error, Result};
use crate::keys::Keys;
use crate::scratch::ScratchDir;
use crate::settings::Settings;
use crate::source;
use crate::url::{is_http, Backend, Target};
use std::ffi::OsString;
use std::path::Path;

/// How encrypted files reach Helm.
#[derive(Debug)]
pub enum Handoff<'a> {
    /// As `secrets://` URLs served by the getter plugin: no plaintext file at all.
    Urls,
    /// As decrypted copies in a private scratch folder (no getter plugin installed).
    PrivateFiles(&'a ScratchDir),
}

/// The arguments for Helm, and what was done to them.
#[derive(Debug, Default)]
pub struct Rewritten {
    /// The arguments to run Helm with.
    pub args: Vec<OsString>,
    /// The encrypted files handed over (as given), for a "decrypting …" note.
    pub decrypted: Vec<String>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Values,
    SetFile,
}

/// Rewrites Helm arguments (everything after `helm`, e.g. `template NAME CHART -f …`).
pub fn rewrite_args(
    args: &[OsString],
    settings: &Settings,
    handoff: Handoff<'_>,
) -> Result<Rewritten> {
    let mut w = Writer {
        settings,
        handoff,
        keys: None,
        out: Rewritten::default(),
        counter: 0,
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let Some(a) = arg.to_str() else {
            w.out.args.push(arg.clone());
            continue;
        };
        if a == "--" {
            w.out.args.push(arg.clone());
            w.out.args.extend(it.by_ref().cloned());
            break;
        }
        let (flag, kind, inline) = match a {
            "-f" | "--values" => (a, Kind::Values, None),
            "--set-file" => (a, Kind::SetFile, None),
            _ => match split_inline(a) {
                Some((flag, kind, value)) => (flag, kind, Some(value)),
                None => {
                    w.out.args.push(arg.clone());
                    continue;
                }
            },
        };
        let value = match inline {
            Some(v) => v.to_string(),
            None => it
                .next()
                .and_then(|v| v.to_str())
                .ok_or_else(|| Error::Arguments(format!("{flag} needs a value")))?
                .to_string(),
        };
        let rewritten = w.list(&value, kind)?;
        match inline {
            Some(_) if flag == "-f" && !a.starts_with("-f=") => {
                w.out.args.push(format!("-f{rewritten}").into())
            }
            Some(_) => w.out.args.push(format!("{flag}={rewritten}").into()),
            None => {
                w.out.args.push(flag.into());
                w.out.args.push(rewritten.into());
            }
        }
    }
    Ok(w.out)
}

/// `--values=X`, `--set-file=X`, `-f=X`, `-fX`.
fn split_inline(a: &str) -> Option<(&'static str, Kind, &str)> {
    if let Some(v) = a.strip_prefix("--values=") {
        Some(("--values", Kind::Values, v))
    } else if let Some(v) = a.strip_prefix("--set-file=") {
        Some(("--set-file", Kind::SetFile, v))
    } else if let Some(v) = a.strip_prefix("-f=") {
        Some(("-f", Kind::Values, v))
    } else if let Some(v) = a.strip_prefix("-f").filter(|v| !v.is_empty()) {
        Some(("-f", Kind::Values, v))
    } else {
        None
    }
}

struct Writer<'a> {
    settings: &'a Settings,
    handoff: Handoff<'a>,
    keys: Option<Keys>,
    out: Rewritten,
    counter: usize,
}

impl Writer<'_> {
    /// A comma list as Helm reads it (a `\,` does not split), rewritten item by item.
    fn list(&mut self, value: &str, kind: Kind) -> Result<String> {
        let mut out = String::with_capacity(value.len());
        for (i, item) in split_unescaped_commas(value).into_iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            match kind {
                Kind::Values => out.push_str(&self.item(item)?),
                Kind::SetFile => match item.split_once('=') {
                    Some((key, file)) => {
                        out.push_str(key);
                        out.push('=');
                        out.push_str(&self.item(file)?);
                    }
                    None => out.push_str(item),
                },
            }
        }
        Ok(out)
    }

    /// One file as written: `[?][BACKEND!]PATH-OR-URL`.
    fn item(&mut self, written: &str) -> Result<String> {
        let (optional, rest) = match written.strip_prefix('?') {
            Some(r) => (true, r),
            None => (false, written),
        };
        // helm-secrets reads `X!` as a backend only when X is one (a name it knows or
        // a script that exists); otherwise the `!` belongs to the path.
        let (backend, file) = match rest.split_once('!') {
            Some((b, f)) if matches!(b, "sops" | "noop" | "vals") || Path::new(b).is_file() => {
                (Some(Backend::parse(b)), f)
            }
            _ => (None, rest),
        };
        if file.contains("://") && !is_http(file) {
            // secrets://…, secrets+…://…, ksec://… go to the getter as they are; other
            // schemes (s3://, oci://…) are Helm's business.
            return Ok(written.to_string());
        }
        let backend = self.settings.backend(backend.as_ref())?.clone();
        let optional = optional || self.settings.ignore_missing_values;
        if backend == Backend::Noop {
            // Nothing to decrypt: Helm reads the file (or fetches the URL) itself.
            if is_http(file) {
                return Ok(file.to_string());
            }
            self.settings.check_values_path(Path::new(file))?;
            if Path::new(file).is_file() {
                return Ok(file.to_string());
            }
            if !optional {
                return Err(missing(file));
            }
            return match self.handoff {
                Handoff::Urls => Ok(format!("secrets://?noop!{file}")),
                Handoff::PrivateFiles(scratch) => {
                    self.counter += 1;
                    let p =
                        scratch.write_private(&format!("{:03}-empty.yaml", self.counter), b"")?;
                    Ok(p.to_string_lossy().into_owned())
                }
            };
        }
        let target = if is_http(file) {
            Target::Http(file.to_string())
        } else {
            Target::File(file.into())
        };
        let url = |optional: bool| {
            let mut u = String::from("secrets://");
            if optional {
                u.push('?');
            }
            if let Some((b, _)) = rest.split_once('!').filter(|_| file != rest) {
                u.push_str(b);
                u.push('!');
            }
            u.push_str(file);
            u
        };
        match self.handoff {
            Handoff::Urls => {
                if let Target::Http(_) = target {
                    // Fetched once, by the getter, which passes plaintext on unchanged.
                    self.out.decrypted.push(file.to_string());
                    return Ok(url(optional));
                }
                self.settings.check_values_path(Path::new(file))?;
                match source::read_local(Path::new(file))? {
                    None if optional => Ok(url(true)),
                    None => Err(missing(file)),
                    Some(bytes) if content::is_encrypted(file, &bytes) => {
                        self.out.decrypted.push(file.to_string());
                        Ok(url(false))
                    }
                    Some(_) => Ok(file.to_string()),
                }
            }
            Handoff::PrivateFiles(scratch) => {
                let bytes = match source::fetch(&target, self.settings) {
                    Ok(Some(b)) => b,
                    Ok(None) | Err(Error::Download { .. }) if optional => Vec::new(),
                    Ok(None) => return Err(missing(file)),
                    Err(e) => return Err(e),
                };
                let config = crate::getter::sops_config();
                let settings = self.settings;
                let keys = &mut self.keys;
                // One keyring for all files (an imported gpg home is made once).
                let plain = content::decrypt(file, &bytes, config.as_ref(), move || {
                    let k = match keys.take() {
                        Some(k) => k,
                        None => Keys::new(settings, None)?,
                    };
                    Ok(&*keys.insert(k))
                })?;
                self.counter += 1;
                let base = Path::new(file)
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_else(|| "values".into());
                let name = format!("{:03}-{}", self.counter, sanitize(&base));
                match plain {
                    Plain::Decrypted(data) => {
                        self.out.decrypted.push(file.to_string());
                        let p = scratch.write_private(&name, &data)?;
                        Ok(p.to_string_lossy().into_owned())
                    }
                    Plain::NotEncrypted
                        if matches!(target, Target::Http(_)) || bytes.is_empty() =>
                    {
                        let p = scratch.write_private(&name, &bytes)?;
                        Ok(p.to_string_lossy().into_owned())
                    }
                    Plain::NotEncrypted => Ok(file.to_string()),
                }
            }
        }
    }
}

fn missing(file: &str) -> Error {
    Error::Missing {
        what: "values file",
        file: file.to_string(),
        hint: " (a '?' before the path makes a missing file empty values)",
    }
}

/// A file name safe to put in the scratch folder (no separators, no commas).
fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Splits at commas not preceded by a backslash (the escape stays in the item).
fn split_unescaped_commas(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let bytes = s.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        if b == b',' && (i == 0 || bytes[i - 1] != b'\\') {
            out.push(&s[start..i]);
            start = i + 1;
        }
    }
    out.push(&s[start..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commas() {
        assert_eq!(split_unescaped_commas("a,b\\,c,d"), vec!["a", "b\\,c", "d"]);
        assert_eq!(split_unescaped_commas(""), vec![""]);
    }

    fn encrypted_yaml() -> Vec<u8> {
        use ksec_sops::keys::age::{self, AgeService};
        let (_, recipient) = age::generate();
        ksec_sops::Encryptor::new()
            .recipients([ksec_sops::Recipient::age(&recipient)])
            .encrypt(
                b"password: x\n",
                ksec_sops::Format::Yaml,
                &ksec_sops::Keyring::new(vec![Box::new(AgeService::empty())]),
            )
            .unwrap()
    }

    #[test]
    fn encrypted_files_become_urls_and_the_rest_stays() {
        let dir = tempfile::tempdir().unwrap();
        let enc = dir.path().join("enc.yaml");
        std::fs::write(&enc, encrypted_yaml()).unwrap();
        let plain = dir.path().join("plain.yaml");
        std::fs::write(&plain, "a: 1\n").unwrap();
        let (e, p) = (enc.display().to_string(), plain.display().to_string());
        let missing = dir.path().join("missing.yaml").display().to_string();
        let args: Vec<OsString> = [
            "template".to_string(),
            "chart".into(),
            "-f".into(),
            e.clone(),
            format!("--values={p},{e}"),
            format!("-f{e}"),
            "--set-file".into(),
            format!("a={e},b={p}"),
            "-f".into(),
            format!("?{missing}"),
            "-f".into(),
            format!("noop!{p}"),
            "-f".into(),
            "secrets://already.yaml".into(),
            "-f".into(),
            "s3://bucket/x.yaml".into(),
            "--".into(),
            "-f".into(),
            e.clone(),
        ]
        .into_iter()
        .map(OsString::from)
        .collect();
        let r = rewrite_args(&args, &Settings::default(), Handoff::Urls).unwrap();
        let got: Vec<String> = r
            .args
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let url = format!("secrets://{e}");
        assert_eq!(
            got,
            vec![
                "template".to_string(),
                "chart".into(),
                "-f".into(),
                url.clone(),
                format!("--values={p},{url}"),
                format!("-f{url}"),
                "--set-file".into(),
                format!("a={url},b={p}"),
                "-f".into(),
                format!("secrets://?{missing}"),
                "-f".into(),
                p.clone(),
                "-f".into(),
                "secrets://already.yaml".into(),
                "-f".into(),
                "s3://bucket/x.yaml".into(),
                "--".into(),
                "-f".into(),
                e.clone(),
            ]
        );
        assert_eq!(r.decrypted.len(), 4);

        let e2 = rewrite_args(
            &["-f".into(), missing.clone().into()],
            &Settings::default(),
            Handoff::Urls,
        )
        .unwrap_err()
        .to_string();
        assert!(
            e2.contains("missing.yaml") && e2.contains("does not exist"),
            "{e2}"
        );
        let e3 = rewrite_args(&["--set-file".into()], &Settings::default(), Handoff::Urls)
            .unwrap_err()
            .to_string();
        assert!(e3.contains("--set-file needs a value"), "{e3}");
    }

    #[test]
    fn inline_flags() {
        assert!(split_inline("--values=x").is_some());
        assert!(split_inline("-fx.yaml").is_some());
        assert!(split_inline("--force").is_none());
        assert!(split_inline("-f").is_none());
    }
}

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
use std::path::{Path, PathBuf};
use std::process::Command;

/// The Helm commands ksec wraps when it runs as `helm` with
/// `HELM_SECRETS_WRAPPER_ENABLED=true` (helm-secrets' wrapper list); any other
/// command runs the real Helm unchanged.
pub const WRAPPED_COMMANDS: [&str; 5] = ["install", "upgrade", "template", "lint", "diff"];

/// The variable that counts how often ksec running as `helm` has started the real
/// Helm in this process tree.
pub const DEPTH_VAR: &str = "KSEC_HELM_WRAPPER_DEPTH";

/// The depth at which ksec assumes it keeps starting itself ([`Error::WrapperLoop`]).
pub const MAX_DEPTH: u32 = 8;

/// Whether ksec running as `helm` with `args` (everything after `helm`) wraps the
/// command, rewriting its values files, rather than run the real Helm unchanged.
pub fn wraps(args: &[OsString], settings: &Settings) -> bool {
    settings.wrapper_enabled
        && args
            .first()
            .and_then(|a| a.to_str())
            .is_some_and(|a| WRAPPED_COMMANDS.contains(&a))
}

/// The depth to hand the real Helm, from the current value of [`DEPTH_VAR`] (absent
/// or unreadable: 0): one more, or [`Error::WrapperLoop`] at [`MAX_DEPTH`] (ksec
/// finding itself as the real Helm through a copy would otherwise loop forever).
pub fn next_depth(current: Option<&str>) -> Result<u32> {
    let depth = current.and_then(|v| v.parse::<u32>().ok()).unwrap_or(0);
    if depth >= MAX_DEPTH {
        return Err(Error::WrapperLoop { depth });
    }
    Ok(depth + 1)
}

/// The real Helm: `HELM_SECRETS_HELM_PATH`, else `HELM_BIN` (set by Helm for its
/// plugins) unless that is this binary, else the first `helm` on `PATH` that is not
/// this binary.
pub fn real_helm(settings: &Settings) -> Result<PathBuf> {
    if let Some(p) = &settings.helm_path {
        return Ok(PathBuf::from(p));
    }
    let me = std::env::current_exe()
        .ok()
        .and_then(|p| p.canonicalize().ok());
    if let Some(bin) = std::env::var_os("HELM_BIN").filter(|b| !b.is_empty()) {
        let bin = PathBuf::from(bin);
        let resolved = if bin.components().count() > 1 {
            Some(bin.clone())
        } else {
            crate::plugin::search_path(&bin.to_string_lossy())
        };
        if let Some(r) = resolved.filter(|r| r.canonicalize().ok() != me) {
            return Ok(r);
        }
    }
    crate::plugin::find_helm(None)
}

/// The real Helm to start, and the depth to start it at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RealHelm {
    /// The binary ([`real_helm`]).
    pub path: PathBuf,
    /// The value of [`DEPTH_VAR`] it gets ([`next_depth`]).
    pub depth: u32,
}

impl RealHelm {
    /// The real Helm for a command that runs unchanged.
    pub fn find(settings: &Settings) -> Result<Self> {
        let path = real_helm(settings)?;
        let depth = next_depth(std::env::var(DEPTH_VAR).ok().as_deref())?;
        Ok(RealHelm { path, depth })
    }

    /// A command that runs it, with [`DEPTH_VAR`] set; the caller adds the arguments.
    pub fn command(&self) -> Command {
        let mut cmd = Command::new(&self.path);
        cmd.env(DEPTH_VAR, self.depth.to_string());
        cmd
    }
}

/// How a wrapped command is run: the real Helm, and whether encrypted values files
/// go to it as URLs ([`Handoff::Urls`], a getter plugin serves `secrets://`) or as
/// private copies ([`Handoff::PrivateFiles`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Launch {
    /// The real Helm.
    pub helm: RealHelm,
    /// True if one of its plugin folders (`HELM_PLUGINS`, else `helm env
    /// HELM_PLUGINS`) holds a plugin that serves `secrets://`.
    pub getter: bool,
}

impl Launch {
    /// Finds the real Helm and its getter; refuses settings that wrapper mode cannot
    /// honour ([`Error::EvaluateTemplates`]).
    pub fn prepare(settings: &Settings) -> Result<Self> {
        Self::prepare_in(settings, |k| std::env::var_os(k))
    }

    /// [`Launch::prepare`] with `env` in place of this process's environment for
    /// `HELM_PLUGINS` and [`DEPTH_VAR`] (for tests and embedding).
    pub fn prepare_in(settings: &Settings, env: impl Fn(&str) -> Option<OsString>) -> Result<Self> {
        if settings.evaluate_templates {
            return Err(Error::EvaluateTemplates);
        }
        let path = real_helm(settings)?;
        let plugins: Vec<PathBuf> = match env("HELM_PLUGINS").filter(|p| !p.is_empty()) {
            Some(p) => std::env::split_paths(&p).collect(),
            None => crate::plugin::plugins_dirs(&path).unwrap_or_default(),
        };
        let depth = next_depth(env(DEPTH_VAR).as_deref().and_then(|d| d.to_str()))?;
        Ok(Launch {
            helm: RealHelm { path, depth },
            getter: crate::plugin::getter_installed(&plugins),
        })
    }
}

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
            // Nothing to decrypt: Helm reads the file (or fetches the URL) itself,
            // unless the URL has variables to expand, which Helm would not.
            if is_http(file) && !(self.settings.url_variable_expansion && file.contains('$')) {
                return Ok(file.to_string());
            }
            if is_http(file) {
                return match self.handoff {
                    Handoff::Urls => Ok(format!(
                        "secrets://{}noop!{file}",
                        if optional { "?" } else { "" }
                    )),
                    Handoff::PrivateFiles(scratch) => {
                        let bytes = match source::fetch(&Target::Http(file.into()), self.settings) {
                            Ok(b) => b.unwrap_or_default(),
                            Err(Error::Download { .. }) if optional => Vec::new(),
                            Err(e) => return Err(e),
                        };
                        self.counter += 1;
                        let p = scratch
                            .write_private(&format!("{:03}-values.yaml", self.counter), &bytes)?;
                        Ok(p.to_string_lossy().into_owned())
                    }
                };
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
    fn http_urls_go_to_the_getter_which_expands_their_variables() {
        let args: Vec<OsString> = [
            "-f",
            "https://h/${ENV}/s.yaml",
            "-f",
            "?noop!https://h/${ENV}/p.yaml",
            "-f",
            "noop!https://h/plain.yaml",
        ]
        .into_iter()
        .map(OsString::from)
        .collect();
        let rewrite = |expansion: bool| {
            let settings = Settings {
                url_variable_expansion: expansion,
                ..Settings::default()
            };
            let r = rewrite_args(&args, &settings, Handoff::Urls).unwrap();
            r.args
                .iter()
                .map(|a| a.to_string_lossy().into_owned())
                .collect::<Vec<_>>()
        };
        // Helm does not expand variables: with expansion on, a noop URL that has
        // them goes to the getter too; one without stays Helm's.
        assert_eq!(
            rewrite(true),
            [
                "-f",
                "secrets://https://h/${ENV}/s.yaml",
                "-f",
                "secrets://?noop!https://h/${ENV}/p.yaml",
                "-f",
                "https://h/plain.yaml"
            ]
        );
        assert_eq!(
            rewrite(false),
            [
                "-f",
                "secrets://https://h/${ENV}/s.yaml",
                "-f",
                "https://h/${ENV}/p.yaml",
                "-f",
                "https://h/plain.yaml"
            ]
        );
    }

    #[test]
    fn wrapped_commands_and_the_depth_guard() {
        let on = Settings {
            wrapper_enabled: true,
            ..Settings::default()
        };
        let args = |a: &[&str]| a.iter().map(OsString::from).collect::<Vec<_>>();
        for c in WRAPPED_COMMANDS {
            assert!(wraps(&args(&[c, "x"]), &on), "{c}");
            assert!(!wraps(&args(&[c, "x"]), &Settings::default()), "{c}");
        }
        assert!(!wraps(&args(&["version"]), &on));
        assert!(!wraps(&[], &on));

        assert_eq!(next_depth(None).unwrap(), 1);
        assert_eq!(next_depth(Some("junk")).unwrap(), 1);
        assert_eq!(next_depth(Some("7")).unwrap(), 8);
        let e = next_depth(Some("8")).unwrap_err();
        assert!(matches!(e, Error::WrapperLoop { depth: 8 }));
        assert!(e.to_string().contains("HELM_SECRETS_HELM_PATH"), "{e}");
    }

    #[test]
    fn the_real_helm_is_the_one_named_and_templates_are_refused() {
        let named = Settings {
            helm_path: Some("/opt/helm/bin/helm".into()),
            ..Settings::default()
        };
        assert_eq!(real_helm(&named).unwrap(), Path::new("/opt/helm/bin/helm"));
        let h = RealHelm {
            path: "/opt/helm/bin/helm".into(),
            depth: 3,
        };
        let cmd = h.command();
        assert_eq!(cmd.get_program(), "/opt/helm/bin/helm");
        assert!(cmd
            .get_envs()
            .any(|(k, v)| k == DEPTH_VAR && v == Some(std::ffi::OsStr::new("3"))));
        let templates = Settings {
            evaluate_templates: true,
            ..named
        };
        assert!(matches!(
            Launch::prepare(&templates),
            Err(Error::EvaluateTemplates)
        ));
    }

    #[test]
    fn inline_flags() {
        assert!(split_inline("--values=x").is_some());
        assert!(split_inline("-fx.yaml").is_some());
        assert!(split_inline("--force").is_none());
        assert!(split_inline("-f").is_none());
    }
}

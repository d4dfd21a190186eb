//! helm-secrets' own command line, as its `scripts/run.sh` reads it: global options
//! before the command (`helm secrets -b sops -q template …`), and the file operand of
//! `encrypt` / `decrypt` (`[-i] [--terraform] FILE`).
//!
//! helm-secrets turns each option into the environment variable of the same setting
//! and exports it, so the getter Helm runs later sees it too; [`SecretsOptions`]
//! keeps that list, and its [`settings`](SecretsOptions::settings) are the
//! environment's with those variables on top.
use crate::error::{Error, Result};
use crate::settings::Settings;
use base64::Engine;
use std::ffi::{OsStr, OsString};
use zeroize::Zeroizing;

/// helm-secrets' global options, as the variables they set.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SecretsOptions {
    /// `(HELM_SECRETS_…, value)` in the order the options came (a later one wins).
    pub env: Vec<(&'static str, String)>,
}

impl SecretsOptions {
    /// Reads the options at the front of `args` (everything after `helm secrets`);
    /// returns them and the rest, which starts with the command. The first argument
    /// that is not an option ends them, as in helm-secrets.
    pub fn parse(args: &[OsString]) -> Result<(Self, &[OsString])> {
        let mut env: Vec<(&'static str, String)> = Vec::new();
        let mut i = 0;
        let text = |i: usize| args.get(i).and_then(|a| a.to_str());
        while let Some(a) = args.get(i) {
            let Some(a) = a.to_str() else { break };
            let (name, inline) = match a.split_once('=') {
                Some((n, v)) if n.starts_with("--") => (n, Some(v)),
                _ => (a, None),
            };
            // An option with a value: `--backend sops`, `--backend=sops`.
            let mut value = |var: &'static str, i: &mut usize| -> Result<()> {
                let v = match inline {
                    Some(v) => v,
                    None => {
                        *i += 1;
                        text(*i).ok_or_else(|| Error::OptionValue {
                            option: name.to_string(),
                        })?
                    }
                };
                env.push((var, v.to_string()));
                Ok(())
            };
            let var = match name {
                "--backend" | "-b" => Some("HELM_SECRETS_BACKEND"),
                "--backend-args" | "-a" => Some("HELM_SECRETS_BACKEND_ARGS"),
                _ => None,
            };
            if let Some(var) = var {
                value(var, &mut i)?;
                i += 1;
                continue;
            }
            let var = match name {
                "--quiet" | "-q" => {
                    env.push(("HELM_SECRETS_QUIET", "true".into()));
                    i += 1;
                    continue;
                }
                "--ignore-missing-values" => "HELM_SECRETS_IGNORE_MISSING_VALUES",
                "--evaluate-templates" => "HELM_SECRETS_EVALUATE_TEMPLATES",
                "--evaluate-templates-decode-secrets" => {
                    "HELM_SECRETS_EVALUATE_TEMPLATES_DECODE_SECRETS"
                }
                // helm-secrets' answer to stale .dec files; ksec writes none.
                "--decrypt-secrets-in-tmp-dir" => "HELM_SECRETS_DECRYPT_SECRETS_IN_TMP_DIR",
                _ => break,
            };
            // A switch: `--quiet`, or with an explicit `true`/`false` (next or inline).
            let v = match inline {
                Some(v) => v.to_string(),
                None if matches!(text(i + 1), Some("true" | "false")) => {
                    i += 1;
                    text(i).unwrap_or("true").to_string()
                }
                None => "true".into(),
            };
            env.push((var, v));
            i += 1;
        }
        Ok((SecretsOptions { env }, &args[i.min(args.len())..]))
    }

    /// The value an option set for `var`, if one did (the last one wins).
    pub fn get(&self, var: &str) -> Option<&str> {
        self.env
            .iter()
            .rev()
            .find(|(n, _)| *n == var)
            .map(|(_, v)| v.as_str())
    }

    /// The settings of this process's environment with the options on top.
    pub fn settings(&self) -> Result<Settings> {
        Settings::from_lookup(|k| {
            self.get(k)
                .map(str::to_string)
                .or_else(|| std::env::var(k).ok())
        })
    }
}

/// The operand of `helm secrets encrypt|decrypt`: `[-i] [--terraform] FILE`, in any
/// order (the last other argument is the file).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileOperand<'a> {
    /// The file (a path, or an http(s) URL for `decrypt`).
    pub file: &'a OsStr,
    /// `-i`: write the result back to the file.
    pub in_place: bool,
    /// `--terraform`: print the result as Terraform's external data source reads it
    /// ([`terraform_json`]).
    pub terraform: bool,
}

impl<'a> FileOperand<'a> {
    /// Reads the operand of `command` (`encrypt` or `decrypt`, for the error).
    pub fn parse(operand: &'a [OsString], command: &'static str) -> Result<Self> {
        let (mut in_place, mut terraform, mut file) = (false, false, None);
        for a in operand {
            match a.to_str() {
                Some("-i") => in_place = true,
                Some("--terraform") => terraform = true,
                _ => file = Some(a.as_os_str()),
            }
        }
        let file = file.ok_or(Error::NoFile { command })?;
        Ok(FileOperand {
            file,
            in_place,
            terraform,
        })
    }
}

/// Plaintext as helm-secrets' `decrypt --terraform` prints it: one JSON object
/// `{"content_base64":"…"}` (no newline), what Terraform's external data source reads.
pub fn terraform_json(plain: &[u8]) -> Zeroizing<String> {
    let b64 = Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(plain));
    Zeroizing::new(format!("{{\"content_base64\":\"{}\"}}", b64.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<OsString> {
        a.iter().map(OsString::from).collect()
    }

    #[test]
    fn options_become_variables_and_stop_at_the_command() {
        let a = args(&[
            "-b",
            "noop",
            "--quiet",
            "--ignore-missing-values",
            "false",
            "--evaluate-templates=true",
            "--backend=sops",
            "--decrypt-secrets-in-tmp-dir",
            "template",
            "-q",
        ]);
        let (o, rest) = SecretsOptions::parse(&a).unwrap();
        assert_eq!(
            o.env,
            vec![
                ("HELM_SECRETS_BACKEND", "noop".to_string()),
                ("HELM_SECRETS_QUIET", "true".into()),
                ("HELM_SECRETS_IGNORE_MISSING_VALUES", "false".into()),
                ("HELM_SECRETS_EVALUATE_TEMPLATES", "true".into()),
                ("HELM_SECRETS_BACKEND", "sops".into()),
                ("HELM_SECRETS_DECRYPT_SECRETS_IN_TMP_DIR", "true".into()),
            ]
        );
        assert_eq!(rest, &a[8..]);
        assert_eq!(o.get("HELM_SECRETS_BACKEND"), Some("sops"));
        let s = o.settings().unwrap();
        assert!(s.quiet && s.evaluate_templates && !s.ignore_missing_values);

        let a = args(&["decrypt", "-b", "x"]);
        let (o, rest) = SecretsOptions::parse(&a).unwrap();
        assert!(o.env.is_empty() && rest.len() == 3);
        let a = args(&["-q"]);
        let (_, rest) = SecretsOptions::parse(&a).unwrap();
        assert!(rest.is_empty());
    }

    #[test]
    fn an_option_without_its_value_is_named() {
        let e = SecretsOptions::parse(&args(&["--backend"])).unwrap_err();
        assert_eq!(e.to_string(), "--backend needs a value");
        let e = SecretsOptions::parse(&args(&["-q", "-a"])).unwrap_err();
        assert_eq!(e.to_string(), "-a needs a value");
    }

    #[test]
    fn file_operands() {
        let a = args(&["-i", "x.yaml", "--terraform"]);
        let f = FileOperand::parse(&a, "decrypt").unwrap();
        assert_eq!(
            (f.file, f.in_place, f.terraform),
            (OsStr::new("x.yaml"), true, true)
        );
        let f = FileOperand::parse(&a[1..2], "encrypt").unwrap();
        assert!(!f.in_place && !f.terraform);
        let e = FileOperand::parse(&a[..1], "encrypt").unwrap_err();
        assert_eq!(e.to_string(), "helm secrets encrypt needs a file");
    }

    #[test]
    fn terraform_output() {
        assert_eq!(
            terraform_json(b"a: 1\n").as_str(),
            "{\"content_base64\":\"YTogMQo=\"}"
        );
    }
}

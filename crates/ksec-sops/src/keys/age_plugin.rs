//! age plugins: recipients `age1NAME1…` and identities `AGE-PLUGIN-NAME-1…`,
//! served by an `age-plugin-NAME` binary found on `PATH`, as age, rage and sops
//! run them (the `age` crate's plugin client).
//!
//! ksec never prompts: a plugin that asks for a PIN, a passphrase or a
//! confirmation is refused, and the error names the plugin and what it asked.
use std::sync::{Arc, Mutex};

/// The binary that serves plugin `name`.
pub(super) fn binary_name(name: &str) -> String {
    format!("age-plugin-{name}")
}

/// Callbacks that answer no to every question a plugin asks, remembering what
/// was asked so that errors can say why the plugin failed.
#[derive(Clone)]
pub(crate) struct NonInteractive {
    binary: String,
    asked: Arc<Mutex<Vec<String>>>,
}

impl NonInteractive {
    pub(crate) fn new(plugin: &str) -> Self {
        Self {
            binary: binary_name(plugin),
            asked: Arc::default(),
        }
    }

    /// The plugin's binary name.
    pub(crate) fn binary(&self) -> &str {
        &self.binary
    }

    fn note(&self, what: String) {
        // The same plugin may be asked to open several keys of one file.
        if let Ok(mut a) = self.asked.lock() {
            if !a.contains(&what) {
                a.push(what);
            }
        }
    }

    /// `err`, explained by the questions the plugin asked (if any).
    pub(crate) fn explain(&self, err: String) -> String {
        let err = plain(&err);
        let asked = self.asked.lock().map(|a| a.join("; ")).unwrap_or_default();
        if asked.is_empty() {
            err
        } else {
            format!(
                "{} asked for input ({asked}), but ksec runs age plugins without prompts; \
                 use a plugin key that needs no PIN or confirmation ({err})",
                self.binary
            )
        }
    }
}

impl age::Callbacks for NonInteractive {
    // Progress messages ("touch your key", "waiting for …") have no reader here.
    fn display_message(&self, _: &str) {}

    fn confirm(&self, message: &str, _: &str, _: Option<&str>) -> Option<bool> {
        self.note(format!("a confirmation: {message:?}"));
        None
    }

    fn request_public_string(&self, description: &str) -> Option<String> {
        self.note(format!("a value: {description:?}"));
        None
    }

    fn request_passphrase(&self, description: &str) -> Option<age::secrecy::SecretString> {
        self.note(format!("a secret: {description:?}"));
        None
    }
}

/// `s` without the Unicode isolation marks the age crate's localized messages
/// put around names (they show up as stray characters in terminals and logs).
pub(crate) fn plain(s: &str) -> String {
    s.replace(['\u{2068}', '\u{2069}'], "")
}

/// Why a plugin could not be used.
pub(crate) fn resolve_error(e: &age::plugin::ResolveError, plugin: &str) -> String {
    match e {
        age::plugin::ResolveError::MissingPlugin { binary_name } => format!(
            "{binary_name} not found on PATH (install the age plugin, or add its directory to PATH)"
        ),
        _ => format!("invalid age plugin name {plugin:?}"),
    }
}

/// A plugin recipient (`age1NAME1…`) ready to wrap, with its callbacks.
pub(crate) fn recipient(
    id: &str,
) -> Result<(Box<dyn age::Recipient + Send>, NonInteractive), String> {
    let r: age::plugin::Recipient = id
        .parse()
        .map_err(|e| format!("not a valid age recipient or age plugin recipient: {e}"))?;
    let name = r.plugin().to_string();
    let cb = NonInteractive::new(&name);
    let p = age::plugin::RecipientPluginV1::new(&name, &[r], &[], cb.clone())
        .map_err(|e| resolve_error(&e, &name))?;
    Ok((Box::new(p), cb))
}

/// Plugin identities grouped by plugin, each served by its binary.
pub(crate) struct Loaded {
    /// One identity per plugin found on PATH.
    pub identities: Vec<(Box<dyn age::Identity + Send + Sync>, NonInteractive)>,
    /// Plugins whose binaries are missing, as messages.
    pub missing: Vec<String>,
}

/// Resolves plugin identities (all parsed already) to their binaries.
pub(crate) fn identities(ids: Vec<age::plugin::Identity>) -> Loaded {
    let mut names: Vec<String> = ids.iter().map(|i| i.plugin().to_string()).collect();
    names.sort();
    names.dedup();
    let mut out = Loaded {
        identities: Vec::new(),
        missing: Vec::new(),
    };
    for name in names {
        let cb = NonInteractive::new(&name);
        match age::plugin::IdentityPluginV1::new(&name, &ids, cb.clone()) {
            Ok(p) => out.identities.push((Box::new(p), cb)),
            Err(e) => out.missing.push(resolve_error(&e, &name)),
        }
    }
    out
}

//! Sealing Secrets into SealedSecrets, as kubeseal does, plus ksec's quiet merges:
//! a [`Sealer`] holds the controller's public key and the sealing options, and offers
//! kubeseal's three ways to seal (a Secret, a raw value, a merge into an existing file).
use crate::error::{Error, Result};
use crate::meta::ObjectMeta;
use crate::render::{self, Format};
use crate::sealed::{SealedSecret, SecretTemplate};
use crate::{hybrid, Scope, Secret};
use ksec_crypto::rsa::{RsaPrivateKey, RsaPublicKey};
use std::collections::BTreeMap;
use std::time::SystemTime;

/// How to seal (kubeseal's options).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SealOptions {
    /// Overrides the scope the input's annotations select (`None`: keep them).
    pub scope: Option<Scope>,
    /// Seal a Secret without any value instead of refusing it.
    pub allow_empty_data: bool,
    /// Replaces the input's name.
    pub name: Option<String>,
    /// Namespace for a Secret that has none (kubeseal takes the kubeconfig's).
    pub default_namespace: Option<String>,
}

/// Seals for one controller: its public key (from its certificate) and the options.
///
/// ```
/// # use ksec_seal::{Sealer, SealOptions, Scope};
/// # let key = ksec_crypto::rsa::RsaPrivateKey::generate(2048)?;
/// let sealer = Sealer::new(key.public_key().clone()).with_scope(Scope::NamespaceWide);
/// let value = sealer.seal_raw(b"s3cret", "prod", "")?;
/// assert!(!value.is_empty());
/// # Ok::<(), ksec_seal::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Sealer {
    public: RsaPublicKey,
    options: SealOptions,
}

impl Sealer {
    /// A sealer for `public` with default options (the input's scope, no overrides).
    pub fn new(public: RsaPublicKey) -> Self {
        Self {
            public,
            options: SealOptions::default(),
        }
    }

    /// A sealer for the controller's certificate (PEM), refused when it holds no RSA key
    /// or has expired at `now`, as kubeseal refuses it. `origin` names it in errors.
    pub fn from_certificate(pem: &[u8], origin: &str, now: SystemTime) -> Result<Self> {
        let (_, public) = crate::keys::load_sealing_cert(pem, origin, now)?;
        Ok(Self::new(public))
    }

    /// The same sealer with these options.
    pub fn with_options(mut self, options: SealOptions) -> Self {
        self.options = options;
        self
    }

    /// The same sealer with the scope forced to `scope`.
    pub fn with_scope(mut self, scope: Scope) -> Self {
        self.options.scope = Some(scope);
        self
    }

    /// Its options.
    pub fn options(&self) -> &SealOptions {
        &self.options
    }

    /// The public key it seals for.
    pub fn public_key(&self) -> &RsaPublicKey {
        &self.public
    }

    /// Seals `secret` exactly as kubeseal's `Seal` + `NewSealedSecret` do.
    pub fn seal(&self, secret: Secret) -> Result<SealedSecret> {
        let (secret, scope) = prepare(secret, &self.options)?;
        seal_values(&secret, &self.public, scope, |_, _| None)
    }

    /// Seals a single raw value (`kubeseal --raw`) for the Secret `namespace`/`name`
    /// under the sealer's scope (strict unless set): the base64 sealed value.
    pub fn seal_raw(&self, value: &[u8], namespace: &str, name: &str) -> Result<String> {
        let scope = self.options.scope.unwrap_or_default();
        if scope.needs_namespace() && namespace.is_empty() {
            return Err(Error::MissingNamespace { scope });
        }
        if scope.needs_name() && name.is_empty() {
            return Err(Error::MissingName);
        }
        let sealed = hybrid::seal(&self.public, value, &scope.label(namespace, name))
            .map_err(|e| e.within("(raw value)"))?;
        Ok(hybrid::to_base64(&sealed))
    }

    /// Seals `secret` into the existing SealedSecret `orig`, keeping its name, namespace
    /// and other values (kubeseal's `SealMergingInto`), with two improvements:
    /// - the scope defaults to the existing SealedSecret's, so merged values stay openable;
    /// - with `recovery_keys`, values whose plaintext did not change keep their old
    ///   ciphertext byte for byte, so `git diff` shows only what changed.
    pub fn merge_into(
        &self,
        orig: &SealedSecret,
        mut secret: Secret,
        recovery_keys: &[&RsaPrivateKey],
    ) -> Result<(SealedSecret, MergeReport)> {
        let mut opts = self.options.clone();
        opts.name = Some(orig.metadata.name().to_string());
        if !orig.metadata.namespace().is_empty() {
            secret.metadata.set_namespace(orig.metadata.namespace());
        }
        let input_has_scope = {
            let a = secret.metadata.annotations();
            a.contains_key(crate::scope::CLUSTER_WIDE_ANNOTATION)
                || a.contains_key(crate::scope::NAMESPACE_WIDE_ANNOTATION)
        };
        if opts.scope.is_none() && !input_has_scope {
            opts.scope = Some(orig.scope());
        }
        let (secret, scope) = prepare(secret, &opts)?;
        let label = orig.label();
        let same_label = scope.label(secret.metadata.namespace(), secret.metadata.name()) == label;
        // An old ciphertext is kept when a recovery key opens it to the very same value;
        // only the other values pay for a new RSA encryption.
        let unchanged = |k: &str, v: &ksec_crypto::SecretBytes| {
            let old = orig.encrypted_data.get(k).filter(|_| same_label)?;
            let bytes = hybrid::from_base64(old).ok()?;
            let (plain, _) = hybrid::open_with_any(recovery_keys, &bytes, &label).ok()?;
            (plain == *v).then(|| old.clone())
        };
        let fresh = seal_values(&secret, &self.public, scope, unchanged)?;
        let mut merged = orig.clone();
        let mut report = MergeReport::default();
        for (k, ct) in fresh.encrypted_data {
            if orig.encrypted_data.get(&k) == Some(&ct) {
                report.unchanged.push(k);
            } else {
                merged.encrypted_data.insert(k.clone(), ct);
                report.resealed.push(k);
            }
        }
        let mut annotations = merged.template.metadata.annotations();
        annotations.extend(fresh.template.metadata.annotations());
        merged.template.metadata.set_annotations(annotations);
        let mut labels = merged.template.metadata.labels();
        labels.extend(fresh.template.metadata.labels());
        merged.template.metadata.set_labels(labels);
        merged.template.data.extend(fresh.template.data);
        merged.metadata.strip_server_fields();
        merged.status = None;
        Ok((merged, report))
    }

    /// [`Sealer::merge_into`] for a file: `manifest` (named `origin`) must hold one
    /// SealedSecret and `secrets` one Secret. Returns the merged SealedSecret rendered
    /// in `format`, or in the manifest's own format (JSON or YAML) when `None`, so the
    /// file can be rewritten in place.
    pub fn merge_into_manifest(
        &self,
        manifest: &[u8],
        origin: &str,
        secrets: &[Secret],
        recovery_keys: &[&RsaPrivateKey],
        format: Option<Format>,
    ) -> Result<MergedManifest> {
        let mut origs = crate::docs::read_sealed_secrets(manifest, origin)?;
        if origs.len() != 1 || secrets.len() != 1 {
            return Err(Error::MergeShape {
                file: origin.into(),
                secrets: secrets.len(),
                sealed_secrets: origs.len(),
            });
        }
        let orig = origs.remove(0);
        let format = format.unwrap_or_else(|| Format::of(manifest));
        let (merged, report) = self
            .merge_into(&orig, secrets[0].clone(), recovery_keys)
            .map_err(|e| e.within(origin))?;
        Ok(MergedManifest {
            text: render::document(&merged.to_value(), format),
            report,
        })
    }
}

/// A SealedSecret file after a merge.
#[derive(Debug, PartialEq, Eq)]
pub struct MergedManifest {
    /// The new text of the file.
    pub text: String,
    /// What the merge did.
    pub report: MergeReport,
}

/// kubeseal's checks and rewrites of the input Secret before sealing: name and scope
/// overrides, the namespace default, server-side fields stripped. Returns the scope.
fn prepare(mut secret: Secret, opts: &SealOptions) -> Result<(Secret, Scope)> {
    if secret.data.is_empty() && secret.string_data.is_empty() && !opts.allow_empty_data {
        return Err(Error::EmptyData);
    }
    if let Some(n) = opts.name.as_deref().filter(|n| !n.is_empty()) {
        secret.metadata.set_name(n);
    }
    if secret.metadata.name().is_empty() {
        return Err(Error::MissingName);
    }
    if let Some(scope) = opts.scope.filter(|s| *s != Scope::Strict) {
        let mut a = secret.metadata.annotations();
        scope.apply_to(&mut a);
        secret.metadata.set_annotations(a);
    }
    let scope = Scope::from_annotations(&secret.metadata.annotations());
    if scope.needs_namespace() && secret.metadata.namespace().is_empty() {
        match opts.default_namespace.as_deref().filter(|n| !n.is_empty()) {
            Some(ns) => secret.metadata.set_namespace(ns),
            None => return Err(Error::MissingNamespace { scope }),
        }
    }
    secret.metadata.strip_server_fields();
    Ok((secret, scope))
}

fn template_of(secret: &Secret) -> SecretTemplate {
    let mut metadata = secret.metadata.clone();
    metadata.strip_last_applied();
    metadata.remove("ownerReferences");
    SecretTemplate {
        metadata,
        type_: secret.type_.clone(),
        immutable: secret.immutable,
        data: BTreeMap::new(),
    }
}

/// Seals every value of `secret`, except those for which `reuse` hands back an
/// existing ciphertext (quiet merges keep unchanged values byte for byte).
fn seal_values(
    secret: &Secret,
    public: &RsaPublicKey,
    scope: Scope,
    reuse: impl Fn(&str, &ksec_crypto::SecretBytes) -> Option<String>,
) -> Result<SealedSecret> {
    let label = scope.label(secret.metadata.namespace(), secret.metadata.name());
    let mut encrypted_data = BTreeMap::new();
    for (k, v) in secret.merged_data() {
        let ciphertext = match reuse(&k, &v) {
            Some(old) => old,
            None => hybrid::to_base64(
                &hybrid::seal(public, v.expose(), &label).map_err(|e| e.within(&k))?,
            ),
        };
        encrypted_data.insert(k, ciphertext);
    }
    let mut metadata = ObjectMeta::default();
    metadata.set_name(secret.metadata.name());
    if !secret.metadata.namespace().is_empty() {
        metadata.set_namespace(secret.metadata.namespace());
    }
    let mut annotations = BTreeMap::new();
    scope.apply_to(&mut annotations);
    metadata.set_annotations(annotations);
    Ok(SealedSecret {
        metadata,
        template: template_of(secret),
        encrypted_data,
        legacy_data: None,
        status: None,
    })
}

/// What a merge did, per key (for the user; no values).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct MergeReport {
    /// Keys whose old ciphertext was kept because the value did not change.
    pub unchanged: Vec<String>,
    /// Keys sealed anew (changed, new, or not checkable without a key).
    pub resealed: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_keys::{key_a, key_b};
    use crate::unseal::unseal;
    use serde_json::json;

    fn seal(secret: Secret, public: &RsaPublicKey, opts: &SealOptions) -> Result<SealedSecret> {
        Sealer::new(public.clone())
            .with_options(opts.clone())
            .seal(secret)
    }

    fn merge_into(
        orig: &SealedSecret,
        secret: Secret,
        public: &RsaPublicKey,
        opts: &SealOptions,
        recovery_keys: &[&RsaPrivateKey],
    ) -> Result<(SealedSecret, MergeReport)> {
        Sealer::new(public.clone())
            .with_options(opts.clone())
            .merge_into(orig, secret, recovery_keys)
    }

    fn seal_raw(
        public: &RsaPublicKey,
        value: &[u8],
        namespace: &str,
        name: &str,
        scope: Scope,
    ) -> Result<String> {
        Sealer::new(public.clone())
            .with_scope(scope)
            .seal_raw(value, namespace, name)
    }

    fn secret(v: serde_json::Value) -> Secret {
        Secret::from_value(&v).unwrap()
    }

    fn base() -> serde_json::Value {
        json!({"apiVersion": "v1", "kind": "Secret",
               "metadata": {"name": "db", "namespace": "prod", "uid": "123", "resourceVersion": "9",
                            "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{\"data\":\"x\"}", "team": "a"},
                            "ownerReferences": [{"apiVersion": "v1", "kind": "X", "name": "o", "uid": "u"}]},
               "type": "Opaque", "immutable": true,
               "stringData": {"password": "hunter2"}, "data": {"user": "YWRtaW4="}})
    }

    #[test]
    fn every_scope_round_trips_and_is_bound_to_its_label() {
        for scope in [Scope::Strict, Scope::NamespaceWide, Scope::ClusterWide] {
            let opts = SealOptions {
                scope: Some(scope),
                ..Default::default()
            };
            let ss = seal(secret(base()), key_a().public_key(), &opts).unwrap();
            assert_eq!(ss.scope(), scope);
            let out = unseal(&ss, &[key_a()]).unwrap();
            assert_eq!(out.secret.data["password"].expose(), b"hunter2");
            assert_eq!(out.secret.data["user"].expose(), b"admin");
            // Move it: another name breaks strict, another namespace breaks strict and namespace-wide.
            let mut renamed = ss.clone();
            renamed.metadata.set_name("other");
            assert_eq!(
                unseal(&renamed, &[key_a()]).is_ok(),
                scope != Scope::Strict,
                "{scope} renamed"
            );
            let mut moved = ss.clone();
            moved.metadata.set_namespace("dev");
            assert_eq!(
                unseal(&moved, &[key_a()]).is_ok(),
                scope == Scope::ClusterWide,
                "{scope} moved"
            );
        }
    }

    #[test]
    fn template_is_built_as_kubeseal_builds_it() {
        let ss = seal(
            secret(base()),
            key_a().public_key(),
            &SealOptions::default(),
        )
        .unwrap();
        let v = ss.to_value();
        let tpl = &v["spec"]["template"];
        assert_eq!(
            tpl["metadata"],
            json!({"name": "db", "namespace": "prod", "creationTimestamp": null, "annotations": {"team": "a"}})
        );
        assert_eq!(tpl["type"], "Opaque");
        assert_eq!(tpl["immutable"], true);
        assert_eq!(
            v["metadata"],
            json!({"name": "db", "namespace": "prod", "creationTimestamp": null})
        );
        let keys: Vec<_> = v["spec"]["encryptedData"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        assert_eq!(keys, ["password", "user"]);
    }

    #[test]
    fn bad_input_is_refused_with_a_reason() {
        let e = seal(
            secret(json!({"kind": "Secret", "metadata": {"name": "x"}})),
            key_a().public_key(),
            &SealOptions::default(),
        );
        assert_eq!(e.unwrap_err(), Error::EmptyData);
        let e = seal(
            secret(json!({"kind": "Secret", "stringData": {"a": "b"}})),
            key_a().public_key(),
            &SealOptions::default(),
        );
        assert_eq!(e.unwrap_err(), Error::MissingName);
        let e = seal(
            secret(json!({"kind": "Secret", "metadata": {"name": "x"}, "stringData": {"a": "b"}})),
            key_a().public_key(),
            &SealOptions::default(),
        );
        assert_eq!(
            e.unwrap_err(),
            Error::MissingNamespace {
                scope: Scope::Strict
            }
        );
        let ok = seal(
            secret(json!({"kind": "Secret", "metadata": {"name": "x"}, "stringData": {"a": "b"}})),
            key_a().public_key(),
            &SealOptions {
                scope: Some(Scope::ClusterWide),
                ..Default::default()
            },
        );
        assert!(ok.is_ok());
    }

    #[test]
    fn quiet_merge_keeps_unchanged_ciphertexts() {
        let pk = key_a().public_key();
        let orig = seal(secret(base()), pk, &SealOptions::default()).unwrap();
        let mut changed = base();
        changed["stringData"]["password"] = json!("new-password");
        changed["stringData"]["extra"] = json!("e");
        let (merged, report) = merge_into(
            &orig,
            secret(changed.clone()),
            pk,
            &SealOptions::default(),
            &[key_a()],
        )
        .unwrap();
        assert_eq!(report.unchanged, vec!["user".to_string()]);
        assert_eq!(merged.encrypted_data["user"], orig.encrypted_data["user"]);
        assert_ne!(
            merged.encrypted_data["password"],
            orig.encrypted_data["password"]
        );
        let out = unseal(&merged, &[key_a()]).unwrap();
        assert_eq!(out.secret.data["password"].expose(), b"new-password");
        assert_eq!(out.secret.data["extra"].expose(), b"e");
        // Without a key nothing can be compared: everything is resealed (kubeseal's behaviour).
        let (_, report) = merge_into(
            &orig,
            secret(changed),
            pk,
            &SealOptions::default(),
            &[key_b()],
        )
        .unwrap();
        assert!(report.unchanged.is_empty());
    }

    #[test]
    fn merge_keeps_the_existing_scope() {
        let pk = key_a().public_key();
        let orig = seal(
            secret(base()),
            pk,
            &SealOptions {
                scope: Some(Scope::ClusterWide),
                ..Default::default()
            },
        )
        .unwrap();
        let mut plain = base();
        plain["metadata"]["annotations"] = json!({});
        let (merged, _) =
            merge_into(&orig, secret(plain), pk, &SealOptions::default(), &[]).unwrap();
        assert!(unseal(&merged, &[key_a()]).is_ok());
    }

    #[test]
    fn raw_values_need_name_and_namespace_per_scope() {
        let pk = key_a().public_key();
        assert_eq!(
            seal_raw(pk, b"v", "", "n", Scope::Strict).unwrap_err(),
            Error::MissingNamespace {
                scope: Scope::Strict
            }
        );
        assert_eq!(
            seal_raw(pk, b"v", "ns", "", Scope::Strict).unwrap_err(),
            Error::MissingName
        );
        let v = seal_raw(pk, b"v", "ns", "", Scope::NamespaceWide).unwrap();
        let opened = hybrid::open(key_a(), &hybrid::from_base64(&v).unwrap(), b"ns").unwrap();
        assert_eq!(opened.expose(), b"v");
    }
}

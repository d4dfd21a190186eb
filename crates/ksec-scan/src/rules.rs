//! The rule catalogue: ids, titles, default severities, the kubescape controls each
//! rule corresponds to, and the ksec command that fixes what it finds.
use crate::finding::Severity;

/// One rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rule {
    /// Stable id (`KSEC-…`); what `ksec.dev/scan-ignore` and baselines name.
    pub id: &'static str,
    /// One line.
    pub title: &'static str,
    /// Severity when nothing raises or lowers it.
    pub severity: Severity,
    /// kubescape control ids this rule covers (empty: ksec only).
    pub controls: &'static [&'static str],
    /// What to do, naming the ksec command that does it.
    pub remediation: &'static str,
}

macro_rules! rules {
    ($($name:ident = $id:literal, $sev:ident, [$($c:literal),*], $title:literal, $fix:literal;)*) => {
        $(
            #[doc = $title]
            pub const $name: Rule = Rule {
                id: $id,
                title: $title,
                severity: Severity::$sev,
                controls: &[$($c),*],
                remediation: $fix,
            };
        )*
        /// Every rule, in the order the README lists them.
        pub const ALL: &[Rule] = &[$($name),*];
    };
}

rules! {
    PLAINTEXT_SECRET = "KSEC-SECRET-PLAINTEXT", Medium, [],
        "Plaintext Secret manifest",
        "Seal it with `ksec seal` (a SealedSecret only the cluster opens) or encrypt the file with `ksec sops encrypt`, then rotate the values that were committed.";
    ENV_CREDENTIAL = "KSEC-ENV-CREDENTIAL", Medium, ["C-0012", "C-0259"],
        "Credential as a literal environment variable value",
        "Move the value into a Secret sealed with `ksec seal` and reference it with `valueFrom.secretKeyRef` (or mount it as a file).";
    CONFIGMAP_CREDENTIAL = "KSEC-CONFIGMAP-CREDENTIAL", Medium, ["C-0012"],
        "Credential in ConfigMap data",
        "Move the value into a Secret sealed with `ksec seal`; ConfigMaps are readable by anyone who can read configuration.";
    CONFIG_CREDENTIAL = "KSEC-CONFIG-CREDENTIAL", High, [],
        "Credential in a configuration value",
        "Encrypt the file with `ksec sops encrypt` (Helm values: `helm secrets` through ksec), and rotate the credential.";
    SECRET_ENV = "KSEC-SECRET-ENV", Low, ["C-0207"],
        "Secret consumed as an environment variable",
        "Mount the Secret as a file instead: environment variables leak into logs, crash reports and child processes.";
    SECRET_ENV_FROM = "KSEC-SECRET-ENVFROM", Low, ["C-0207", "C-0012", "C-0259"],
        "Whole Secret imported as environment variables (envFrom)",
        "Mount the Secret as a file, or reference only the keys the container needs.";
    SECRET_VOLUME = "KSEC-SECRET-VOLUME", Info, ["C-0255"],
        "Workload mounts a Secret",
        "Informational: make sure the workload needs it; keep the Secret sealed in git with `ksec seal`.";
    RBAC_SECRETS = "KSEC-RBAC-SECRETS", High, ["C-0015", "C-0186"],
        "Subject can read Secrets",
        "Grant only `get` on named Secrets (`resourceNames`); `list`/`watch` return every value in the namespace.";
    RBAC_INDIRECT = "KSEC-RBAC-SECRETS-INDIRECT", Medium, [],
        "Subject can read Secrets indirectly",
        "Creating pods, exec into pods, impersonation, escalate/bind and wildcards all reach Secret values; narrow the role.";
    WORKLOAD_TAKEOVER = "KSEC-WORKLOAD-TAKEOVER", High, ["C-0267"],
        "Workload's service account can read Secrets or create pods",
        "Set `automountServiceAccountToken: false` on the pod, or narrow the role bound to its service account.";
    SA_TOKEN_MOUNT = "KSEC-SA-TOKEN-AUTOMOUNT", Low, ["C-0034", "C-0190"],
        "Service account token mounted automatically",
        "Set `automountServiceAccountToken: false` on the pod (or its ServiceAccount) unless it talks to the API.";
    APISERVER_NO_ENCRYPTION = "KSEC-APISERVER-NO-ENCRYPTION", High, ["C-0066", "C-0141"],
        "kube-apiserver stores Secrets unencrypted",
        "Run `ksec encryption-config generate --provider kms` and `ksec kms serve`, then start kube-apiserver with `--encryption-provider-config`.";
    ENCRYPTION_CONFIG = "KSEC-ENCRYPTION-CONFIG", High, ["C-0141", "C-0142"],
        "EncryptionConfiguration leaves Secrets weakly protected",
        "Check it with `ksec encryption-config check`; write a new one with `ksec encryption-config generate --provider kms`.";
    AUDIT_SECRETS = "KSEC-AUDIT-SECRETS", Medium, ["C-0161"],
        "Audit policy logs Secret values, or not Secret access at all",
        "Log `secrets` at level `Metadata` in a rule placed above any broader rule.";
    SOPS_UNENCRYPTED = "KSEC-SOPS-UNENCRYPTED", High, [],
        "Credential left unencrypted in a SOPS file",
        "Widen the file's `encrypted_regex`/suffix rules in `.sops.yaml`, then `ksec sops updatekeys`/re-encrypt with `ksec sops encrypt`.";
    SOPS_NO_MAC = "KSEC-SOPS-NO-MAC", Medium, [],
        "SOPS file without a MAC",
        "Re-encrypt it with `ksec sops encrypt`: without a MAC, values can be swapped or removed unnoticed.";
    SOPS_RETIRED_KEYS = "KSEC-SOPS-RETIRED-KEYS", High, [],
        "SOPS file encrypted only for retired keys",
        "Add current recipients and rotate the data key with `ksec sops rotate`.";
    SEALED_TEMPLATE_DATA = "KSEC-SEALED-TEMPLATE-DATA", High, [],
        "SealedSecret template carries literal data",
        "Template data is copied into the Secret in plaintext: move it into `encryptedData` with `ksec seal --merge-into`.";
    SEALED_CLUSTER_WIDE = "KSEC-SEALED-CLUSTER-WIDE", Low, [],
        "SealedSecret sealed cluster-wide",
        "Anyone who can create a SealedSecret in any namespace can open it there; reseal with `ksec seal --scope strict`.";
}

/// The rule with this id.
pub fn by_id(id: &str) -> Option<&'static Rule> {
    ALL.iter().find(|r| r.id == id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_remediations_name_a_ksec_command_or_setting() {
        for (i, r) in ALL.iter().enumerate() {
            assert!(r.id.starts_with("KSEC-"));
            assert!(ALL[i + 1..].iter().all(|o| o.id != r.id), "{}", r.id);
            assert!(!r.remediation.is_empty());
        }
        assert_eq!(by_id("KSEC-SECRET-PLAINTEXT"), Some(&PLAINTEXT_SECRET));
    }
}

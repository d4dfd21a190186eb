//! Every Kustomize base and overlay under deploy/ renders with `kubectl kustomize` and
//! validates against the Kubernetes API schemas of every supported Kubernetes version
//! (`kubernetes-validate --strict`), offline: there is no live cluster where these tests
//! run. The controller's variants are checked field by field; the Dockerfile copies what
//! a build makes.
use crate::charts::{assert_valid, docs, find};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;

fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy")
}

fn kustomizations(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.filter_map(|e| e.ok()) {
        let p = e.path();
        if p.is_dir() {
            if p.join("kustomization.yaml").exists() {
                out.push(p.clone());
            }
            kustomizations(&p, out);
        }
    }
}

/// `kubectl kustomize DIR`, or `None` without kubectl.
fn kustomize(dir: &Path) -> Option<String> {
    let kubectl = ksec_testkit::peer("kubectl")?;
    let out = Command::new(kubectl)
        .arg("kustomize")
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "kubectl kustomize {}: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8(out.stdout).unwrap())
}

#[test]
fn deploy_bases_render_and_validate() {
    let mut dirs = vec![];
    kustomizations(&deploy_dir(), &mut dirs);
    dirs.sort();
    let has = |part: &str| {
        dirs.iter()
            .filter(|d| d.to_string_lossy().contains(part))
            .count()
    };
    assert!(
        has("kms-plugin") >= 2,
        "the KMS plugin has a static-pod and a DaemonSet variant: {dirs:?}"
    );
    assert!(
        has("controller") >= 3,
        "the controller has a base, its root and a namespaced overlay: {dirs:?}"
    );
    for d in &dirs {
        let Some(manifest) = kustomize(d) else { return };
        assert!(
            manifest.contains("kind:"),
            "{} rendered nothing",
            d.display()
        );
        assert_valid(&manifest, &[]);
    }
    // The validator can fail: an unknown field under the Pod spec is refused.
    let broken = "apiVersion: v1\nkind: Pod\nmetadata: {name: x}\nspec:\n  containers: []\n  containerz: []\n";
    let Some(results) = ksec_testkit::kube_validate::validate(broken, &["1.32"], true) else {
        return;
    };
    assert!(
        matches!(&results[0].outcome, ksec_testkit::kube_validate::Outcome::Invalid(m) if m.contains("containerz")),
        "kubernetes-validate accepted a broken Pod: {results:?}"
    );
}

fn restricted(pod: &Value) {
    let c = &pod["containers"][0]["securityContext"];
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(
        pod["securityContext"]["seccompProfile"]["type"],
        "RuntimeDefault"
    );
    assert_eq!(c["allowPrivilegeEscalation"], false);
    assert_eq!(c["readOnlyRootFilesystem"], true);
    assert_eq!(c["capabilities"]["drop"], json!(["ALL"]));
}

#[test]
fn controller_base_is_bitnamis_layout_with_the_proxy_role_fixed() {
    let Some(text) = kustomize(&deploy_dir().join("controller")) else {
        return;
    };
    let d = docs(&text);
    let name = "sealed-secrets-controller";
    let svc = find(&d, "Service", name);
    assert_eq!(svc["metadata"]["namespace"], "kube-system");
    assert_eq!(svc["spec"]["ports"][0]["name"], "http");
    let dep = find(&d, "Deployment", name);
    restricted(&dep["spec"]["template"]["spec"]);
    assert_eq!(
        dep["spec"]["template"]["spec"]["containers"][0]["args"],
        json!(["controller"])
    );
    // kubeseal proxies to http:NAME:PORTNAME; without that name users get 403.
    let proxier = find(&d, "Role", "sealed-secrets-service-proxier");
    let names = &proxier["rules"][1]["resourceNames"];
    assert!(
        names
            .as_array()
            .unwrap()
            .contains(&json!("http:sealed-secrets-controller:http")),
        "{names}"
    );
    assert_eq!(proxier["rules"][1]["resources"], json!(["services/proxy"]));
    let crb = find(&d, "ClusterRoleBinding", name);
    assert_eq!(crb["subjects"][0]["namespace"], "kube-system");
}

#[test]
fn controller_namespaced_overlay_needs_no_cluster_wide_rights() {
    let Some(text) = kustomize(&deploy_dir().join("controller/namespaced")) else {
        return;
    };
    let d = docs(&text);
    for doc in &d {
        let kind = doc["kind"].as_str().unwrap();
        assert!(
            !matches!(
                kind,
                "ClusterRole" | "ClusterRoleBinding" | "CustomResourceDefinition"
            ),
            "the namespaced overlay has a cluster-wide {kind}"
        );
        assert_eq!(doc["metadata"]["namespace"], "sealed-secrets", "{kind}");
        for s in doc["subjects"].as_array().into_iter().flatten() {
            if s["kind"] == "ServiceAccount" {
                assert_eq!(
                    s["namespace"], "sealed-secrets",
                    "{kind} {}",
                    doc["metadata"]["name"]
                );
            }
        }
    }
    let dep = find(&d, "Deployment", "sealed-secrets-controller");
    let pod = &dep["spec"]["template"]["spec"];
    restricted(pod);
    assert_eq!(
        pod["containers"][0]["args"],
        json!(["controller", "--all-namespaces=false"])
    );
    let role = find(&d, "Role", "secrets-unsealer");
    assert_eq!(role["rules"][0]["resources"], json!(["sealedsecrets"]));
    find(&d, "RoleBinding", "secrets-unsealer");
    find(&d, "Role", "sealed-secrets-key-admin");
}

/// The Dockerfile cannot be built here (no container runtime). It must copy what a
/// release build makes, and the manifests must run what it installs.
#[test]
fn dockerfile_copies_what_the_build_makes() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dockerfile = std::fs::read_to_string(root.join("Dockerfile")).unwrap();
    // The build stage compiles the workspace's ksec binary with the features the image
    // needs; the runtime stage copies it from where cargo puts it.
    assert!(
        dockerfile.contains("cargo build --release --locked -p ksec"),
        "{dockerfile}"
    );
    let copy = dockerfile
        .lines()
        .find(|l| l.starts_with("COPY --from=build"))
        .expect("a COPY from the build stage");
    let from = copy.split_whitespace().nth(2).unwrap();
    assert!(from.ends_with("/release/ksec"), "{copy}");
    let to = copy.split_whitespace().nth(3).unwrap();
    assert_eq!(to, "/usr/local/bin/ksec");
    // The build image's Rust is at least the workspace's rust-version (the newest any
    // locked dependency asks for is checked by cargo against that).
    let version = |text: &str, key: &str| -> Vec<u32> {
        let line = text
            .lines()
            .find(|l| l.trim_start().starts_with(key))
            .unwrap_or_else(|| panic!("no {key}"));
        let v = line
            .split(['=', '"'])
            .filter(|s| !s.trim().is_empty())
            .nth(1);
        v.unwrap()
            .trim()
            .split('.')
            .map(|n| n.parse().unwrap())
            .collect()
    };
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    assert!(
        version(&dockerfile, "ARG RUST_VERSION") >= version(&manifest, "rust-version"),
        "the Dockerfile's RUST_VERSION is older than the workspace's rust-version"
    );
    // Non-root, and the entrypoint is the installed binary.
    assert!(dockerfile.contains("USER 65532:65532"));
    assert!(dockerfile.contains(r#"ENTRYPOINT ["/usr/local/bin/ksec"]"#));
    // Every path the build stage copies in exists in the repository.
    for line in dockerfile
        .lines()
        .filter(|l| l.starts_with("COPY ") && !l.contains("--from"))
    {
        let parts: Vec<&str> = line.split_whitespace().collect();
        for src in &parts[1..parts.len() - 1] {
            assert!(
                root.join(src).exists(),
                "the Dockerfile copies {src}, which does not exist"
            );
        }
    }
    // .dockerignore keeps build outputs and caches out of the context, not the sources.
    let ignore = std::fs::read_to_string(root.join(".dockerignore")).unwrap();
    for line in ["target", ".cache", ".git"] {
        assert!(
            ignore.lines().any(|l| l.trim_start_matches('/') == line),
            "{line} not ignored"
        );
    }
    for kept in ["crates", "Cargo.toml", "Cargo.lock"] {
        assert!(
            !ignore.lines().any(|l| l.trim_start_matches('/') == kept),
            "{kept} ignored"
        );
    }
    // The binary a build makes is the one the image copies: its name and its
    // subcommands are what the manifests run.
    let bin = crate::common::ksec_path();
    assert_eq!(bin.file_name().unwrap(), "ksec");
    for sub in [&["controller"][..], &["kms", "serve"]] {
        let out = crate::common::ksec()
            .args(sub)
            .arg("--help")
            .output()
            .unwrap();
        assert!(out.status.success(), "ksec {sub:?} --help failed");
    }
}

//! The Kustomize base under deploy/controller renders with `kubectl kustomize` and is
//! valid against the Kubernetes 1.32 API schemas (kubernetes-validate, strict). Offline:
//! `kubectl apply --dry-run` would need a live API server.

use std::path::Path;
use std::process::Command;

fn validate(validator: &Path, file: &Path) -> std::process::Output {
    Command::new(validator)
        .args(["--strict", "-k", "1.32.0"])
        .arg(file)
        .output()
        .expect("run kubernetes-validate")
}

#[test]
fn kustomize_base_renders_and_validates() {
    let Some(kubectl) = ksec_testkit::peer("kubectl") else {
        return;
    };
    let Some(validator) = ksec_testkit::peer("kubernetes-validate") else {
        return;
    };
    let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/controller");
    let out = Command::new(kubectl)
        .arg("kustomize")
        .arg(&base)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "kubectl kustomize: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rendered = String::from_utf8(out.stdout).unwrap();
    for want in [
        "kind: CustomResourceDefinition",
        "name: sealedsecrets.bitnami.com",
        "kind: Deployment",
        "- controller",
        "name: sealed-secrets-controller",
        "namespace: kube-system",
        "coordination.k8s.io",
        "sealedsecrets/status",
        "containerPort: 8081",
    ] {
        assert!(rendered.contains(want), "rendered base lacks {want:?}");
    }
    let dir = ksec_testkit::tempdir();
    let file = dir.path().join("rendered.yaml");
    std::fs::write(&file, &rendered).unwrap();
    let v = validate(&validator, &file);
    assert!(
        v.status.success(),
        "kubernetes-validate: {}{}",
        String::from_utf8_lossy(&v.stdout),
        String::from_utf8_lossy(&v.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&v.stdout).matches("passed").count()
            + String::from_utf8_lossy(&v.stderr).matches("passed").count(),
        11
    );

    // The validator can fail: a wrong type is caught.
    let broken = dir.path().join("broken.yaml");
    std::fs::write(&broken, rendered.replace("replicas: 2", "replicas: two")).unwrap();
    assert!(
        !validate(&validator, &broken).status.success(),
        "a broken manifest passed"
    );
}

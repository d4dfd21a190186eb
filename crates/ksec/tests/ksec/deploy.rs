//! Every Kustomize base under deploy/ renders with `kubectl kustomize` and validates
//! against the Kubernetes API schemas with `kubernetes-validate --strict`, offline
//! (there is no live cluster where these tests run).
use std::path::{Path, PathBuf};
use std::process::Command;

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

fn validate(validator: &Path, manifest: &str, dir: &Path) -> std::process::Output {
    let file = dir.join("rendered.yaml");
    std::fs::write(&file, manifest).unwrap();
    Command::new(validator)
        .args(["--strict", "--kubernetes-version", "1.32.0"])
        .arg(&file)
        .output()
        .unwrap()
}

#[test]
fn deploy_bases_render_and_validate() {
    let Some(kubectl) = ksec_testkit::peer("kubectl") else {
        return;
    };
    let Some(validator) = ksec_testkit::peer("kubernetes-validate") else {
        return;
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy");
    let mut dirs = vec![];
    kustomizations(&root, &mut dirs);
    dirs.sort();
    let kms: Vec<_> = dirs
        .iter()
        .filter(|d| d.to_string_lossy().contains("kms-plugin"))
        .collect();
    assert!(
        kms.len() >= 2,
        "the KMS plugin has a static-pod and a DaemonSet variant: {dirs:?}"
    );
    let tmp = ksec_testkit::tempdir();
    for d in &dirs {
        let out = Command::new(&kubectl)
            .arg("kustomize")
            .arg(d)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "kubectl kustomize {}: {}",
            d.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        let manifest = String::from_utf8(out.stdout).unwrap();
        assert!(
            manifest.contains("kind:"),
            "{} rendered nothing",
            d.display()
        );
        let v = validate(&validator, &manifest, tmp.path());
        assert!(
            v.status.success(),
            "{} does not validate:\n{}{}",
            d.display(),
            String::from_utf8_lossy(&v.stdout),
            String::from_utf8_lossy(&v.stderr)
        );
    }
    // The validator can fail: an unknown field under the Pod spec is refused.
    let broken = "apiVersion: v1\nkind: Pod\nmetadata: {name: x}\nspec:\n  containerz: []\n";
    assert!(
        !validate(&validator, broken, tmp.path()).status.success(),
        "kubernetes-validate accepted a broken Pod"
    );
}

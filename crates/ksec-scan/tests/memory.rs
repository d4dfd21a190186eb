//! What a scan holds grows with its findings and with the objects other objects refer to,
//! never with the number of files: measured with a counting global allocator (which is
//! why this is a test binary of its own, with one test, so no other test allocates
//! beside it). The numbers it prints are the ones the crate README states.
#![allow(clippy::unwrap_used)]
use ksec_scan::{Options, Scanner};
use peakmem_alloc::{PeakMemAlloc, PeakMemAllocTrait, INSTRUMENTED_SYSTEM};
use std::alloc::System;
use std::path::Path;

#[global_allocator]
static GLOBAL: &PeakMemAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Files per directory: the walk holds one directory's entries at a time.
const PER_DIR: usize = 100;

/// A clean file: a ConfigMap with ordinary settings and a Deployment that mounts no
/// token (about 1.3 KB), so nothing in it is a finding or kept for a cross-object rule.
fn clean(i: usize) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: settings-{i}, namespace: shop}}\ndata:\n  LOG_LEVEL: debug\n  TOKEN_TTL: \"3600\"\n  FEATURE_FLAGS: checkout,search,recommendations\n  application.properties: |\n    server.port=8080\n    spring.datasource.url=jdbc:postgresql://db/app\n    spring.datasource.password-file=/run/secrets/db\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: api-{i}, namespace: shop, labels: {{app: api}}}}\nspec:\n  replicas: 3\n  selector: {{matchLabels: {{app: api-{i}}}}}\n  template:\n    metadata: {{labels: {{app: api-{i}}}}}\n    spec:\n      automountServiceAccountToken: false\n      containers:\n      - name: api\n        image: shop/api:1.{i}\n        args: [--port=8080, --log-level=debug]\n        env:\n        - {{name: DB_PASSWORD_FILE, value: /run/secrets/db}}\n        - {{name: DATABASE_URL, value: \"postgres://app:$(DB_PASSWORD)@db:5432/app\"}}\n        - {{name: LOG_FORMAT, valueFrom: {{configMapKeyRef: {{name: settings-{i}, key: LOG_LEVEL}}}}}}\n{}",
        "# padding to make the file a realistic size\n".repeat(10)
    )
}

/// One finding per file (a credential in a ConfigMap).
fn one_finding(i: usize) -> String {
    format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: c-{i}, namespace: shop}}\ndata:\n  DB_PASSWORD: pw-{i}-Zx81q\n")
}

/// A workload whose token is mounted: kept as a summary for the token rules.
fn workload(i: usize) -> String {
    format!("apiVersion: v1\nkind: Pod\nmetadata: {{name: p-{i}, namespace: shop}}\nspec:\n  serviceAccountName: app\n  containers: [{{name: c, image: x}}]\n")
}

fn write_tree(root: &Path, files: usize, content: fn(usize) -> String) {
    for i in 0..files {
        let dir = root.join(format!("d{:03}", i / PER_DIR));
        if i % PER_DIR == 0 {
            std::fs::create_dir_all(&dir).unwrap();
        }
        std::fs::write(dir.join(format!("f{i:05}.yaml")), content(i)).unwrap();
    }
}

/// The most memory a scan of `root` held at any time beyond what was held before it,
/// and what it found.
fn peak_scan(root: &Path) -> (usize, usize, usize) {
    GLOBAL.reset_peak_memory();
    let mut s = Scanner::new(Options::default());
    s.scan_path(root);
    let report = s.finish();
    let peak = GLOBAL.get_peak_memory();
    (peak, report.findings.len(), report.summary.files)
}

fn measure(files: [usize; 2], content: fn(usize) -> String) -> (usize, usize, usize) {
    let mut out = vec![];
    for n in files {
        let d = tempfile::tempdir().unwrap();
        write_tree(d.path(), n, content);
        let (peak, findings, scanned) = peak_scan(d.path());
        assert_eq!(scanned, n);
        out.push((peak, findings));
    }
    let growth = out[1].0.saturating_sub(out[0].0);
    (out[0].0, growth, out[1].1 - out[0].1)
}

#[test]
fn memory_grows_with_findings_and_kept_summaries_not_with_files() {
    let sizes = [300, 3_000];
    let extra = sizes[1] - sizes[0];

    // Clean files: nothing found, nothing kept. Ten times the files, the same peak (give
    // or take the allocator's noise and one more directory entry per hundred files).
    let (base, growth, found) = measure(sizes, clean);
    assert_eq!(found, 0);
    eprintln!(
        "clean files: peak {base} bytes for {} files; {growth} bytes more for {extra} more files ({} per file)",
        sizes[0],
        growth / extra
    );
    assert!(
        growth < 32 * 1024,
        "{growth} bytes more for {extra} more clean files: something is kept per file"
    );

    // One finding per file: memory grows by what a finding holds.
    let (_, growth, found) = measure(sizes, one_finding);
    assert_eq!(found, extra);
    let per_finding = growth / extra;
    eprintln!("findings: {per_finding} bytes per finding");
    assert!(
        (100..2048).contains(&per_finding),
        "{per_finding} bytes per finding"
    );

    // A workload that mounts a token is kept (as a summary) until the token rules run
    // at the end; each also gets its finding then.
    let (_, growth, found) = measure(sizes, workload);
    assert_eq!(found, extra);
    let per_workload = growth / extra;
    eprintln!("workloads with a mounted token: {per_workload} bytes each, finding included");
    assert!(
        per_workload < per_finding + 1024,
        "{per_workload} bytes per workload"
    );
}

//! YAML alias expansion: ksec refuses exactly the documents the real sops
//! refuses ("excessive aliasing", go-yaml v3's rule), on both sides of the
//! boundary and in block, flow and nested-anchor shapes.
use ksec_sops::{Document, Format};
use std::process::Command;

/// `anchor` aliased `n` times in a flow sequence under `all`.
fn flow_aliases(anchor_items: usize, n: usize) -> String {
    let items: Vec<String> = (1..=anchor_items).map(|i| i.to_string()).collect();
    format!(
        "base: &b [{}]\nall: [{}]\n",
        items.join(", "),
        vec!["*b"; n].join(", ")
    )
}

/// A 100-key mapping aliased `n` times in a block sequence.
fn block_aliases(n: usize) -> String {
    let mut y = String::from("base: &m\n");
    for i in 0..100 {
        y.push_str(&format!("    k{i}: v{i}\n"));
    }
    y.push_str("list:\n");
    for _ in 0..n {
        y.push_str("    - *m\n");
    }
    y
}

/// Anchors made of aliases of anchors, `depth` levels of `width`.
fn nested(depth: usize, width: usize) -> String {
    let mut y = String::from("l0: &l0 [x, y, z]\n");
    for d in 1..=depth {
        y.push_str(&format!(
            "l{d}: &l{d} [{}]\n",
            vec![format!("*l{}", d - 1); width].join(", ")
        ));
    }
    y
}

#[test]
fn sops_and_ksec_refuse_the_same_aliasing() {
    let Some(sops) = ksec_testkit::peer("sops") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (_, recipient) = ksec_sops::keys::age::generate();
    let cases = [
        // 400-item anchor: 133 aliases are 98.999 % aliased nodes, 134 are 99.005 %.
        ("flow-133", flow_aliases(400, 133)),
        ("flow-134", flow_aliases(400, 134)),
        // 100-key mapping: 199 aliases are 98.998 %, 200 are 99.0001 %.
        ("block-199", block_aliases(199)),
        ("block-200", block_aliases(200)),
        ("block-50", block_aliases(50)),
        ("nested-2x9", nested(2, 9)),
        ("nested-3x9", nested(3, 9)),
        ("nested-6x3", nested(6, 3)),
        ("nested-7x3", nested(7, 3)),
        (
            "merge",
            format!(
                "base: &m {{a: 1, b: 2}}\n{}",
                (0..300)
                    .map(|i| format!("k{i}:\n    <<: *m\n    c: {i}\n"))
                    .collect::<String>()
            ),
        ),
    ];
    let mut refused = Vec::new();
    for (name, yaml) in cases {
        let path = dir.path().join(format!("{name}.yaml"));
        std::fs::write(&path, &yaml).unwrap();
        let out = Command::new(&sops)
            .args(["encrypt", "--age", &recipient])
            .arg(&path)
            .env("SOPS_DISABLE_VERSION_CHECK", "1")
            .output()
            .unwrap();
        let sops_err = String::from_utf8_lossy(&out.stderr);
        let sops_accepts = out.status.success();
        if !sops_accepts {
            assert!(
                sops_err.contains("excessive aliasing"),
                "{name}: sops: {sops_err}"
            );
            refused.push(name);
        }
        let ours = Document::parse(yaml.as_bytes(), Format::Yaml);
        match &ours {
            Ok(_) => assert!(sops_accepts, "{name}: ksec accepts what sops refuses"),
            Err(e) => {
                assert!(!sops_accepts, "{name}: ksec refuses what sops accepts: {e}");
                assert!(e.to_string().contains("excessive aliasing"), "{name}: {e}");
            }
        }
    }
    // The cases straddle the boundary: one alias more tips each pair over.
    for name in ["flow-134", "block-200", "nested-3x9"] {
        assert!(
            refused.contains(&name),
            "{name} was accepted; refused: {refused:?}"
        );
    }
    for name in ["flow-133", "block-199", "block-50", "nested-2x9", "merge"] {
        assert!(!refused.contains(&name), "{name} was refused");
    }
}

#[test]
fn excessive_aliasing_is_refused_by_every_entry_point() {
    let bomb = nested(9, 9);
    assert!(Document::parse(bomb.as_bytes(), Format::Yaml).is_err());
    let err = ksec_sops::LockedFile::parse(bomb.as_bytes(), Format::Yaml).unwrap_err();
    assert!(
        matches!(err, ksec_sops::Error::Parse { line: Some(_), .. }),
        "{err}"
    );
    // A .sops.yaml is YAML too.
    let err = ksec_sops::Config::parse(std::path::Path::new(".sops.yaml"), bomb.as_bytes())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(".sops.yaml") && err.contains("excessive aliasing"),
        "{err}"
    );
}

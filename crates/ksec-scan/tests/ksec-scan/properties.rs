//! Property tests: the fuzz targets' entry points on random input (so stable CI covers
//! them), and the security property on random credentials.
use ksec_scan::{output, Options, Scanner};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_text_scans_without_panic(text in "[ -~\n\t:&*\\[\\]{}-]{0,400}") {
        let _ = ksec_scan::internal::scan_bytes("p.yaml", text.as_bytes());
        let _ = ksec_scan::internal::scan_bytes("p.env", text.as_bytes());
    }

    #[test]
    fn yaml_shaped_text_scans_without_panic(
        keys in proptest::collection::vec("[a-zA-Z_]{1,12}", 1..8),
        vals in proptest::collection::vec("[ -~]{0,40}", 1..8),
    ) {
        let mut t = String::from("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata:\n");
        for (k, v) in keys.iter().zip(&vals) {
            t.push_str(&format!("  {k}: {v:?}\n"));
        }
        let _ = ksec_scan::internal::scan_bytes("p.yaml", t.as_bytes());
    }

    /// Whatever credential sits in a manifest, no output format shows it.
    #[test]
    fn no_output_carries_the_value(secret in "[A-Za-z0-9!#%+/=_-]{12,40}", name in "(DB_PASSWORD|API_TOKEN|CLIENT_SECRET|STRIPE_API_KEY)") {
        let text = format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: p}}\nspec:\n  containers:\n  - name: c\n    image: x\n    env:\n    - name: {name}\n      value: {secret:?}\n---\napiVersion: v1\nkind: Secret\nmetadata: {{name: s}}\nstringData:\n  password: {secret:?}\n"
        );
        let mut s = Scanner::new(Options::default());
        s.scan_text("p.yaml", &text);
        let r = s.finish();
        prop_assert!(r.findings.iter().any(|f| f.rule == "KSEC-SECRET-PLAINTEXT"));
        for out in [output::json(&r), output::sarif(&r), output::table(&r), ksec_scan::Baseline::text_of(&r)] {
            prop_assert!(!out.contains(&secret));
        }
    }
}

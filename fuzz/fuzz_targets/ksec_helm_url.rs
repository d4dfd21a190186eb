//! Fuzzes the parser of helm-secrets' downloader URLs (`secrets://…`,
//! `secrets+age-import-kubernetes://NS/NAME#KEY?PATH`, …): it never panics, and a
//! URL it accepts, written back, parses to the same URL. The `${NAME}` expansion of
//! `HELM_SECRETS_URL_VARIABLE_EXPANSION` never panics, and with no reference or
//! escape in the text it changes nothing.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        let expanded = ksec_helm::internal::expand_url(s, "v");
        if !s.contains(['$', '\\']) {
            assert_eq!(expanded.ok().as_deref(), Some(s));
        }
        if let Ok(canonical) = ksec_helm::internal::reformat_url(s) {
            let again = ksec_helm::internal::reformat_url(&canonical);
            assert_eq!(again.ok().as_deref(), Some(canonical.as_str()));
            assert_eq!(
                ksec_helm::internal::parse_url(s).ok(),
                ksec_helm::internal::parse_url(&canonical).ok()
            );
        }
    }
});

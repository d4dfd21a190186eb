//! Wrapper mode's launch decisions against the real Helm 4 and Helm 3 (`KSEC_HELM4`,
//! `KSEC_HELM3`, installed by scripts/peers/helm.sh): the plugins the library writes
//! load in that Helm, `Launch` sees their getter (or its absence) and the loop guard,
//! and the command it builds runs that Helm with the depth set.
use ksec_helm::wrapper::{Launch, DEPTH_VAR, MAX_DEPTH};
use ksec_helm::{plugin, Error, Settings};
use std::ffi::OsString;
use std::path::PathBuf;

/// The real Helm binaries; a missing one is skipped on a laptop and fails under CI.
fn helms() -> Vec<PathBuf> {
    let mut out = Vec::new();
    for (major, var) in [(4, "KSEC_HELM4"), (3, "KSEC_HELM3")] {
        match std::env::var_os(var)
            .map(PathBuf::from)
            .filter(|p| p.is_file())
        {
            Some(p) => out.push(p),
            None => {
                let _: Option<()> = ksec_testkit::missing(
                    &format!("helm {major}"),
                    &format!("{var} does not name a helm binary (scripts/peers/helm.sh)"),
                );
            }
        }
    }
    out
}

#[test]
fn launch_finds_the_getter_the_real_helm_loads_and_stops_loops() {
    for helm in helms() {
        let home = tempfile::tempdir().unwrap();
        let plugins = home.path().join("plugins");
        std::fs::create_dir_all(&plugins).unwrap();
        let settings = Settings {
            helm_path: Some(helm.to_string_lossy().into_owned()),
            ..Settings::default()
        };
        let env = |plugins: &PathBuf, depth: Option<&str>| {
            let plugins = plugins.clone().into_os_string();
            let depth = depth.map(OsString::from);
            move |k: &str| match k {
                "HELM_PLUGINS" => Some(plugins.clone()),
                DEPTH_VAR => depth.clone(),
                _ => None,
            }
        };

        // No plugin yet: encrypted files would go as private copies.
        let bare = Launch::prepare_in(&settings, env(&plugins, None)).unwrap();
        assert_eq!(bare.helm.path, helm);
        assert_eq!(bare.helm.depth, 1);
        assert!(!bare.getter, "{}", helm.display());

        // The plugins the library writes: Helm loads both, and Launch sees the getter.
        let exe = std::env::current_exe().unwrap();
        plugin::install(&plugins, &exe, false).unwrap();
        let launch = Launch::prepare_in(&settings, env(&plugins, Some("3"))).unwrap();
        assert!(launch.getter, "{}", helm.display());
        assert_eq!(launch.helm.depth, 4);
        let out = launch
            .helm
            .command()
            .args(["plugin", "list"])
            .env("HELM_PLUGINS", &plugins)
            .env("HELM_CONFIG_HOME", home.path().join("config"))
            .env("HELM_CACHE_HOME", home.path().join("cache"))
            .env("HELM_DATA_HOME", home.path().join("data"))
            .output()
            .unwrap();
        let listed = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{}: {}",
            helm.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        for name in plugin::PLUGIN_NAMES {
            assert!(
                listed
                    .lines()
                    .any(|l| l.split_whitespace().next() == Some(name)),
                "{} does not list {name}:\n{listed}",
                helm.display()
            );
        }

        // ksec finding itself as the real Helm, over and over, stops.
        let max = MAX_DEPTH.to_string();
        let e = Launch::prepare_in(&settings, env(&plugins, Some(&max))).unwrap_err();
        assert!(
            matches!(e, Error::WrapperLoop { depth } if depth == MAX_DEPTH),
            "{e}"
        );
    }
}

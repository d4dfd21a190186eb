//! `ksec helm …`: the helm-secrets drop-in. Helm itself selects the mode through the
//! arguments it passes to the `ksec` link in each plugin folder:
//! - `ksec helm downloader CERT KEY CA URL` — the getter plugin (`secrets://…`);
//! - `ksec helm secrets ARGS` — the `helm secrets` command (helm-secrets' options,
//!   `encrypt`, `decrypt`, `edit`, `dir`, or a Helm command to wrap);
//! - ksec run as `helm` (a link named `helm`, for Argo CD) wraps `install`, `upgrade`,
//!   `template`, `lint` and `diff` when `HELM_SECRETS_WRAPPER_ENABLED=true` and runs
//!   the real Helm unchanged otherwise.
//!
//! Everything else is `ksec-helm`'s; this module parses arguments, prints, and maps
//! errors to exit codes and hints.
use crate::io;
use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use ksec_helm::plugin;
use ksec_helm::scratch::{self, ScratchDir};
use ksec_helm::wrapper::{self, Handoff, Launch, RealHelm};
use ksec_helm::{FileOperand, SecretsOptions, Settings};
use std::ffi::{OsStr, OsString};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Helm values: the helm-secrets-compatible plugins.
#[derive(Subcommand, Debug)]
pub enum HelmCommand {
    /// Install or remove ksec's Helm plugins (`secrets` and `secrets-getter`).
    #[command(subcommand)]
    Plugin(PluginCommand),
    /// What Helm runs for secrets:// URLs (from the secrets-getter plugin).
    #[command(hide = true)]
    Downloader {
        /// The certificate file Helm passes (unused for values files).
        cert_file: String,
        /// The key file Helm passes (unused for values files).
        key_file: String,
        /// The CA file Helm passes (unused for values files).
        ca_file: String,
        /// The URL, e.g. secrets://values/secrets.yaml.
        url: String,
    },
    /// helm-secrets' command line: encrypt, decrypt, edit, dir, or a Helm command to
    /// run with encrypted values files (what `helm secrets …` runs).
    #[command(disable_help_flag = true)]
    Secrets {
        /// helm-secrets' options and command.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<OsString>,
    },
}

/// `ksec helm plugin …`.
#[derive(Subcommand, Debug)]
pub enum PluginCommand {
    /// Install (or refresh) the plugins in Helm's plugin folder (`helm env HELM_PLUGINS`).
    Install {
        #[command(flatten)]
        target: PluginTarget,
        /// Replace a helm-secrets installation that is in the way.
        #[arg(long)]
        force: bool,
    },
    /// Remove the plugins ksec installed (and nothing else).
    Uninstall {
        #[command(flatten)]
        target: PluginTarget,
    },
}

/// Which plugin folder.
#[derive(Args, Debug)]
pub struct PluginTarget {
    /// The helm binary whose plugin folder to use (default: helm on PATH).
    #[arg(long, value_name = "PATH")]
    helm: Option<PathBuf>,
    /// The plugin folder itself (no helm needed; e.g. an Argo CD init container).
    #[arg(long = "plugins-dir", value_name = "DIR", conflicts_with = "helm")]
    plugins_dir: Option<PathBuf>,
}

impl PluginTarget {
    fn dir(&self) -> Result<PathBuf> {
        if let Some(d) = &self.plugins_dir {
            return Ok(d.clone());
        }
        let helm = plugin::find_helm(self.helm.as_deref())
            .map_err(|e| anyhow::anyhow!("{e} (use --helm PATH or --plugins-dir DIR)"))?;
        Ok(plugin::plugins_dir(&helm)?)
    }
}

/// Runs a `ksec helm` command.
pub fn run(cmd: HelmCommand) -> Result<ExitCode> {
    match cmd {
        HelmCommand::Plugin(PluginCommand::Install { target, force }) => install(&target, force),
        HelmCommand::Plugin(PluginCommand::Uninstall { target }) => uninstall(&target),
        HelmCommand::Downloader { url, .. } => Ok(downloader(&url)),
        HelmCommand::Secrets { args } => secrets(&args),
    }
}

fn install(target: &PluginTarget, force: bool) -> Result<ExitCode> {
    let dir = target.dir()?;
    let exe = std::env::current_exe().context("cannot find the ksec binary")?;
    let report = match plugin::install(&dir, &exe, force) {
        Ok(r) => r,
        Err(e @ ksec_helm::Error::PluginConflict { .. }) => {
            bail!("{e}\n(ksec's plugins serve the same URLs and commands; `ksec helm plugin install --force` replaces it, `helm plugin uninstall secrets` removes it)")
        }
        Err(e) => return Err(e.into()),
    };
    for r in &report.replaced {
        eprintln!("removed {r}");
    }
    println!(
        "installed the Helm plugins secrets and secrets-getter in {} ({} to {})",
        dir.display(),
        report.link,
        exe.display()
    );
    Ok(ExitCode::SUCCESS)
}

fn uninstall(target: &PluginTarget) -> Result<ExitCode> {
    let dir = target.dir()?;
    let (removed, kept) = plugin::uninstall(&dir)?;
    for d in &removed {
        println!("removed {}", d.display());
    }
    for d in &kept {
        eprintln!("left {} alone: ksec did not install it", d.display());
    }
    if removed.is_empty() {
        println!("no ksec plugins in {}", dir.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// On SIGINT/SIGTERM/SIGHUP: remove the scratch folders (decrypted copies, imported
/// gpg keyrings), then exit 130.
fn clean_up_on_signal() {
    let _ = ctrlc::set_handler(|| {
        scratch::remove_all();
        std::process::exit(130);
    });
}

/// The downloader: values on standard output, or a message on standard error and a
/// non-zero exit (Helm then renders nothing).
fn downloader(url: &str) -> ExitCode {
    clean_up_on_signal();
    match Settings::from_env().and_then(|s| ksec_helm::download(url, &s)) {
        Ok(out) => {
            for w in &out.warnings {
                eprintln!("[ksec] {w}");
            }
            let mut stdout = std::io::stdout().lock();
            if stdout
                .write_all(&out.data)
                .and_then(|()| stdout.flush())
                .is_err()
            {
                return ExitCode::FAILURE;
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            report(&e);
            ExitCode::FAILURE
        }
    }
}

/// Prints a library error with what to do about it.
fn report(e: &ksec_helm::Error) {
    let hint = match e.sops_error() {
        Some(ksec_sops::Error::NoKey { .. }) => Some(
            "ksec looked in SOPS_AGE_KEY, SOPS_AGE_KEY_FILE, SOPS_AGE_KEY_CMD, the age keys.txt and the gpg keyring; \
             give Helm the key with secrets+age-import://KEYFILE?PATH (or secrets+gpg-import://, or a -kubernetes variant)",
        ),
        Some(ksec_sops::Error::MacMismatch | ksec_sops::Error::MacMissing) => Some(
            "the file was changed without its key, or damaged; restore it from version control",
        ),
        _ => None,
    };
    match hint {
        Some(h) => eprintln!("[ksec] error: {e}\n[ksec] {h}"),
        None => eprintln!("[ksec] error: {e}"),
    }
}

/// ksec run as `helm`.
pub fn run_as_helm() -> Result<ExitCode> {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    let settings = Settings::from_env()?;
    if wrapper::wraps(&args, &settings) {
        return run_wrapped(&args, &[], &settings);
    }
    let helm = RealHelm::find(&settings)?;
    let err = std::os::unix::process::CommandExt::exec(helm.command().args(&args));
    bail!("cannot run {}: {err}", helm.path.display())
}

/// `helm secrets ARGS`, as helm-secrets' `scripts/run.sh` reads them: options, then
/// a command.
fn secrets(args: &[OsString]) -> Result<ExitCode> {
    // Options become the same variables helm-secrets exports, for the settings here
    // and for the getter Helm runs.
    let (options, rest) = SecretsOptions::parse(args)?;
    let settings = options.settings()?;
    let Some(command) = rest.first() else {
        print!("{USAGE}");
        return Ok(ExitCode::FAILURE);
    };
    let operand = rest.get(1..).unwrap_or_default();
    match command.to_str().unwrap_or("") {
        "encrypt" => encrypt(operand, &settings),
        "decrypt" => decrypt(operand, &settings),
        "edit" => edit(operand, &settings),
        "dir" => {
            let dir = std::env::var("HELM_PLUGIN_DIR")
                .context("HELM_PLUGIN_DIR is not set: `helm secrets dir` runs from Helm")?;
            print!("{dir}");
            Ok(ExitCode::SUCCESS)
        }
        "downloader" => match operand.get(3).and_then(|u| u.to_str()) {
            Some(url) => Ok(downloader(url)),
            None => bail!("downloader needs CERT KEY CA URL"),
        },
        "--help" | "-h" | "help" => {
            print!("{USAGE}");
            Ok(ExitCode::SUCCESS)
        }
        "--version" | "-v" => {
            println!("{}", env!("CARGO_PKG_VERSION"));
            Ok(ExitCode::SUCCESS)
        }
        _ => {
            if rest.len() < 2 || rest.get(1).is_some_and(|a| is_help(a)) {
                print!(
                    "{}",
                    WRAPPER_USAGE.replace("COMMAND", &command.to_string_lossy())
                );
                return Ok(ExitCode::SUCCESS);
            }
            run_wrapped(rest, &options.env, &settings)
        }
    }
}

fn is_help(a: &OsStr) -> bool {
    matches!(a.to_str(), Some("-h" | "--help" | "help"))
}

fn decrypt(operand: &[OsString], settings: &Settings) -> Result<ExitCode> {
    if operand.first().is_some_and(|a| is_help(a)) {
        print!("helm secrets [ OPTIONS ] decrypt [ -i ] [ --terraform ] <path to file>\n\nDecrypts a SOPS file to standard output, or in place with -i.\n");
        return Ok(ExitCode::SUCCESS);
    }
    let FileOperand {
        file,
        in_place,
        terraform,
    } = FileOperand::parse(operand, "decrypt")?;
    let name = file.to_string_lossy();
    let plain = match ksec_helm::decrypt_file(&name, settings) {
        Ok(p) => p,
        Err(e) => {
            report(&e);
            return Ok(ExitCode::FAILURE);
        }
    };
    if terraform {
        print!("{}", ksec_helm::terraform_json(&plain).as_str());
    } else if in_place {
        io::write_atomic(Path::new(file), &plain, 0o600)?;
    } else {
        io::emit(None, &plain, 0o600)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn encrypt(operand: &[OsString], settings: &Settings) -> Result<ExitCode> {
    if operand.first().is_some_and(|a| is_help(a)) {
        print!("helm secrets [ OPTIONS ] encrypt [ -i ] <path to file>\n\nEncrypts a YAML file with the recipients of SOPS_AGE_RECIPIENTS/SOPS_PGP_FP or .sops.yaml,\nto standard output, or in place with -i.\n");
        return Ok(ExitCode::SUCCESS);
    }
    let FileOperand { file, in_place, .. } = FileOperand::parse(operand, "encrypt")?;
    let out = match ksec_helm::encrypt_file(Path::new(file), settings) {
        Ok(o) => o,
        Err(e) => {
            report(&e);
            return Ok(ExitCode::FAILURE);
        }
    };
    if in_place {
        io::write_atomic(Path::new(file), &out, 0o600)?;
    } else {
        io::emit(None, &out, 0o600)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// sops's command line, to run `sops edit` as helm-secrets does.
#[derive(Parser, Debug)]
#[command(name = "sops")]
struct SopsFront {
    #[command(flatten)]
    args: super::sops::SopsArgs,
}

fn edit(operand: &[OsString], settings: &Settings) -> Result<ExitCode> {
    let Some(file) = operand.first() else {
        bail!("helm secrets edit needs a file");
    };
    if is_help(file) {
        print!("helm secrets [ OPTIONS ] edit <path to file>\n\nDecrypts the file into a private buffer, opens $EDITOR, and encrypts it again.\n");
        return Ok(ExitCode::SUCCESS);
    }
    let path = Path::new(file);
    let backend = settings.backend(None)?;
    if *backend == ksec_helm::Backend::Noop {
        let editor = std::env::var("EDITOR").unwrap_or_else(|_| "vi".into());
        let st = ksec_sops::buffer::editor_command(&editor, path).status()?;
        return Ok(ExitCode::from(st.code().unwrap_or(1) as u8));
    }
    // As helm-secrets: sops runs in the file's folder (its .sops.yaml applies).
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
    if let Some(d) = dir {
        std::env::set_current_dir(d)
            .with_context(|| format!("folder {} does not exist", d.display()))?;
    }
    let name = path.file_name().context("edit needs a file name")?;
    let front = SopsFront::try_parse_from([
        OsStr::new("sops"),
        OsStr::new("edit"),
        OsStr::new("--input-type"),
        OsStr::new("yaml"),
        OsStr::new("--output-type"),
        OsStr::new("yaml"),
        name,
    ])?;
    super::sops::run(front.args)
}

/// Runs the real Helm with encrypted values files handed over: as `secrets://` URLs
/// when Helm has a getter plugin (then Helm replaces this process), else as copies in
/// a private scratch folder that goes when Helm is done or a signal arrives.
fn run_wrapped(
    args: &[OsString],
    env: &[(&'static str, String)],
    settings: &Settings,
) -> Result<ExitCode> {
    let launch = Launch::prepare(settings)?;
    let note = |decrypted: &[String]| {
        if !settings.quiet {
            for f in decrypted {
                eprintln!("[ksec] decrypting {f} on the fly");
            }
        }
    };
    let helm = &launch.helm.path;
    let mut cmd = launch.helm.command();
    cmd.envs(env.iter().map(|(k, v)| (*k, v.as_str())));
    if launch.getter {
        let rewritten = match wrapper::rewrite_args(args, settings, Handoff::Urls) {
            Ok(r) => r,
            Err(e) => {
                report(&e);
                return Ok(ExitCode::FAILURE);
            }
        };
        note(&rewritten.decrypted);
        let err = std::os::unix::process::CommandExt::exec(cmd.args(&rewritten.args));
        bail!("cannot run {}: {err}", helm.display());
    }
    clean_up_on_signal();
    let scratch = ScratchDir::new()?;
    let rewritten = match wrapper::rewrite_args(args, settings, Handoff::PrivateFiles(&scratch)) {
        Ok(r) => r,
        Err(e) => {
            report(&e);
            return Ok(ExitCode::FAILURE);
        }
    };
    note(&rewritten.decrypted);
    if !settings.quiet && !rewritten.decrypted.is_empty() {
        eprintln!("[ksec] no secrets-getter plugin for this helm (`ksec helm plugin install`): decrypted copies sit in a private folder until helm exits");
    }
    let status = cmd
        .args(&rewritten.args)
        .status()
        .with_context(|| format!("cannot run {}", helm.display()))?;
    drop(scratch);
    // Ctrl-C reaches Helm and ksec together; when Helm's end is seen before the
    // handler's exit(130), the answer is still the handler's.
    const SIGINT: i32 = 2; // the same number on every Unix
    if std::os::unix::process::ExitStatusExt::signal(&status) == Some(SIGINT) {
        return Ok(ExitCode::from(130));
    }
    Ok(ExitCode::from(status.code().map_or(1, |c| c as u8)))
}

const USAGE: &str = "\
ksec's helm-secrets: SOPS-encrypted values for Helm.

Usage:
  helm secrets [ OPTIONS ] <command> [ ARGS ]

Commands:
  encrypt [-i] FILE     encrypt a YAML file (recipients from SOPS_AGE_RECIPIENTS,
                        SOPS_PGP_FP or .sops.yaml)
  decrypt [-i] FILE     decrypt a file to standard output (or in place)
  edit FILE             edit an encrypted file in $EDITOR
  dir                   print the plugin folder
  <helm command> ARGS   run helm with encrypted -f/--values/--set-file files
                        decrypted on the fly (no plaintext file is written)

Options:
  -b, --backend sops|noop           (HELM_SECRETS_BACKEND)
  -q, --quiet                       (HELM_SECRETS_QUIET)
  --ignore-missing-values [true|false]  (HELM_SECRETS_IGNORE_MISSING_VALUES)
  -h, --help, -v, --version

Values URLs (helm template -f URL): secrets://PATH, secrets+age-import://KEY?PATH,
secrets+gpg-import://KEY?PATH, secrets+age-import-kubernetes://[NS/]NAME#KEY?PATH,
secrets+gpg-import-kubernetes://[NS/]NAME#KEY?PATH, secrets+literal://TEXT, ksec://PATH;
'?' before PATH: a missing file is empty values. PATH may be an http(s) URL; with
HELM_SECRETS_URL_VARIABLE_EXPANSION=true its ${NAME} references are expanded.
";

const WRAPPER_USAGE: &str = "\
helm secrets [ OPTIONS ] COMMAND ARGS

Runs `helm COMMAND ARGS` with every SOPS-encrypted -f/--values and --set-file file
handed to Helm decrypted (as a secrets:// URL: no plaintext file is written).

Example:
  helm secrets upgrade app ./chart -f values.yaml -f secrets.yaml
";

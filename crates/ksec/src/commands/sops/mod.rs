//! `ksec sops …` and the drop-in `sops`: sops's commands, flags and exit codes over
//! the `ksec-sops` library. This module parses flags into `ksec-sops` options,
//! calls the library, adds the hints that name flags, and maps errors to sops's
//! exit codes.
mod batch;
mod edit;
mod git;
mod rekey;

use crate::io;
use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use edit::{edit, exec_env, exec_file};
use ksec_sops::{
    Config, Decryptor, EmitOptions, EncryptionOverrides, Encryptor, Error, Format, Keyring,
    LockedFile, MacCheck, TreePath, Value,
};
use rekey::{rotate, updatekeys};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// sops's exit codes.
pub(super) mod exit {
    pub const ERROR: u8 = 1;
    pub const COULD_NOT_READ: u8 = 2;
    pub const INVALID_ENCRYPTION_CONTEXT: u8 = 6;
    pub const MAC_MISMATCH: u8 = 51;
    pub const METADATA_NOT_FOUND: u8 = 100;
    pub const NO_KEY: u8 = 128;
    pub const FILE_UNCHANGED: u8 = 200;
    pub const ALREADY_ENCRYPTED: u8 = 203;
}

/// sops-compatible encrypted files.
#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct SopsArgs {
    #[command(subcommand)]
    cmd: Option<SopsCommand>,
    /// Legacy form: encrypt FILE.
    #[arg(short = 'e', long = "encrypt")]
    encrypt: bool,
    /// Legacy form: decrypt FILE.
    #[arg(short = 'd', long = "decrypt")]
    decrypt: bool,
    #[command(flatten)]
    common: Common,
    /// The file (legacy form; without -e/-d it is opened in the editor).
    file: Option<PathBuf>,
}

/// Flags shared by the commands.
#[derive(Args, Debug, Clone, Default)]
pub struct Common {
    /// Write the result back to the file.
    #[arg(short = 'i', long = "in-place")]
    in_place: bool,
    /// Write the result to this file.
    #[arg(long)]
    output: Option<PathBuf>,
    /// Comma-separated age recipients: age1… (X25519), ssh-ed25519/ssh-rsa keys, or
    /// age plugin recipients age1NAME1… (served by age-plugin-NAME on PATH).
    #[arg(short = 'a', long, env = "SOPS_AGE_RECIPIENTS")]
    age: Option<String>,
    /// Comma-separated PGP fingerprints.
    #[arg(short = 'p', long, env = "SOPS_PGP_FP")]
    pgp: Option<String>,
    /// Comma-separated AWS KMS key ARNs; ARN+ROLE_ARN assumes that role.
    #[arg(short = 'k', long, env = "SOPS_KMS_ARN")]
    kms: Option<String>,
    /// The AWS profile of the KMS keys given here.
    #[arg(long = "aws-profile")]
    aws_profile: Option<String>,
    /// The encryption context of the KMS keys: key:value,key2:value2.
    #[arg(long = "encryption-context")]
    encryption_context: Option<String>,
    /// Comma-separated Vault/OpenBao Transit keys:
    /// https://vault.example.org:8200/v1/transit/keys/NAME.
    #[arg(long = "hc-vault-transit", env = "SOPS_VAULT_URIS")]
    hc_vault_transit: Option<String>,
    /// yaml, json, dotenv, ini or binary (default: from the file name).
    #[arg(long = "input-type")]
    input_type: Option<String>,
    /// yaml, json, dotenv, ini or binary (default: the input type).
    #[arg(long = "output-type")]
    output_type: Option<String>,
    /// Use this name to pick the format and the .sops.yaml rule.
    #[arg(long = "filename-override")]
    filename_override: Option<PathBuf>,
    /// Decrypt even if the MAC does not match.
    #[arg(long = "ignore-mac")]
    ignore_mac: bool,
    /// Print only this part, e.g. '["a"][0]'.
    #[arg(long)]
    extract: Option<String>,
    /// The .sops.yaml to use.
    #[arg(long, env = "SOPS_CONFIG")]
    config: Option<PathBuf>,
    /// Indentation of YAML/JSON output.
    #[arg(long)]
    indent: Option<usize>,
    /// Comma-separated key types in the order to try them (default age,pgp).
    #[arg(long = "decryption-order", env = "SOPS_DECRYPTION_ORDER")]
    decryption_order: Option<String>,
    #[arg(long = "unencrypted-suffix")]
    /// Keys with this suffix stay in plaintext.
    unencrypted_suffix: Option<String>,
    /// Only keys with this suffix are encrypted.
    #[arg(long = "encrypted-suffix")]
    encrypted_suffix: Option<String>,
    /// Keys matching this stay in plaintext.
    #[arg(long = "unencrypted-regex")]
    unencrypted_regex: Option<String>,
    /// Only keys matching this are encrypted.
    #[arg(long = "encrypted-regex")]
    encrypted_regex: Option<String>,
    /// Values after a matching comment stay in plaintext.
    #[arg(long = "unencrypted-comment-regex")]
    unencrypted_comment_regex: Option<String>,
    /// Only values after a matching comment are encrypted.
    #[arg(long = "encrypted-comment-regex")]
    encrypted_comment_regex: Option<String>,
    /// The MAC covers only encrypted values.
    #[arg(long = "mac-only-encrypted")]
    mac_only_encrypted: bool,
    /// Shares needed with several key groups.
    #[arg(long = "shamir-secret-sharing-threshold")]
    shamir: Option<u64>,
}

/// sops's commands.
#[derive(Subcommand, Debug)]
pub enum SopsCommand {
    /// Encrypt a file (stdout unless -i/--output).
    Encrypt {
        #[command(flatten)]
        common: Common,
        /// The file ('-' or none: stdin).
        file: Option<PathBuf>,
    },
    /// Decrypt a file (stdout unless -i/--output), or every SOPS file of a
    /// directory (with --output-dir DIR or -i).
    Decrypt {
        #[command(flatten)]
        common: Common,
        /// With a directory: write the decrypted files (0600) under DIR, in the
        /// same layout.
        #[arg(long = "output-dir")]
        output_dir: Option<PathBuf>,
        /// The file or directory ('-' or none: stdin).
        file: Option<PathBuf>,
    },
    /// Open the decrypted file in $SOPS_EDITOR/$EDITOR and re-encrypt it if changed.
    Edit {
        #[command(flatten)]
        common: Common,
        /// The file.
        file: PathBuf,
    },
    /// Set the value at a path: `set FILE '["a"]["b"]' '"json value"'`.
    Set {
        #[command(flatten)]
        common: Common,
        /// The file.
        file: PathBuf,
        /// The path, e.g. '["a"][0]'.
        index: String,
        /// The value as JSON.
        value: String,
    },
    /// Remove the value at a path.
    Unset {
        #[command(flatten)]
        common: Common,
        /// The file.
        file: PathBuf,
        /// The path, e.g. '["a"][0]'.
        index: String,
    },
    /// Run a command with the file's top-level values as environment variables.
    #[command(name = "exec-env")]
    ExecEnv {
        #[command(flatten)]
        common: Common,
        /// The file.
        file: PathBuf,
        /// The command (run by `sh -c`).
        command: String,
        /// Do not inherit this process's environment.
        #[arg(long)]
        pristine: bool,
    },
    /// Run a command with the decrypted file at a private temporary path (`{}` in
    /// the command is replaced by it); the file is removed afterwards.
    #[command(name = "exec-file")]
    ExecFile {
        #[command(flatten)]
        common: Common,
        /// The file.
        file: PathBuf,
        /// The command (run by `sh -c`).
        command: String,
        /// Accepted for compatibility: ksec always uses a private temporary file.
        #[arg(long = "no-fifo")]
        no_fifo: bool,
        /// Name of the temporary file.
        #[arg(long)]
        filename: Option<String>,
    },
    /// Encrypt the file again under a new data key (same recipients unless changed).
    Rotate {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        changes: rekey::RotateFlags,
        /// The file, or a directory (with -i).
        file: PathBuf,
    },
    /// Re-wrap the data key for the recipients the .sops.yaml creation rule names
    /// now; when a recipient is dropped, a new data key re-encrypts every value.
    Updatekeys {
        #[command(flatten)]
        common: Common,
        /// Do not ask for confirmation.
        #[arg(short = 'y', long)]
        yes: bool,
        /// The files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Configure this git repository to diff and merge SOPS files by their
    /// decrypted content (files chosen from .sops.yaml's path_regex, or --pattern).
    #[command(name = "git-setup")]
    GitSetup {
        #[command(flatten)]
        common: Common,
        /// A .gitattributes glob of the encrypted files (repeatable); default:
        /// derived from the .sops.yaml creation rules.
        #[arg(long = "pattern")]
        patterns: Vec<String>,
    },
    /// git's diff driver (textconv): prints the plaintext when a key opens
    /// FILE, else FILE unchanged.
    #[command(name = "git-textconv")]
    GitTextconv {
        /// The file git gives.
        file: PathBuf,
    },
    /// git's merge driver: merges BASE, OURS and THEIRS (%O %A %B) of PATH
    /// (%P) by their decrypted content into OURS; exits 1 on a conflict.
    #[command(name = "git-merge")]
    GitMerge {
        /// The common ancestor (%O).
        base: PathBuf,
        /// Our version, replaced by the result (%A).
        ours: PathBuf,
        /// Their version (%B).
        theirs: PathBuf,
        /// The file's path in the repository (%P), for its format.
        path: PathBuf,
    },
    /// Add or delete key groups.
    Groups {
        #[command(subcommand)]
        cmd: rekey::GroupsCommand,
    },
    /// Print whether a file is encrypted: {"encrypted": true|false} (for a
    /// directory, one line per file with its name).
    Filestatus {
        #[command(flatten)]
        common: Common,
        /// The file or directory.
        file: PathBuf,
    },
}

/// Runs a sops command; errors become sops's exit codes.
pub fn run(args: SopsArgs) -> Result<ExitCode> {
    let r = match args.cmd {
        Some(SopsCommand::Encrypt { common, file }) => encrypt(&common, file.as_deref()),
        Some(SopsCommand::Decrypt {
            common,
            output_dir,
            file,
        }) => match file.as_deref() {
            Some(dir) if dir.is_dir() => batch::decrypt_dir(&common, dir, output_dir.as_deref()),
            f => decrypt(&common, f),
        },
        Some(SopsCommand::Edit { common, file }) => edit(&common, &file),
        Some(SopsCommand::Set {
            common,
            file,
            index,
            value,
        }) => set(&common, &file, &index, Some(&value)),
        Some(SopsCommand::Unset {
            common,
            file,
            index,
        }) => set(&common, &file, &index, None),
        Some(SopsCommand::Filestatus { common, file }) if file.is_dir() => {
            batch::filestatus_dir(&common, &file)
        }
        Some(SopsCommand::Filestatus { common, file }) => filestatus(&common, &file),
        Some(SopsCommand::Rotate {
            common,
            changes,
            file,
        }) if file.is_dir() => batch::rotate_dir(&common, &file, &changes),
        Some(SopsCommand::Rotate {
            common,
            changes,
            file,
        }) => rotate(&common, &file, &changes),
        Some(SopsCommand::Updatekeys { common, yes, files }) => updatekeys(&common, &files, yes),
        Some(SopsCommand::Groups { cmd }) => rekey::groups(cmd),
        Some(SopsCommand::GitSetup { common, patterns }) => git::setup(&common, &patterns),
        Some(SopsCommand::GitTextconv { file }) => git::textconv(&file),
        Some(SopsCommand::GitMerge {
            base,
            ours,
            theirs,
            path,
        }) => git::merge_driver(&base, &ours, &theirs, &path),
        Some(SopsCommand::ExecEnv {
            common,
            file,
            command,
            pristine,
        }) => exec_env(&common, &file, &command, pristine),
        Some(SopsCommand::ExecFile {
            common,
            file,
            command,
            filename,
            ..
        }) => exec_file(&common, &file, &command, filename.as_deref()),
        None => {
            let f = args.file.as_deref();
            if args.encrypt {
                encrypt(&args.common, f)
            } else if args.decrypt {
                decrypt(&args.common, f)
            } else if let Some(f) = f {
                edit(&args.common, f)
            } else {
                bail!("no file given: try `sops encrypt FILE`, `sops decrypt FILE` or `sops FILE` to edit")
            }
        }
    };
    match r {
        Ok(c) => Ok(c),
        Err(e) => {
            let sops_error = e.downcast_ref::<Error>();
            match sops_error.and_then(hint) {
                Some(h) => eprintln!("error: {e:#} ({h})"),
                None => eprintln!("error: {e:#}"),
            }
            Ok(ExitCode::from(sops_error.map_or(exit::ERROR, exit_code)))
        }
    }
}

/// sops's exit code for a library error.
fn exit_code(e: &Error) -> u8 {
    match e {
        Error::MacMismatch | Error::MacMissing => exit::MAC_MISMATCH,
        Error::NoKey { .. } => exit::NO_KEY,
        Error::AlreadyEncrypted => exit::ALREADY_ENCRYPTED,
        Error::MetadataNotFound => exit::METADATA_NOT_FOUND,
        Error::Parse { .. } => exit::COULD_NOT_READ,
        Error::InvalidRecipient { kind, .. } if kind == "kms" => exit::INVALID_ENCRYPTION_CONTEXT,
        _ => exit::ERROR,
    }
}

/// What to do about a library error, in terms of this command's flags.
fn hint(e: &Error) -> Option<String> {
    Some(match e {
        Error::MacMismatch | Error::MacMissing => "use --ignore-mac to read it anyway".into(),
        Error::AlreadyEncrypted => "use edit, or rename that entry if it is plain data".into(),
        Error::NoRecipients => {
            "pass --age/--pgp/--kms/--hc-vault-transit, set SOPS_AGE_RECIPIENTS, or add a creation rule to .sops.yaml".into()
        }
        Error::NoCreationRule { .. } => "and no --age/--pgp/--kms/--hc-vault-transit was given".into(),
        Error::InvalidRecipient { kind, .. } if kind == "kms" => {
            "--encryption-context takes key:value pairs separated by commas".into()
        }
        Error::NoKey { tried } if tried.iter().any(|t| t.reason.contains("SOPS_HC_VAULT_ALLOWLIST")) => {
            "add the Vault address to SOPS_HC_VAULT_ALLOWLIST if you trust it".into()
        }
        Error::Emit {
            format: Format::Binary,
            ..
        } => "use --output-type json or yaml".into(),
        Error::ThresholdTooHigh { .. } => "pass --shamir-secret-sharing-threshold".into(),
        Error::InvalidRegex { field, .. } if RULE_FLAGS.contains(&field.as_str()) => {
            format!("in --{}", field.replace('_', "-"))
        }
        _ => return None,
    })
}

/// The encryption rules that are also flags (`encrypted_regex` is `--encrypted-regex`).
const RULE_FLAGS: [&str; 4] = [
    "unencrypted_regex",
    "encrypted_regex",
    "unencrypted_comment_regex",
    "encrypted_comment_regex",
];

/// The name that picks the format and the `.sops.yaml` rule: --filename-override,
/// else the file.
fn name_of<'a>(c: &'a Common, file: Option<&'a Path>) -> Option<&'a Path> {
    c.filename_override.as_deref().or(file)
}

/// A file's name for messages.
pub(super) fn shown(file: Option<&Path>) -> String {
    match file {
        Some(p) if p != Path::new("-") => p.display().to_string(),
        _ => "stdin".into(),
    }
}

pub(super) fn formats(c: &Common, file: Option<&Path>) -> Result<(Format, Format)> {
    let name = name_of(c, file).unwrap_or(Path::new("-"));
    let parse = |s: &Option<String>, what: &str| -> Result<Option<Format>> {
        s.as_deref()
            .map(|t| {
                Format::parse(t).with_context(|| {
                    format!("--{what} must be yaml, json, dotenv, ini or binary, not {t:?}")
                })
            })
            .transpose()
    };
    let input = parse(&c.input_type, "input-type")?.unwrap_or_else(|| Format::from_path(name));
    let output = parse(&c.output_type, "output-type")?.unwrap_or(input);
    Ok((input, output))
}

fn read_input(file: Option<&Path>) -> Result<Vec<u8>> {
    match file {
        Some(p) if p != Path::new("-") => io::read_file(p),
        _ => {
            let mut buf = Vec::new();
            std::io::Read::read_to_end(&mut std::io::stdin(), &mut buf)?;
            Ok(buf)
        }
    }
}

/// The local keys and the network ones (AWS KMS, Vault Transit), as sops
/// reads the environment.
pub(super) fn keyring(c: &Common) -> Keyring {
    let mut k = ksec_sops::network::keyring_from_env();
    if let Some(o) = &c.decryption_order {
        k.set_decryption_order(ksec_text::split_list(o));
    }
    k
}

pub(super) fn mac_check(c: &Common) -> MacCheck {
    if c.ignore_mac {
        MacCheck::Ignore
    } else {
        MacCheck::Verify
    }
}

/// The emit options of commands that write back a file they read.
pub(super) fn emit_options(c: &Common) -> EmitOptions {
    EmitOptions { indent: c.indent }
}

/// The `.sops.yaml` sops would use: --config, else SOPS_CONFIG, else found
/// upward from the current directory.
pub(super) fn load_config(c: &Common) -> Result<Option<Config>> {
    load_config_from(c, &std::env::current_dir().unwrap_or_default())
}

/// The same, found upward from `dir`.
pub(super) fn load_config_from(c: &Common, dir: &Path) -> Result<Option<Config>> {
    Ok(Config::find(c.config.as_deref(), dir)?)
}

pub(super) fn write_out(c: &Common, file: Option<&Path>, bytes: &[u8]) -> Result<()> {
    if c.in_place {
        let f = file
            .filter(|f| *f != Path::new("-"))
            .context("--in-place needs a file")?;
        io::write_atomic(f, bytes, 0o600)
    } else {
        io::emit(c.output.as_deref(), bytes, 0o600)
    }
}

/// A comma-list flag's items.
pub(super) fn list(v: &Option<String>) -> Vec<String> {
    v.iter()
        .flat_map(|s| ksec_text::split_list(s))
        .map(str::to_string)
        .collect()
}

/// `--encryption-context`, parsed.
pub(super) fn encryption_context(c: &Common) -> Result<Vec<(String, String)>, Error> {
    ksec_sops::parse_encryption_context(c.encryption_context.as_deref().unwrap_or_default())
}

/// The encryption flags, as the library's options.
fn overrides(c: &Common) -> Result<EncryptionOverrides, Error> {
    Ok(EncryptionOverrides {
        age: list(&c.age),
        pgp: list(&c.pgp),
        kms: list(&c.kms),
        encryption_context: encryption_context(c)?,
        aws_profile: c.aws_profile.clone(),
        hc_vault_transit: list(&c.hc_vault_transit),
        unencrypted_suffix: c.unencrypted_suffix.clone(),
        encrypted_suffix: c.encrypted_suffix.clone(),
        unencrypted_regex: c.unencrypted_regex.clone(),
        encrypted_regex: c.encrypted_regex.clone(),
        unencrypted_comment_regex: c.unencrypted_comment_regex.clone(),
        encrypted_comment_regex: c.encrypted_comment_regex.clone(),
        mac_only_encrypted: c.mac_only_encrypted,
        shamir_threshold: c.shamir,
        indent: c.indent,
    })
}

/// Recipients and rules for a new file: the flags, else the first matching
/// creation rule of .sops.yaml.
pub(super) fn encryptor(c: &Common, file: Option<&Path>, output: Format) -> Result<Encryptor> {
    let config = load_config(c)?;
    let name = name_of(c, file).unwrap_or(Path::new("stdin"));
    Ok(Encryptor::resolve(
        &overrides(c)?,
        config.as_ref(),
        name,
        output,
    )?)
}

fn encrypt(c: &Common, file: Option<&Path>) -> Result<ExitCode> {
    let (inf, outf) = formats(c, file)?;
    let input = read_input(file)?;
    let encryptor = encryptor(c, file, outf)?.output_format(outf);
    let out = encryptor
        .encrypt(&input, inf, &keyring(c))
        .with_context(|| shown(file))?;
    write_out(c, file, &out)?;
    Ok(ExitCode::SUCCESS)
}

fn decrypt(c: &Common, file: Option<&Path>) -> Result<ExitCode> {
    let (inf, outf) = formats(c, file)?;
    let input = read_input(file)?;
    let config = load_config(c).ok().flatten();
    let keys = keyring(c);
    let open = Decryptor::new(&keys)
        .mac(mac_check(c))
        .open(&input, inf)
        .with_context(|| shown(file))?;
    let emit = EmitOptions::resolve(c.indent, config.as_ref(), outf);
    let out = match &c.extract {
        Some(x) => open.document().get(&TreePath::parse(x)?)?.emit(outf, &emit),
        None => open.to_plaintext(outf, &emit)?,
    };
    write_out(c, file, &out)?;
    Ok(ExitCode::SUCCESS)
}

fn filestatus(c: &Common, file: &Path) -> Result<ExitCode> {
    let (inf, _) = formats(c, Some(file))?;
    let input = io::read_file(file)?;
    let encrypted = ksec_sops::is_encrypted(&input, inf);
    println!("{{\"encrypted\":{encrypted}}}");
    Ok(ExitCode::SUCCESS)
}

fn set(c: &Common, file: &Path, index: &str, value: Option<&str>) -> Result<ExitCode> {
    let (inf, _) = formats(c, Some(file))?;
    let input = io::read_file(file)?;
    let keys = keyring(c);
    let mut open = LockedFile::parse(&input, inf)
        .and_then(|l| l.open(&keys, mac_check(c)))
        .with_context(|| shown(Some(file)))?;
    let path = TreePath::parse(index)?;
    if path.is_empty() {
        bail!("empty path");
    }
    let doc = open.document_mut();
    match value {
        Some(v) => {
            let v = Value::from_json(v.as_bytes())
                .context("the value must be JSON, e.g. '\"text\"' or 42")?;
            doc.set(&path, v)?
        }
        None => doc.unset(&path)?,
    }
    let out = open.seal(&emit_options(c))?;
    io::write_atomic(file, &out, 0o600)?;
    Ok(ExitCode::SUCCESS)
}

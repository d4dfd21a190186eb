//! `ksec sops …` and the drop-in `sops`: sops's commands, flags and exit codes over
//! the `ksec-sops` library.
mod edit;
mod path;
mod rekey;

use crate::io;
use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use edit::{edit, exec_env, exec_file};
use ksec_sops::config::Config;
use ksec_sops::file::{self, EncryptOptions};
use ksec_sops::keys::{Keyring, Recipient};
use ksec_sops::rules::Rules;
use ksec_sops::stores::{self, EmitOptions};
use ksec_sops::{Error, Format};
use path::{extract, parse_path, set_in};
use rekey::{rotate, updatekeys};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// sops's exit codes.
pub(super) mod exit {
    pub const ERROR: u8 = 1;
    pub const COULD_NOT_READ: u8 = 2;
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
    /// Decrypt a file (stdout unless -i/--output).
    Decrypt {
        #[command(flatten)]
        common: Common,
        /// The file ('-' or none: stdin).
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
        /// Add these age recipients (comma-separated).
        #[arg(long = "add-age")]
        add_age: Option<String>,
        /// Remove these age recipients (comma-separated).
        #[arg(long = "rm-age")]
        rm_age: Option<String>,
        /// Add these PGP fingerprints (comma-separated).
        #[arg(long = "add-pgp")]
        add_pgp: Option<String>,
        /// Remove these PGP fingerprints (comma-separated).
        #[arg(long = "rm-pgp")]
        rm_pgp: Option<String>,
        /// The file.
        file: PathBuf,
    },
    /// Re-wrap the data key for the recipients the .sops.yaml creation rule names now.
    Updatekeys {
        #[command(flatten)]
        common: Common,
        /// Do not ask for confirmation.
        #[arg(short = 'y', long)]
        yes: bool,
        /// The file.
        file: PathBuf,
    },
    /// Print whether a file is encrypted: {"encrypted": true|false}.
    Filestatus {
        #[command(flatten)]
        common: Common,
        /// The file.
        file: PathBuf,
    },
}

/// Runs a sops command; errors become sops's exit codes.
pub fn run(args: SopsArgs) -> Result<ExitCode> {
    let r = match args.cmd {
        Some(SopsCommand::Encrypt { common, file }) => encrypt(&common, file.as_deref()),
        Some(SopsCommand::Decrypt { common, file }) => decrypt(&common, file.as_deref()),
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
        Some(SopsCommand::Filestatus { common, file }) => filestatus(&common, &file),
        Some(SopsCommand::Rotate {
            common,
            add_age,
            rm_age,
            add_pgp,
            rm_pgp,
            file,
        }) => rotate(&common, &file, [add_age, rm_age, add_pgp, rm_pgp]),
        Some(SopsCommand::Updatekeys { common, yes, file }) => updatekeys(&common, &file, yes),
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
            let code = match e.downcast_ref::<Error>() {
                Some(Error::MacMismatch | Error::MacMissing) => exit::MAC_MISMATCH,
                Some(Error::NoKey { .. }) => exit::NO_KEY,
                Some(Error::AlreadyEncrypted) => exit::ALREADY_ENCRYPTED,
                Some(Error::MetadataNotFound) => exit::METADATA_NOT_FOUND,
                Some(Error::Parse { .. }) => exit::COULD_NOT_READ,
                _ => exit::ERROR,
            };
            eprintln!("error: {e:#}");
            Ok(ExitCode::from(code))
        }
    }
}

pub(super) fn formats(c: &Common, file: Option<&Path>) -> Result<(Format, Format)> {
    let name = c
        .filename_override
        .as_deref()
        .or(file)
        .unwrap_or(Path::new("-"));
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

pub(super) fn keyring(c: &Common) -> Keyring {
    let mut k = Keyring::from_env();
    if let Some(o) = &c.decryption_order {
        k.decryption_order = o.split(',').map(|s| s.trim().to_string()).collect();
    }
    k
}

fn emit_opts(c: &Common, cfg: Option<&Config>, out: Format) -> EmitOptions {
    let from_cfg = cfg.and_then(|c| match out {
        Format::Yaml => c.yaml_indent,
        Format::Json | Format::Binary => c.json_indent,
        _ => None,
    });
    EmitOptions {
        indent: c.indent.or(from_cfg),
    }
}

pub(super) fn load_config(c: &Common, file: Option<&Path>) -> Result<Option<Config>> {
    let start = file
        .and_then(|f| std::path::absolute(f).ok())
        .and_then(|f| f.parent().map(Path::to_path_buf))
        .or_else(|| std::env::current_dir().ok())
        .unwrap_or_default();
    let cwd = std::env::current_dir().unwrap_or(start);
    match ksec_sops::config::find(c.config.as_deref(), &cwd) {
        Some(p) => Ok(Some(Config::load(&p)?)),
        None => Ok(None),
    }
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

fn encrypt(c: &Common, file: Option<&Path>) -> Result<ExitCode> {
    let (inf, outf) = formats(c, file)?;
    let input = read_input(file)?;
    let opts = encrypt_options(c, file, outf)?;
    let out = file::encrypt(inf, outf, &input, &opts, &keyring(c))?;
    write_out(c, file, &out)?;
    Ok(ExitCode::SUCCESS)
}

/// Recipients and rules for a new file: --age/--pgp and the rule flags, else the
/// first matching creation rule of .sops.yaml.
pub(super) fn encrypt_options(
    c: &Common,
    file: Option<&Path>,
    outf: Format,
) -> Result<EncryptOptions> {
    let cfg = load_config(c, file)?;
    let name = c
        .filename_override
        .as_deref()
        .or(file)
        .unwrap_or(Path::new("stdin"));
    let mut opts = EncryptOptions::default();
    let split = |v: &Option<String>| -> Vec<String> {
        v.iter()
            .flat_map(|s| s.split(','))
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    };
    let mut groups: Vec<Recipient> = split(&c.age).iter().map(|a| Recipient::age(a)).collect();
    groups.extend(split(&c.pgp).iter().map(|p| Recipient::pgp(p)));
    let cli_rules = rules_from_flags(c)?;
    if groups.is_empty() {
        if let Some(rule) = cfg.as_ref().and_then(|cf| cf.rule_for(name)) {
            opts.groups = rule.groups.clone();
            opts.shamir_threshold = rule.shamir_threshold;
            opts.rules = rule.rules.clone();
        } else if let Some(cf) = &cfg {
            bail!(
                "no creation rule in {} matches {}, and no --age/--pgp was given",
                cf.path.display(),
                name.display()
            );
        }
    } else {
        opts.groups = vec![groups];
    }
    if cli_rules.count() > 0 || c.mac_only_encrypted {
        let mac_only = opts.rules.mac_only_encrypted || cli_rules.mac_only_encrypted;
        if cli_rules.count() > 0 {
            opts.rules = cli_rules;
        }
        opts.rules.mac_only_encrypted = mac_only;
    }
    if c.shamir.is_some() {
        opts.shamir_threshold = c.shamir;
    }
    opts.emit = emit_opts(c, cfg.as_ref(), outf);
    Ok(opts)
}

fn rules_from_flags(c: &Common) -> Result<Rules> {
    let re = |f: &str, v: &Option<String>| v.as_deref().map(|s| Rules::regex(f, s)).transpose();
    Ok(Rules {
        unencrypted_suffix: c.unencrypted_suffix.clone(),
        encrypted_suffix: c.encrypted_suffix.clone(),
        unencrypted_regex: re("--unencrypted-regex", &c.unencrypted_regex)?,
        encrypted_regex: re("--encrypted-regex", &c.encrypted_regex)?,
        unencrypted_comment_regex: re("--unencrypted-comment-regex", &c.unencrypted_comment_regex)?,
        encrypted_comment_regex: re("--encrypted-comment-regex", &c.encrypted_comment_regex)?,
        mac_only_encrypted: c.mac_only_encrypted,
    })
}

fn decrypt(c: &Common, file: Option<&Path>) -> Result<ExitCode> {
    let (inf, outf) = formats(c, file)?;
    let input = read_input(file)?;
    let cfg = load_config(c, file).ok().flatten();
    let kr = keyring(c);
    let opened = file::open(inf, &input, &kr, c.ignore_mac)?;
    let emit = emit_opts(c, cfg.as_ref(), outf);
    let out = if let Some(x) = &c.extract {
        let path = parse_path(x)?;
        let v = extract(&opened.doc.branches[0], &path)?;
        stores::emit_value(outf, v, emit)
    } else {
        stores::emit_plain(outf, &opened.doc, emit)?
    };
    write_out(c, file, &out)?;
    Ok(ExitCode::SUCCESS)
}

fn filestatus(c: &Common, file: &Path) -> Result<ExitCode> {
    let (inf, _) = formats(c, Some(file))?;
    let input = io::read_file(file)?;
    let enc = match stores::load_encrypted(inf, &input) {
        Ok((_, meta)) => ksec_sops::metadata::Metadata::from_value(&meta).is_ok(),
        Err(_) => false,
    };
    println!("{{\"encrypted\":{enc}}}");
    Ok(ExitCode::SUCCESS)
}

fn set(c: &Common, file: &Path, index: &str, value: Option<&str>) -> Result<ExitCode> {
    let (inf, _) = formats(c, Some(file))?;
    let input = io::read_file(file)?;
    let kr = keyring(c);
    let mut o = file::open(inf, &input, &kr, c.ignore_mac)?;
    let path = parse_path(index)?;
    if path.is_empty() {
        bail!("empty path");
    }
    let newv = value
        .map(|v| ksec_sops::stores::json::parse_value(v.as_bytes()))
        .transpose()
        .context("the value must be JSON, e.g. '\"text\"' or 42")?;
    set_in(&mut o.doc.branches[0], &path, newv)?;
    let out = file::seal(
        &mut o.doc,
        o.metadata.clone(),
        &mut o.cipher,
        inf,
        EmitOptions { indent: c.indent },
    )?;
    io::write_atomic(file, &out, 0o600)?;
    Ok(ExitCode::SUCCESS)
}

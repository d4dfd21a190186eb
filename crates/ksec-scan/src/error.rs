//! The one error type of the scanner. Messages name the file, line or option that is
//! wrong and what to do; they never quote a scanned value.
use std::path::PathBuf;

/// What went wrong.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file could not be read.
    #[error("{}: {source}", .path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The system error.
        #[source]
        source: std::io::Error,
    },
    /// A YAML or JSON document could not be parsed, or broke a bound.
    #[error("{what} at line {line}, column {column}: {message}")]
    Parse {
        /// `YAML`, `JSON`, `dotenv`.
        what: &'static str,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is wrong (never the document's text).
        message: String,
    },
    /// A baseline file is not one this scanner wrote.
    #[error("baseline {}: {message}", .path.display())]
    Baseline {
        /// The file.
        path: PathBuf,
        /// What is wrong and what to do.
        message: String,
    },
    /// An external renderer (`helm template`, `kubectl kustomize`, `git`) failed.
    #[error("{tool} failed on {}: {message}", .path.display())]
    Render {
        /// The program.
        tool: &'static str,
        /// The chart, directory or repository.
        path: PathBuf,
        /// Its first error line.
        message: String,
    },
    /// A Rego policy could not be loaded or evaluated.
    #[error("policy {}: {message}", .path.display())]
    Policy {
        /// The policy file or folder.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// An option has a value the scanner cannot use.
    #[error("{option}: {message}")]
    Option {
        /// The option, as the library names it (`fail_on`, `retired_recipients`).
        option: &'static str,
        /// What is wrong.
        message: String,
    },
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

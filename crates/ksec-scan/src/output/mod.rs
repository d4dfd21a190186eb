//! Report formats: a table grouped by file, JSON, and SARIF 2.1.0. None of them has
//! anything a finding does not have, and findings never carry values.
mod json;
mod sarif;
mod table;

pub use json::json;
pub use sarif::sarif;
pub use table::table;

//! `ksec demo`: ksec's main jobs end to end on built-in sample data, offline, explaining
//! each step. Each part of ksec adds its own act.
//!
//! One module per act; each act takes the [`Demo`] printer and checks its own
//! results. Nothing outside this module imports from it.
use anyhow::Result;
use std::process::ExitCode;

mod kms;
mod seal;
mod sops;

/// Prints numbered steps.
struct Demo {
    step: usize,
}

impl Demo {
    /// Starts a new act with a title.
    fn act(&mut self, title: &str) {
        println!("\n######## {title} ########");
    }

    /// Announces the next step.
    fn step(&mut self, what: &str) {
        self.step += 1;
        println!("\n==> {}. {what}", self.step);
    }

    /// Shows a block of text, indented.
    fn show(&self, text: &str) {
        for line in text.lines() {
            println!("    {line}");
        }
    }
}

/// Runs every act.
pub fn run() -> Result<ExitCode> {
    let mut demo = Demo { step: 0 };
    println!("ksec demo: everything below runs offline on built-in sample data.");
    seal::act(&mut demo)?;
    sops::act(&mut demo)?;
    kms::act(&mut demo)?;
    println!("\nDemo finished: every step checked its result.");
    Ok(ExitCode::SUCCESS)
}

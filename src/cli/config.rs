//! The flags of commands that resolve a configuration, and `ptycho config show|template`.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::flags::{KeyFlags, Overrides, TrainScopes};
use crate::config::{self, Resolved};
use crate::workflow::Result;

/// Configuration flags shared by `train` and `config show`: the file, then one flag per key
/// (see `ptycho config template` for what each key means).
#[derive(Clone, Debug, Default, Args)]
pub struct ConfigFlags {
    /// TOML configuration file (see `ptycho config template`); flags override it.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    #[allow(missing_docs, reason = "flattened")]
    pub keys: KeyFlags<TrainScopes>,
}

impl ConfigFlags {
    /// Resolves defaults < `--config` file < environment < these flags (and the global ones).
    pub fn resolve(&self, global: &Overrides) -> Result<Resolved> {
        let mut o = global.clone();
        o.extend(self.keys.overrides.iter().cloned());
        Ok(config::resolve(self.config.as_deref(), &o)?)
    }
}

/// `ptycho config`.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the resolved configuration and where each value came from (default / file / env / flag).
    Show(ConfigFlags),
    /// Print a commented TOML file with every field at its default.
    Template,
}

/// Runs `ptycho config …`.
pub fn run(cmd: &ConfigCommand, global: &Overrides) -> Result<()> {
    match cmd {
        ConfigCommand::Show(flags) => print!("{}", flags.resolve(global)?.explain()),
        ConfigCommand::Template => print!("{}", config::template()),
    }
    Ok(())
}

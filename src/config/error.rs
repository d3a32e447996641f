//! Configuration errors: one line each, naming the file, key or variable at fault (exit 2).

use thiserror::Error;

/// Errors in configuration files and values (exit code 2).
#[derive(Debug, Error)]
pub enum ConfigError {
    /// The config file could not be read.
    #[error("cannot read config file {path}: {message}")]
    Read {
        /// File path.
        path: String,
        /// OS message.
        message: String,
    },
    /// The file is not valid TOML, or a value has the wrong type.
    #[error("{path}: {message}")]
    Parse {
        /// File path (or `flags`).
        path: String,
        /// First line of the parser's message.
        message: String,
    },
    /// A key that no section has.
    #[error("{path}: unknown key '{key}'{}", suggestion.as_ref().map(|s| format!("; did you mean '{s}'?")).unwrap_or_default())]
    UnknownKey {
        /// File path.
        path: String,
        /// The dotted key.
        key: String,
        /// The nearest valid key.
        suggestion: Option<String>,
    },
    /// A value outside its valid range.
    #[error("invalid {key} = {value}: {expected}")]
    Invalid {
        /// Dotted key.
        key: &'static str,
        /// The value as given.
        value: String,
        /// What is allowed.
        expected: &'static str,
    },
    /// An environment variable holds a value its key cannot take.
    #[error("{var} = '{value}': expected {expected} ({key})")]
    Env {
        /// The variable.
        var: &'static str,
        /// The dotted key it sets.
        key: &'static str,
        /// Its value.
        value: String,
        /// What is allowed.
        expected: String,
    },
    /// A value set by an environment variable failed its range check.
    #[error("{var}: {error}")]
    EnvValue {
        /// The variable.
        var: &'static str,
        /// The check that failed.
        #[source]
        error: Box<ConfigError>,
    },
}

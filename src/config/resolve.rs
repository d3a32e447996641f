//! Resolution: built-in defaults < `--config` file < environment variables < explicit flags,
//! resolved once, before any data is grouped or any model is built.
//!
//! Resolution works on the TOML tree: the defaults are serialised to a table, the file's table
//! is merged over it (unknown keys are rejected with the nearest valid key), then each key's
//! environment variable and each explicit flag set their keys. The source of every leaf is
//! recorded for `ptycho config show`.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::keys::Kind;
use super::table as keys;
use super::{Config, ConfigError};
use crate::util::text::one_line;

/// Where a resolved value came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// Built-in default.
    Default,
    /// The training data file's `_metadata` (physics parameters it records, e.g. nphotons,
    /// where nothing else sets the key).
    Data,
    /// The `--config` file.
    File,
    /// The key's environment variable.
    Env,
    /// An explicit command-line flag.
    Flag,
}

impl Source {
    /// As `ptycho config show` prints it.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Default => "default",
            Source::Data => "data",
            Source::File => "file",
            Source::Env => "env",
            Source::Flag => "flag",
        }
    }
}

/// A resolved configuration with the source of every value.
#[derive(Clone, Debug)]
pub struct Resolved {
    /// The configuration.
    pub config: Config,
    /// Dotted key → source.
    pub sources: BTreeMap<String, Source>,
}

/// Every leaf of a TOML table as (dotted key, value).
fn leaves(prefix: &str, t: &toml::Table, out: &mut Vec<(String, toml::Value)>) {
    for (k, v) in t {
        let key = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            toml::Value::Table(sub) => leaves(&key, sub, out),
            _ => out.push((key, v.clone())),
        }
    }
}

pub(super) fn default_table() -> toml::Table {
    toml::Table::try_from(Config::default()).expect("defaults serialise")
}

fn set_key(t: &mut toml::Table, key: &str, v: toml::Value) {
    let mut parts = key.split('.').peekable();
    let mut cur = t;
    while let Some(p) = parts.next() {
        if parts.peek().is_none() {
            cur.insert(p.to_string(), v);
            return;
        }
        cur = cur
            .entry(p.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()))
            .as_table_mut()
            .expect("config sections are tables");
    }
}

/// The TOML value of `text` for a key of `kind` (an environment variable's value), or what was
/// expected.
pub fn parse_value(kind: Kind, text: &str) -> Result<toml::Value, String> {
    let t = text.trim();
    match kind {
        Kind::Integer => t
            .parse::<u64>()
            .ok()
            .and_then(|v| i64::try_from(v).ok())
            .map(toml::Value::Integer)
            .ok_or_else(|| "a non-negative integer".into()),
        Kind::Float => t
            .parse::<f64>()
            .map(toml::Value::Float)
            .map_err(|_| "a number".into()),
        Kind::Bool => t
            .parse::<bool>()
            .map(toml::Value::Boolean)
            .map_err(|_| "true or false".into()),
        Kind::Text => Ok(toml::Value::String(t.to_string())),
        Kind::Choice(names) => names
            .iter()
            .find(|n| n.eq_ignore_ascii_case(t))
            .map(|n| toml::Value::String(n.to_string()))
            .ok_or_else(|| format!("one of {}", names.join(", "))),
    }
}

/// Resolves defaults < file < environment < flags, reading the process environment.
/// `flags` are `(dotted key, value)` pairs of explicit flags.
pub fn resolve(
    file: Option<&Path>,
    flags: &[(&'static str, toml::Value)],
) -> Result<Resolved, ConfigError> {
    resolve_with_env(file, flags, |var| std::env::var(var).ok())
}

/// [`resolve`] with the environment given as a lookup (tests).
pub fn resolve_with_env(
    file: Option<&Path>,
    flags: &[(&'static str, toml::Value)],
    env: impl Fn(&str) -> Option<String>,
) -> Result<Resolved, ConfigError> {
    let mut table = default_table();
    let mut sources: BTreeMap<String, Source> = keys::known_keys()
        .into_iter()
        .map(|k| (k, Source::Default))
        .collect();
    if let Some(path) = file {
        let p = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
            path: p.clone(),
            message: e.to_string(),
        })?;
        let parsed: toml::Table =
            text.parse()
                .map_err(|e: toml::de::Error| ConfigError::Parse {
                    path: p.clone(),
                    message: one_line(e),
                })?;
        let mut given = Vec::new();
        leaves("", &parsed, &mut given);
        for (k, _) in &given {
            if !sources.contains_key(k) {
                return Err(ConfigError::UnknownKey {
                    path: p,
                    key: k.clone(),
                    suggestion: keys::nearest_key(k),
                });
            }
        }
        for (k, v) in given {
            set_key(&mut table, &k, v);
            sources.insert(k, Source::File);
        }
        // Type errors are reported against the file before anything else is applied.
        Config::deserialize(table.clone()).map_err(|e| ConfigError::Parse {
            path: p,
            message: one_line(e),
        })?;
    }
    let mut from_env = Vec::new();
    for k in keys::keys() {
        let Some(var) = k.meta.env else { continue };
        let Some(text) = env(var) else { continue };
        let v = parse_value(k.kind, &text).map_err(|expected| ConfigError::Env {
            var,
            key: k.key,
            value: text.clone(),
            expected,
        })?;
        set_key(&mut table, k.key, v);
        sources.insert(k.key.to_string(), Source::Env);
        from_env.push((k.key, var));
    }
    for (key, v) in flags {
        set_key(&mut table, key, v.clone());
        sources.insert(key.to_string(), Source::Flag);
    }
    let config = Config::deserialize(table).map_err(|e| ConfigError::Parse {
        path: "flags".into(),
        message: one_line(e),
    })?;
    config.validate().map_err(|e| match &e {
        ConfigError::Invalid { key, .. } => match from_env.iter().find(|(k, _)| k == key) {
            Some((k, var)) if sources.get(*k) == Some(&Source::Env) => ConfigError::EnvValue {
                var,
                error: Box::new(e),
            },
            _ => e,
        },
        _ => e,
    })?;
    Ok(Resolved { config, sources })
}

impl Resolved {
    /// The resolved configuration as TOML, without the per-invocation keys that run
    /// directories do not keep (written to run/config.toml).
    pub fn to_toml(&self) -> String {
        let mut table = toml::Table::try_from(&self.config).expect("config serialises");
        for k in keys::keys().filter(|k| !k.meta.persist) {
            let (section, leaf) = k.key.split_once('.').expect("dotted key");
            if let Some(toml::Value::Table(t)) = table.get_mut(section) {
                t.remove(leaf);
            }
        }
        toml::to_string_pretty(&table).expect("config serialises")
    }
}

//! Flags that set configuration keys, built from the key table ([`crate::config::keys`]): one
//! clap argument per key whose flag belongs to the command's scopes, parsed into `(dotted key,
//! value)` overrides. Only flags given on the command line become overrides, so "not given" is
//! told apart from "given the default value".

use std::marker::PhantomData;

use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::parser::ValueSource;
use clap::{Arg, ArgAction, ArgMatches, Args, Command, FromArgMatches};

use crate::config::keys::{Flag, Key, Kind, Scope};
use crate::config::table as keys;
use crate::gpu::Accelerator;

/// `(dotted key, value)` for each explicit flag.
pub type Overrides = Vec<(&'static str, toml::Value)>;

/// A set of scopes: which keys' flags a command takes.
pub trait Scopes {
    /// The scopes.
    const SCOPES: &'static [Scope];
}

/// `train` and `config show`: every key's flag but the global ones.
#[derive(Clone, Debug, Default)]
pub struct TrainScopes;
impl Scopes for TrainScopes {
    const SCOPES: &'static [Scope] = &[Scope::Training, Scope::Inference, Scope::Execution];
}

/// `infer`: the stitching, product and execution flags.
#[derive(Clone, Debug, Default)]
pub struct InferScopes;
impl Scopes for InferScopes {
    const SCOPES: &'static [Scope] = &[Scope::Inference, Scope::Execution];
}

/// The key flags of the scopes `S`, parsed.
#[derive(Clone, Debug, Default)]
pub struct KeyFlags<S> {
    /// The explicit flags as key overrides, in table order.
    pub overrides: Overrides,
    _scopes: PhantomData<S>,
}

/// The clap id of a long flag (its name without the dashes).
fn id(long: &'static str) -> &'static str {
    long.trim_start_matches('-')
}

fn flagged_keys<S: Scopes>() -> impl Iterator<Item = (&'static Key, Flag, &'static [&'static str])>
{
    keys::keys().filter_map(|k| {
        let f = k.meta.flag?;
        S::SCOPES
            .contains(&f.scope)
            .then_some((k, f.flag, f.conflicts))
    })
}

/// The argument `--long` of key `k`, taking a value of the key's kind.
fn value_arg(k: &Key, long: &'static str) -> Arg {
    let arg = Arg::new(id(long)).long(id(long)).help(k.doc());
    match k.kind {
        Kind::Integer => arg.value_parser(clap::value_parser!(u64)),
        Kind::Float => arg.value_parser(clap::value_parser!(f64)),
        Kind::Bool => arg.value_parser(clap::value_parser!(bool)),
        Kind::Text => arg,
        Kind::Choice(names) => arg.value_parser(PossibleValuesParser::new(names.iter().copied())),
    }
}

impl<S: Scopes> Args for KeyFlags<S> {
    fn augment_args(mut cmd: Command) -> Command {
        for (k, flag, conflicts) in flagged_keys::<S>() {
            let args = match flag {
                Flag::Value(long) => vec![value_arg(k, long)],
                Flag::OptionalBool(long) => vec![
                    value_arg(k, long)
                        .num_args(0..=1)
                        .default_missing_value("true"),
                ],
                Flag::Switch(long, _) => vec![
                    Arg::new(id(long))
                        .long(id(long))
                        .help(k.doc())
                        .action(ArgAction::SetTrue),
                ],
                Flag::Toggle(on, off) => vec![
                    Arg::new(id(on))
                        .long(id(on))
                        .help(k.doc())
                        .action(ArgAction::SetTrue)
                        .conflicts_with(id(off)),
                    Arg::new(id(off))
                        .long(id(off))
                        .help(format!("not {}", k.doc()))
                        .action(ArgAction::SetTrue),
                ],
            };
            for mut a in args {
                for c in conflicts {
                    a = a.conflicts_with(id(c));
                }
                cmd = cmd.arg(a);
            }
        }
        cmd
    }

    fn augment_args_for_update(cmd: Command) -> Command {
        Self::augment_args(cmd)
    }
}

impl<S: Scopes> FromArgMatches for KeyFlags<S> {
    fn from_arg_matches(m: &ArgMatches) -> Result<Self, clap::Error> {
        let given = |long: &'static str| m.value_source(id(long)) == Some(ValueSource::CommandLine);
        let mut overrides = Overrides::new();
        for (k, flag, _) in flagged_keys::<S>() {
            let value = match flag {
                Flag::Value(long) | Flag::OptionalBool(long) if given(long) => Some(match k.kind {
                    Kind::Integer => {
                        let v = *m.get_one::<u64>(id(long)).expect("parsed");
                        toml::Value::Integer(i64::try_from(v).unwrap_or(i64::MAX))
                    }
                    Kind::Float => toml::Value::Float(*m.get_one::<f64>(id(long)).expect("parsed")),
                    Kind::Bool => {
                        toml::Value::Boolean(*m.get_one::<bool>(id(long)).expect("parsed"))
                    }
                    Kind::Text | Kind::Choice(_) => {
                        toml::Value::String(m.get_one::<String>(id(long)).expect("parsed").clone())
                    }
                }),
                Flag::Switch(long, v) if m.get_flag(id(long)) => Some(toml::Value::Boolean(v)),
                Flag::Toggle(on, _) if m.get_flag(id(on)) => Some(toml::Value::Boolean(true)),
                Flag::Toggle(_, off) if m.get_flag(id(off)) => Some(toml::Value::Boolean(false)),
                _ => None,
            };
            if let Some(v) = value {
                overrides.push((k.key, v));
            }
        }
        Ok(KeyFlags {
            overrides,
            _scopes: PhantomData,
        })
    }

    fn update_from_arg_matches(&mut self, m: &ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(m)?;
        Ok(())
    }
}

/// Parses `--accelerator` (one of [`Accelerator::ALL`], any case).
pub fn accelerator_parser() -> impl TypedValueParser<Value = Accelerator> {
    PossibleValuesParser::new(Accelerator::ALL.map(Accelerator::as_str))
        .map(|s| s.parse::<Accelerator>().expect("a listed accelerator"))
}

/// Parses one of `names` into `T` (the enums of the domains, which know no clap).
pub fn choice<T: std::str::FromStr + Clone + Send + Sync + 'static>(
    names: &'static [&'static str],
) -> impl TypedValueParser<Value = T>
where
    T::Err: std::fmt::Debug,
{
    PossibleValuesParser::new(names.iter().copied()).map(|s| s.parse::<T>().expect("a listed name"))
}

/// A positive, finite length in metres (clap value parser).
pub fn positive_metres(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v > 0.0 && v.is_finite() => Ok(v),
        _ => Err(format!("{s}: expected a positive length in metres")),
    }
}

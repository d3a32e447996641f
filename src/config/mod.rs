//! Configuration: typed sections, a TOML file format, and the precedence rules
//! **explicit CLI flag > environment variable > `--config file.toml` > built-in default**,
//! resolved once, before any data is grouped or any model is built.
//!
//! Every key is declared once, in [`sections`]: its doc, type, default, flag, environment
//! variable and whether run directories keep it. The key table ([`keys`]) derived from that
//! feeds the CLI's flags, `ptycho config template` and `config show`, and the spec tests. The
//! execution section (device, workers, determinism, kernel layout and other runtime knobs) is
//! kept apart: no execution setting ever changes a data or model field.

pub mod error;
pub mod keys;
pub mod resolve;
pub mod sections;
pub mod table;
mod template;
mod validate;

pub use error::ConfigError;
pub use keys::{Flag, FlagSpec, Key, Kind, Meta, Scope};
pub use resolve::{Resolved, Source, resolve, resolve_with_env};
pub use sections::{
    AmpActivation, Config, DataConfig, ExecutionConfig, InferenceConfig, LogLevel, ModelConfig,
    Monitor, Scheduler, TrainingConfig,
};
pub use table::{flag_key, key, keys, known_keys, nearest_key};
pub use template::template;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::keys::Kind;

    #[test]
    fn template_parses_back_to_defaults_and_documents_every_key() {
        let t = template();
        let parsed: Config = toml::from_str(&t).unwrap();
        assert_eq!(parsed, Config::default());
        for k in known_keys() {
            let leaf = k.rsplit('.').next().unwrap();
            let line = t
                .lines()
                .position(|l| l.starts_with(&format!("{leaf} = ")))
                .unwrap();
            let doc = t.lines().nth(line - 1).unwrap();
            assert!(doc.len() > 3, "{k} has no comment");
        }
    }

    #[test]
    fn every_field_has_one_key_and_every_flag_one_field() {
        // The table's keys are exactly the leaves of the serialised defaults.
        let mut from_table = known_keys();
        let mut leaves = Vec::new();
        for (s, v) in resolve::default_table() {
            for k in v.as_table().unwrap().keys() {
                leaves.push(format!("{s}.{k}"));
            }
        }
        from_table.sort();
        leaves.sort();
        assert_eq!(from_table, leaves);
        // No long flag is claimed by two keys.
        let mut flags: Vec<&str> = table::keys()
            .filter_map(|k| k.meta.flag)
            .flat_map(|f| f.flag.names())
            .collect();
        let n = flags.len();
        flags.sort();
        flags.dedup();
        assert_eq!(flags.len(), n);
    }

    #[test]
    fn every_choice_and_default_round_trips() {
        let defaults = resolve::default_table();
        for k in table::keys() {
            let Kind::Choice(names) = k.kind else {
                continue;
            };
            let (s, leaf) = k.key.split_once('.').unwrap();
            let d = defaults[s][leaf].as_str().unwrap();
            assert!(
                names.contains(&d),
                "{}: default {d} not among {names:?}",
                k.key
            );
            for name in names {
                let v = resolve::parse_value(k.kind, name).unwrap();
                resolve_with_env(None, &[(k.key, v)], |_| None)
                    .unwrap_or_else(|e| panic!("{} = {name}: {e}", k.key));
            }
            assert!(resolve::parse_value(k.kind, "no-such-choice").is_err());
        }
    }

    #[test]
    fn environment_sits_between_file_and_flags_and_runtime_keys_are_not_persisted() {
        let env = |v: &str| match v {
            "PTYCHO_CONV_LAYOUT" => Some("tiled".to_string()),
            "PTYCHO_MAX_BINDING_BYTES" => Some("40000".to_string()),
            "PTYCHO_ACCELERATOR" => Some("cpu".to_string()),
            _ => None,
        };
        let flags = vec![(
            "execution.accelerator",
            toml::Value::String("vulkan".into()),
        )];
        let r = resolve_with_env(None, &flags, env).unwrap();
        assert_eq!(r.sources["execution.conv_layout"], Source::Env);
        assert_eq!(r.config.execution.max_binding_bytes, 40000);
        assert_eq!(r.sources["execution.accelerator"], Source::Flag);
        assert_eq!(
            r.config.execution.accelerator,
            crate::gpu::Accelerator::Vulkan
        );
        assert!(r.explain().contains("# env"));
        let saved = r.to_toml();
        assert!(!saved.contains("conv_layout") && !saved.contains("max_binding_bytes"));
        assert!(saved.contains("accelerator"));
        let bad = |v: &str| (v == "PTYCHO_FAULT").then(|| "boom".to_string());
        let e = resolve_with_env(None, &[], bad).unwrap_err().to_string();
        assert!(
            e.starts_with("PTYCHO_FAULT: ") && e.contains("oom:N"),
            "{e}"
        );
        let bad = |v: &str| (v == "PTYCHO_MAX_BINDING_BYTES").then(|| "lots".to_string());
        let e = resolve_with_env(None, &[], bad).unwrap_err().to_string();
        assert!(e.contains("PTYCHO_MAX_BINDING_BYTES = 'lots'"), "{e}");
    }

    #[test]
    fn nearest_key_suggestions() {
        assert_eq!(
            nearest_key("training.epoch").as_deref(),
            Some("training.epochs")
        );
        assert_eq!(
            nearest_key("data.grid_size").as_deref(),
            Some("data.gridsize")
        );
        assert_eq!(
            nearest_key("training.learningrate").as_deref(),
            Some("training.learning_rate")
        );
    }
}

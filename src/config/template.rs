//! What `ptycho config` prints: the resolved values with their sources (`config show`) and a
//! commented file with every key at its default (`config template`).

use super::resolve::{Resolved, Source, default_table};
use super::table as keys;

impl Resolved {
    /// `key = value  # source` lines, grouped by section, for `ptycho config show`.
    pub fn explain(&self) -> String {
        let table = toml::Table::try_from(&self.config).expect("config serialises");
        let mut out = String::new();
        for (section, v) in &table {
            out.push_str(&format!("[{section}]\n"));
            if let toml::Value::Table(t) = v {
                for (k, val) in t {
                    let key = format!("{section}.{k}");
                    let src = self.sources.get(&key).copied().unwrap_or(Source::Default);
                    out.push_str(&format!(
                        "{:<28} # {}\n",
                        format!("{k} = {val}"),
                        src.as_str()
                    ));
                }
            }
            out.push('\n');
        }
        out.push_str(&format!(
            "# in force: learning rate {}, inference batch size {}\n",
            self.config.learning_rate(),
            self.config.inference_batch_size()
        ));
        out
    }
}

/// A commented TOML file with every key at its default (`ptycho config template`).
pub fn template() -> String {
    let table = default_table();
    let mut out = String::from(
        "# ptycho configuration. Precedence: command-line flag > environment > this file > built-in default.\n\n",
    );
    for (section, v) in &table {
        out.push_str(&format!("[{section}]\n"));
        if let toml::Value::Table(t) = v {
            for (k, val) in t {
                let key = format!("{section}.{k}");
                let doc = keys::key(&key).map(|k| k.doc()).unwrap_or_default();
                out.push_str(&format!("# {doc}\n{k} = {val}\n"));
            }
        }
        out.push('\n');
    }
    out
}

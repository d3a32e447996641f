//! What the ranks of an MPI job must agree on before they work together, and the one-line
//! refusal when they do not (every rank finds the same, so none waits on another).

use crate::config::Config;
use crate::dist::Comm;
use crate::workflow::{Result, WorkflowError};

/// Every key of the configuration's `sections` as (`section.key`, value).
pub fn config_items(cfg: &Config, sections: &[&str]) -> Result<Vec<(String, String)>> {
    let table = toml::Table::try_from(cfg).map_err(|e| WorkflowError::Usage(e.to_string()))?;
    let mut items = Vec::new();
    for section in sections {
        if let Some(toml::Value::Table(t)) = table.get(*section) {
            for (k, v) in t {
                items.push((format!("{section}.{k}"), v.to_string()));
            }
        }
    }
    Ok(items)
}

/// A short fingerprint of normalised patterns: their count and f64 sum.
pub fn fingerprint(x: &[f32]) -> String {
    let sum: f64 = x.iter().map(|&v| v as f64).sum();
    format!("{} values, sum {sum:e}", x.len())
}

/// Checks that every rank holds the same `items`; the first disagreement as
/// [`WorkflowError::Ranks`].
pub fn agree(comm: &Comm, items: &[(String, String)]) -> Result<()> {
    let refs: Vec<(&str, String)> = items.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    comm.agree(&refs)
        .map_err(|d| WorkflowError::Ranks(d.to_string()))
}

/// Refuses more ranks than units of work (`what`, e.g. "batches of 16 groups per epoch").
pub fn enough_work(comm: &Comm, units: usize, what: &str, remedy: &str) -> Result<()> {
    if comm.size() > units {
        return Err(WorkflowError::Ranks(format!(
            "{} MPI ranks but only {units} {what}: use at most {units} ranks{remedy}",
            comm.size()
        )));
    }
    Ok(())
}

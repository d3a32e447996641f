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

/// The outcome of a step that may fail before the ranks first work together (rank 0's
/// run-directory check, reading the data) made the same on every rank: Ok everywhere, or on
/// every rank the first failing rank's error (named when it is not rank 0) as
/// [`WorkflowError::Shared`], so that every rank stops with the same line and none goes on to
/// wait for another. A single process gets its own result back.
pub fn together<T>(comm: &Comm, r: Result<T>) -> Result<T> {
    if !comm.is_parallel() {
        return r;
    }
    let mine = match &r {
        Ok(_) => String::new(),
        Err(e) => format!("{}\u{1f}{}", u8::from(e.is_usage()), error_line(e)),
    };
    let all = comm.all_gather_strings(&mine);
    let Some((rank, first)) = all.iter().enumerate().find(|(_, s)| !s.is_empty()) else {
        return r;
    };
    let (usage, message) = first.split_once('\u{1f}').unwrap_or(("0", first));
    Err(WorkflowError::Shared {
        message: if rank == 0 {
            message.to_string()
        } else {
            format!("rank {rank} of {}: {message}", comm.size())
        },
        usage: usage == "1",
    })
}

/// An error and each of its causes not already in its message, on one line (as the binary
/// prints errors).
fn error_line(e: &WorkflowError) -> String {
    let mut msg = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        let c_msg = c.to_string();
        if !msg.contains(&c_msg) {
            msg.push_str(": ");
            msg.push_str(&c_msg);
        }
        cause = c.source();
    }
    msg
}

//! specs/cli.md cannot drift from the clap definitions: every subcommand has a section, every
//! flag a row, every row a flag, and the config-field column agrees with `config::FLAGS`.

use std::collections::{BTreeMap, BTreeSet};

use clap::CommandFactory;
use ptycho::cli::Cli;

/// `"ptycho bench fft"` → long flags (with `--`), global flags excluded below the root.
fn clap_flags() -> BTreeMap<String, BTreeSet<String>> {
    fn walk(
        cmd: &clap::Command,
        path: String,
        inherited: &BTreeSet<String>,
        out: &mut BTreeMap<String, BTreeSet<String>>,
    ) {
        let flags: BTreeSet<String> = cmd
            .get_arguments()
            .filter(|a| !inherited.contains(a.get_id().as_str()))
            .filter_map(|a| a.get_long().map(|l| format!("--{l}")))
            .filter(|l| l != "--help" && l != "--version")
            .collect();
        out.insert(path.clone(), flags);
        // Global flags defined here are documented here, not again under each subcommand.
        let mut inh = inherited.clone();
        inh.extend(
            cmd.get_arguments()
                .filter(|a| a.is_global_set())
                .map(|a| a.get_id().to_string()),
        );
        for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
            walk(sub, format!("{path} {}", sub.get_name()), &inh, out);
        }
    }
    let mut out = BTreeMap::new();
    let mut cmd = Cli::command();
    cmd.build();
    walk(&cmd, "ptycho".into(), &BTreeSet::new(), &mut out);
    out
}

/// Section title `## ptycho …` → rows `(flag, config field)` of its table.
fn spec_flags() -> BTreeMap<String, Vec<(String, String)>> {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/specs/cli.md")).unwrap();
    let mut out: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    let mut cur: Option<String> = None;
    for line in text.lines() {
        if let Some(t) = line.strip_prefix("## ") {
            let t = t.trim().trim_matches('`');
            cur = (t == "ptycho" || t.starts_with("ptycho ")).then(|| t.to_string());
            if let Some(c) = &cur {
                out.entry(c.clone()).or_default();
            }
        } else if let (Some(c), Some(row)) = (&cur, line.strip_prefix("| `--")) {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let flag = format!(
                "--{}",
                row.split('`')
                    .next()
                    .unwrap()
                    .split_whitespace()
                    .next()
                    .unwrap()
            );
            let field = cells
                .get(2)
                .copied()
                .unwrap_or("")
                .trim_matches('`')
                .to_string();
            out.get_mut(c).unwrap().push((flag, field));
        }
    }
    out
}

#[test]
fn specs_cli_md_matches_clap() {
    let code = clap_flags();
    let spec = spec_flags();
    let mut problems = Vec::new();
    for (cmd, flags) in &code {
        let Some(rows) = spec.get(cmd) else {
            problems.push(format!(
                "specs/cli.md has no section `## {cmd}` (flags: {flags:?})"
            ));
            continue;
        };
        let documented: BTreeSet<String> = rows.iter().map(|(f, _)| f.clone()).collect();
        for f in flags.difference(&documented) {
            problems.push(format!("{cmd}: flag {f} is not in specs/cli.md"));
        }
        for f in documented.difference(flags) {
            problems.push(format!(
                "{cmd}: specs/cli.md documents {f}, which clap does not define"
            ));
        }
        // Only commands that resolve a configuration (they take --config; the root's global
        // --accelerator too) map flags to fields.
        // (`infer` resolves the model's config.toml plus its flags.)
        let configurable = flags.contains("--config") || cmd == "ptycho" || cmd == "ptycho infer";
        for (flag, field) in rows {
            let want = if configurable {
                ptycho::config::flag_key(flag).unwrap_or("—")
            } else {
                "—"
            };
            if field != want {
                problems.push(format!(
                    "{cmd}: {flag} config field is `{field}` in the spec, `{want}` in config::FLAGS"
                ));
            }
        }
    }
    for cmd in spec.keys() {
        if !code.contains_key(cmd) {
            problems.push(format!(
                "specs/cli.md has a section for `{cmd}`, which is not a command"
            ));
        }
    }
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

#[test]
fn exit_codes_are_documented() {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/specs/cli.md")).unwrap();
    for code in ["| 0 |", "| 1 |", "| 2 |"] {
        assert!(text.contains(code), "exit code row {code} missing");
    }
}

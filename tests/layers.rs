//! The layers run one way (docs/ARCHITECTURE.md): CLI → workflows → configuration and the
//! kernel registry → domains → the engine and the utilities, and no module imports one above
//! it. Read from the source: every `crate::…` path of every file (in `use` lines and inline),
//! resolved to the module it names, must point down; the module graph (top-level modules, and
//! modules two levels deep) has no cycle; `src/gpu` and `src/util` import nothing else of the
//! crate; clap appears only in the CLI.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Rank of each top-level module: a module may import modules of lower rank, and domains
/// (rank 2) each other as long as the graph stays acyclic.
fn rank(top: &str) -> Option<u32> {
    Some(match top {
        "util" | "gpu" => 0,
        "wgsl" => 1,
        "linalg" | "fft" | "physics" | "nn" | "model" | "data" | "eval" | "stitch" | "simulate"
        | "dist" => 2,
        "kernels" | "config" => 3,
        "workflow" => 4,
        "cli" => 5,
        _ => return None,
    })
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// The module path of a source file (`src/nn/conv/mod.rs` → `["nn", "conv"]`).
fn module_of(file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src()).unwrap();
    let mut parts: Vec<String> = rel
        .iter()
        .map(|s| s.to_string_lossy().trim_end_matches(".rs").to_string())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

/// Whether `path` (segments under `src/`) is a module.
fn is_module(path: &[String]) -> bool {
    let base = path.iter().fold(src(), |p, s| p.join(s));
    base.with_extension("rs").is_file() || base.join("mod.rs").is_file()
}

/// The module a path names, cut to `depth` segments: its longest prefix that is a module.
fn resolve(path: &[String], depth: usize) -> Vec<String> {
    let mut k = path.len().min(depth);
    while k > 0 && !is_module(&path[..k]) {
        k -= 1;
    }
    path[..k].to_vec()
}

/// Every path a file refers to through `crate::` (or `super::`), as absolute segments.
fn references(file: &Path, text: &str) -> Vec<Vec<String>> {
    let me = module_of(file);
    let mut out = Vec::new();
    let code: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    let bytes = code.as_bytes();
    let ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    for (start, prefix) in code
        .match_indices("crate::")
        .map(|(i, _)| (i, "crate"))
        .chain(code.match_indices("super::").map(|(i, _)| (i, "super")))
    {
        if start > 0 && (ident(bytes[start - 1]) || bytes[start - 1] == b'$' && prefix == "super") {
            continue;
        }
        // Segments after the prefix; a `{…}` group contributes each of its first segments.
        let rest = &code[start + prefix.len() + 2..];
        // `super` is the parent of the file's module.
        let mut base: Vec<String> = match prefix {
            "crate" => Vec::new(),
            _ => me[..me.len().saturating_sub(1)].to_vec(),
        };
        let mut tail = rest;
        loop {
            if let Some(group) = tail.strip_prefix('{') {
                let end = group.find('}').unwrap_or(group.len());
                for item in group[..end].split(',') {
                    let segs: Vec<String> = item
                        .trim()
                        .split("::")
                        .map(|s| s.trim().to_string())
                        .take_while(|s| !s.is_empty() && s.bytes().all(ident))
                        .collect();
                    let mut p = base.clone();
                    p.extend(segs.into_iter().filter(|s| s != "self"));
                    out.push(p);
                }
                break;
            }
            let n = tail.bytes().take_while(|&c| ident(c)).count();
            if n == 0 {
                out.push(base.clone());
                break;
            }
            let seg = &tail[..n];
            if seg == "super" {
                base.pop();
            } else {
                base.push(seg.to_string());
            }
            match tail[n..].strip_prefix("::") {
                Some(t) => tail = t,
                None => {
                    out.push(base.clone());
                    break;
                }
            }
        }
    }
    out
}

/// `(from, to)` module edges at `depth`, without edges between a module and its ancestors.
fn edges(depth: usize) -> BTreeMap<(String, String), String> {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let mut out = BTreeMap::new();
    for f in files {
        let from = module_of(&f);
        if from.is_empty() {
            continue; // lib.rs, main.rs
        }
        let from_node = resolve(&from, depth);
        let text = std::fs::read_to_string(&f).unwrap();
        for r in references(&f, &text) {
            let to = resolve(&r, depth);
            if to.is_empty() {
                continue;
            }
            let ancestor = |a: &[String], b: &[String]| a.len() <= b.len() && b[..a.len()] == *a;
            if ancestor(&to, &from_node) || ancestor(&from_node, &to) {
                continue;
            }
            out.entry((from_node.join("::"), to.join("::")))
                .or_insert_with(|| f.strip_prefix(src()).unwrap().display().to_string());
        }
    }
    out
}

/// A cycle of the graph, if it has one.
fn find_cycle(edges: &BTreeMap<(String, String), String>) -> Option<Vec<String>> {
    let mut adj: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (a, b) in edges.keys() {
        adj.entry(a).or_default().push(b);
    }
    fn visit<'a>(
        n: &'a str,
        adj: &BTreeMap<&'a str, Vec<&'a str>>,
        state: &mut BTreeMap<&'a str, u8>,
        stack: &mut Vec<&'a str>,
    ) -> Option<Vec<String>> {
        state.insert(n, 1);
        stack.push(n);
        for &m in adj.get(n).map(Vec::as_slice).unwrap_or(&[]) {
            match state.get(m).copied().unwrap_or(0) {
                1 => {
                    let k = stack.iter().position(|&s| s == m).unwrap();
                    let mut c: Vec<String> = stack[k..].iter().map(|s| s.to_string()).collect();
                    c.push(m.to_string());
                    return Some(c);
                }
                0 => {
                    if let Some(c) = visit(m, adj, state, stack) {
                        return Some(c);
                    }
                }
                _ => {}
            }
        }
        stack.pop();
        state.insert(n, 2);
        None
    }
    let mut state = BTreeMap::new();
    for &n in adj.keys() {
        if state.get(n).copied().unwrap_or(0) == 0
            && let Some(c) = visit(n, &adj, &mut state, &mut Vec::new())
        {
            return Some(c);
        }
    }
    None
}

#[test]
fn every_import_points_down_a_layer() {
    let mut problems = BTreeSet::new();
    for ((a, b), file) in edges(1) {
        let (ra, rb) = (rank(&a), rank(&b));
        let (Some(ra), Some(rb)) = (ra, rb) else {
            problems.insert(format!(
                "{file}: module {a} or {b} has no layer in tests/layers.rs"
            ));
            continue;
        };
        let ok = rb < ra || (ra == 2 && rb == 2);
        if !ok {
            problems.insert(format!("{file}: {a} (layer {ra}) imports {b} (layer {rb})"));
        }
    }
    assert!(
        problems.is_empty(),
        "\n{}",
        problems.into_iter().collect::<Vec<_>>().join("\n")
    );
}

#[test]
fn the_module_graph_has_no_cycle() {
    for depth in [1, 2] {
        let e = edges(depth);
        assert!(!e.is_empty());
        if let Some(c) = find_cycle(&e) {
            let files: Vec<String> = c
                .windows(2)
                .map(|w| format!("{} → {} ({})", w[0], w[1], e[&(w[0].clone(), w[1].clone())]))
                .collect();
            panic!("cycle at depth {depth}:\n{}", files.join("\n"));
        }
    }
}

#[test]
fn the_engine_and_the_utilities_import_nothing_else() {
    let e = edges(1);
    for bottom in ["gpu", "util"] {
        let bad: Vec<_> = e
            .iter()
            .filter(|((a, _), _)| a == bottom)
            .map(|((_, b), f)| format!("{f} imports crate::{b}"))
            .collect();
        assert!(bad.is_empty(), "{bottom}: {bad:?}");
    }
}

#[test]
fn clap_only_in_the_cli() {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let cli = src().join("cli");
    for f in files {
        if f.starts_with(&cli) || f.ends_with("main.rs") {
            continue;
        }
        let text = std::fs::read_to_string(&f).unwrap();
        assert!(
            !text.contains("clap::") && !text.contains("use clap"),
            "{} uses clap",
            f.display()
        );
    }
}

/// The checker itself sees an upward import and a cycle when there is one.
#[test]
fn the_checker_catches_what_it_should() {
    let f = src().join("gpu/mod.rs");
    let refs = references(
        &f,
        "use crate::{nn::conv::Conv2d, data};\nlet x = crate::workflow::train::x;",
    );
    let mods: Vec<Vec<String>> = refs.iter().map(|r| resolve(r, 2)).collect();
    assert!(
        mods.contains(&vec!["nn".to_string(), "conv".to_string()]),
        "{mods:?}"
    );
    assert!(mods.contains(&vec!["data".to_string()]), "{mods:?}");
    assert!(
        mods.contains(&vec!["workflow".to_string(), "train".to_string()]),
        "{mods:?}"
    );
    let mut e = BTreeMap::new();
    e.insert(("a".to_string(), "b".to_string()), "x".to_string());
    e.insert(("b".to_string(), "c".to_string()), "y".to_string());
    assert!(find_cycle(&e).is_none());
    e.insert(("c".to_string(), "a".to_string()), "z".to_string());
    assert_eq!(find_cycle(&e).unwrap(), ["a", "b", "c", "a"]);
}

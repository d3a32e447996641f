//! The key table: every row the sections declare, looked up by key or flag. The CLI's flags,
//! `ptycho config template` and `config show`, and the spec drift tests all read it.

use super::keys::Key;
use super::sections::SECTIONS;

/// Every key, section by section.
pub fn keys() -> impl Iterator<Item = &'static Key> {
    SECTIONS.iter().flat_map(|s| s.iter())
}

/// The key called `key`.
pub fn key(key: &str) -> Option<&'static Key> {
    keys().find(|k| k.key == key)
}

/// The dotted config key a long flag (with `--`) sets, if any.
pub fn flag_key(flag: &str) -> Option<&'static str> {
    keys()
        .find(|k| k.meta.flag.is_some_and(|f| f.flag.names().contains(&flag)))
        .map(|k| k.key)
}

/// Every valid dotted key.
pub fn known_keys() -> Vec<String> {
    keys().map(|k| k.key.to_string()).collect()
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, &cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + (ca != cb) as usize)
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The valid key closest to `key` (by edit distance on the dotted key and on the leaf name).
pub fn nearest_key(key: &str) -> Option<String> {
    let leaf = key.rsplit('.').next().unwrap_or(key);
    known_keys()
        .into_iter()
        .map(|k| {
            let kl = k.rsplit('.').next().unwrap_or(&k).to_string();
            (edit_distance(key, &k).min(edit_distance(leaf, &kl) + 1), k)
        })
        .filter(|(d, k)| *d <= (k.len() / 2).max(3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

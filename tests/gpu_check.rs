//! `scripts/gpu-check.sh`, the device check, run in its small mode on the test adapter: every
//! step succeeds and leaves parseable JSON with the figures the device run records; a spent
//! budget skips steps and fails; a missing binary is one line.

mod common;

use std::path::Path;
use std::process::Command;

fn script(args: &[&str]) -> std::process::Output {
    Command::new("bash")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/gpu-check.sh"))
        .args(args)
        .output()
        .expect("run bash")
}

fn json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn extra(row: &serde_json::Value, key: &str) -> Option<f64> {
    row["extra"]
        .as_array()?
        .iter()
        .find(|e| e[0] == key)
        .and_then(|e| e[1].as_f64())
}

#[test]
fn small_check_runs_every_step_and_writes_json() {
    if common::gpu_or_skip().is_none() {
        return;
    }
    let out = std::env::temp_dir().join(format!("ptycho-gpu-check-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let run = script(&[
        "--small",
        "--bin",
        env!("CARGO_BIN_EXE_ptycho"),
        "--out",
        out.to_str().unwrap(),
        "--bandwidth-gbs",
        "50",
        "--peak-gflops",
        "500",
    ]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    let summary = std::fs::read_to_string(out.join("summary.tsv")).unwrap();
    let steps: Vec<Vec<&str>> = summary
        .lines()
        .skip(1)
        .map(|l| l.split('\t').collect())
        .collect();
    assert_eq!(steps.len(), 12, "{summary}");
    for s in &steps {
        assert_eq!(s[1], "0", "{summary}");
    }
    let devices = json(&out.join("devices.json"));
    assert!(!devices.as_array().unwrap().is_empty());
    assert!(devices[0]["conv_layout"].is_string());
    let selftest = std::fs::read_to_string(out.join("selftest.jsonl")).unwrap();
    let last: serde_json::Value = serde_json::from_str(selftest.lines().last().unwrap()).unwrap();
    assert_eq!(last["pass"], true, "{last}");
    // The roofline and peak fractions the device run records.
    for f in ["fft.json", "forward-n16.json", "forward-n16-g2.json"] {
        let v = json(&out.join(f));
        let row = &v["rows"][0];
        let frac = row["roofline_fraction"]
            .as_f64()
            .or_else(|| extra(row, "roofline_fraction"))
            .unwrap_or_else(|| panic!("{f}: no roofline fraction in {row}"));
        let gbs = row["gpu_gbs"].as_f64().unwrap();
        assert!(
            (frac - gbs / 50.0).abs() <= 1e-9 * frac.max(1.0),
            "{f}: {frac} vs {gbs}/50"
        );
    }
    let conv = json(&out.join("conv-n16.json"));
    for row in conv["rows"].as_array().unwrap() {
        let gf = extra(row, "GFLOP/s").unwrap();
        let frac = extra(row, "peak_fraction").unwrap();
        assert!((frac - gf / 500.0).abs() <= 1e-12 * frac, "{row}");
    }
    for f in [
        "network-n16.json",
        "train-n16.json",
        "train-n16-g2.json",
        "train-n32.json",
    ] {
        let v = json(&out.join(f));
        assert!(v.is_object(), "{f}");
    }
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn a_spent_budget_skips_and_a_missing_binary_is_one_line() {
    let out = std::env::temp_dir().join(format!("ptycho-gpu-check-skip-{}", std::process::id()));
    let run = script(&[
        "--small",
        "--bin",
        env!("CARGO_BIN_EXE_ptycho"),
        "--out",
        out.to_str().unwrap(),
        "--budget",
        "5",
    ]);
    assert_eq!(run.status.code(), Some(1));
    let summary = std::fs::read_to_string(out.join("summary.tsv")).unwrap();
    assert!(
        summary
            .lines()
            .skip(1)
            .all(|l| l.split('\t').nth(1) == Some("skipped")),
        "{summary}"
    );
    let _ = std::fs::remove_dir_all(&out);

    let run = script(&["--bin", "/nonexistent/ptycho"]);
    assert_eq!(run.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("/nonexistent/ptycho"), "{stderr}");
}

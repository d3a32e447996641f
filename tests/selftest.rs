//! `ptycho selftest`: every kernel against its twin passes on the test adapter and covers
//! every kernel the adapter can run, and the self test can fail: a deliberately wrong twin, a
//! zero tolerance, from the library and from the binary.

mod common;

use ptycho::nn::ConvLayout;
use ptycho::workflow::selftest::{self, Bound, Check, Comparison};

#[test]
fn every_check_passes_and_every_kernel_is_covered() {
    let Some(engine) = common::gpu_or_skip() else {
        return;
    };
    let checks = selftest::all_checks(&engine);
    let outcomes = selftest::run(&engine, &checks, 1.0, |_| {});
    let failed: Vec<String> = outcomes
        .iter()
        .filter(|o| !o.pass)
        .map(|o| o.describe())
        .collect();
    assert!(failed.is_empty(), "{failed:#?}");
    let covered = selftest::covered(&outcomes);
    let subgroup = ConvLayout::available(&engine).contains(&ConvLayout::Subgroup);
    for k in ptycho::kernels::all() {
        if k.name.ends_with("_subgroup") && !subgroup {
            continue;
        }
        assert!(
            covered.contains(&k.name),
            "selftest does not run {}",
            k.name
        );
    }
    assert!(covered.contains(&"training step"));
}

#[test]
fn a_wrong_twin_or_a_zero_tolerance_fails() {
    let Some(engine) = common::gpu_or_skip() else {
        return;
    };
    // The cmul check's GPU side, against a twin that forgets the conjugate.
    let wrong = Check {
        kernel: "cmul",
        covers: vec!["cmul"],
        variant: "wrong twin".into(),
        shape: "1×8".into(),
        bound: Bound::ROUNDING,
        run: Box::new(|e| {
            use num_complex::Complex32;
            let a: Vec<Complex32> = (0..8).map(|k| Complex32::new(k as f32, 1.0)).collect();
            let b: Vec<Complex32> = (0..8).map(|k| Complex32::new(1.0, k as f32)).collect();
            let (ga, gb) = (e.upload("a", &a)?, e.upload("b", &b)?);
            let go = e.alloc::<Complex32>("out", 8)?;
            let mut rec = e.recording("wrong");
            ptycho::linalg::Cmul::new(e)?.record(e, &mut rec, &ga, &gb, &go, 8, true)?;
            let id = rec.read(&go);
            let got: Vec<Complex32> = e.submit(rec)?.get(id);
            let twin = ptycho::linalg::cpu::cmul(&a, &b, 8, false);
            let flat = |v: &[Complex32]| -> Vec<f64> {
                v.iter().flat_map(|z| [z.re as f64, z.im as f64]).collect()
            };
            Ok(Comparison {
                gpu: flat(&got),
                twin: flat(&twin),
            })
        }),
    };
    let out = selftest::run(&engine, &[wrong], 1.0, |_| {});
    assert!(!out[0].pass && out[0].rel_l2 > 0.1, "{:?}", out[0]);
    assert!(out[0].describe().starts_with("cmul [wrong twin]"));
    // The real checks of a kernel with rounding, held to a zero bound.
    let checks: Vec<Check> = selftest::all_checks(&engine)
        .into_iter()
        .filter(|c| c.kernel == "reduce_sum")
        .collect();
    let out = selftest::run(&engine, &checks, 0.0, |_| {});
    assert!(out.iter().all(|o| !o.pass && o.rel_l2 > 0.0), "{out:?}");
    // A NaN from the GPU is a failure, not a comparison that happens to pass.
    let nan = Comparison {
        gpu: vec![f64::NAN],
        twin: vec![1.0],
    };
    assert_eq!(nan.errors().0, f64::INFINITY);
}

#[test]
fn the_binary_exits_1_naming_the_first_failure() {
    let Some(_) = common::gpu_or_skip() else {
        return;
    };
    let ok = common::ptycho(["selftest", "--only", "axpy"]);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let stdout = String::from_utf8_lossy(&ok.stdout);
    assert!(stdout.contains("1 of 1 checks passed"), "{stdout}");
    let bad = common::ptycho(["selftest", "--only", "reduce_sum", "--tolerance-scale", "0"]);
    assert_eq!(bad.status.code(), Some(1));
    let err = String::from_utf8_lossy(&bad.stderr);
    let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(
        lines[0].contains("2 of 2 checks failed") && lines[0].contains("first: reduce_sum [plain]"),
        "{err}"
    );
    let none = common::ptycho(["selftest", "--only", "no_such_kernel"]);
    assert_eq!(none.status.code(), Some(2));
}

#[test]
fn every_check_passes_under_webgpu_limits() {
    // The tiles small adapters get (16 KiB of workgroup memory, 256 invocations), run on this
    // adapter by creating the device with WebGPU's default limits.
    if common::gpu_or_skip().is_none() {
        return;
    }
    let out = common::ptycho_env(["selftest", "--json"], &[("PTYCHO_LIMITS", "webgpu")]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: serde_json::Value =
        serde_json::from_str(stdout.lines().last().expect("summary line")).unwrap();
    assert_eq!(summary["limits"]["profile"], "webgpu", "{summary}");
    assert!(
        summary["limits"]["workgroup_storage_bytes"]
            .as_u64()
            .unwrap()
            <= 16384
    );
    assert!(
        summary["limits"]["invocations_per_workgroup"]
            .as_u64()
            .unwrap()
            <= 256
    );
    assert_eq!(summary["failed"], 0, "{summary}");
    assert!(summary["checks"].as_u64().unwrap() > 40, "{summary}");
}

//! The binary end to end: `devices`, accelerator errors, bench JSON (every conv layout).

mod common;

use common::ptycho;

/// Runs ptycho, asserts that it succeeded (showing its stderr if not) and parses its stdout.
fn ptycho_json(args: &[&str]) -> serde_json::Value {
    let out = ptycho(args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn devices_json_lists_adapters_and_marks_auto() {
    let Some(engine) = common::gpu_or_skip() else {
        return;
    };
    let v = ptycho_json(&["devices", "--json"]);
    let list = v.as_array().unwrap();
    assert!(!list.is_empty());
    assert_eq!(list.iter().filter(|a| a["auto_pick"] == true).count(), 1);
    for a in list {
        for key in [
            "name",
            "backend",
            "device_type",
            "driver",
            "max_workgroup_storage_bytes",
            "max_storage_binding_bytes",
            "timestamp_query",
        ] {
            assert!(a.get(key).is_some(), "missing {key}");
        }
    }
    // The adapter the engine opened under `auto` is the one marked.
    let picked = list.iter().find(|a| a["auto_pick"] == true).unwrap();
    assert_eq!(picked["name"], engine.adapter_info().name.as_str());
}

#[test]
fn devices_shows_the_conv_layout_its_reason_and_tiles_that_fit() {
    let Some(engine) = common::gpu_or_skip() else {
        return;
    };
    let v = ptycho_json(&["devices", "--json"]);
    let picked = v
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["auto_pick"] == true)
        .unwrap()
        .clone();
    // The layout shown is the one the engine builds.
    let want = ptycho::nn::ConvLayout::auto(&engine);
    assert_eq!(picked["conv_layout"], want.as_str(), "{picked}");
    assert!(!picked["conv_reason"].as_str().unwrap().is_empty());
    // PtychoPINN's network at N = 64, scale 2: 11 distinct conv shapes, the first 1→64.
    let convs = picked["convs"].as_array().unwrap();
    assert_eq!(convs[0]["cin"], 1);
    assert_eq!(convs[0]["cout"], 64);
    assert!(convs.iter().any(|c| c["cin"] == 256 && c["cout"] == 256));
    assert_eq!(picked["fft"][0]["len"], 64);

    // Under WebGPU's limits with the tiled layout forced, every tile fits 16 KiB.
    let out = common::ptycho_env(
        ["devices", "--json"],
        &[("PTYCHO_LIMITS", "webgpu"), ("PTYCHO_CONV_LAYOUT", "tiled")],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for a in v.as_array().unwrap() {
        assert_eq!(a["conv_layout"], "tiled");
        assert!(a["conv_reason"].as_str().unwrap().contains("forced"));
        assert!(
            a["profile"]["limits"]["workgroup_storage_bytes"]
                .as_u64()
                .unwrap()
                <= 16384
        );
        for c in a["convs"].as_array().unwrap() {
            let bytes = c["workgroup_bytes"].as_u64().unwrap();
            assert!(bytes > 0 && bytes <= 16384, "{c}");
        }
    }
    // Forcing the subgroup layout where an adapter cannot run it says why there.
    let out = common::ptycho_env(["devices", "--json"], &[("PTYCHO_CONV_LAYOUT", "subgroup")]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for a in v.as_array().unwrap() {
        let valid = a["profile"]["subgroups"] == true
            && a["profile"]["limits"]["subgroup_min_size"] == 8
            && a["profile"]["limits"]["subgroup_max_size"] == 8;
        if valid {
            assert_eq!(a["conv_layout"], "subgroup");
        } else {
            assert!(a["conv_layout"].is_null());
            assert!(
                a["conv_reason"].as_str().unwrap().contains("exactly 8"),
                "{a}"
            );
            assert!(a["convs"].as_array().unwrap().is_empty());
        }
    }
}

#[test]
fn unavailable_accelerator_fails_with_one_line() {
    let missing = if cfg!(target_os = "windows") {
        "metal"
    } else {
        "dx12"
    };
    for args in [
        vec!["--accelerator", missing, "devices"],
        vec!["--accelerator", missing, "bench", "cmul"],
    ] {
        let out = ptycho(&args);
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        let lines: Vec<_> = err.lines().filter(|l| l.starts_with("error:")).collect();
        assert_eq!(lines.len(), 1, "{err}");
        assert!(
            lines[0].contains(&format!("'{missing}'")) && lines[0].contains("adapters present"),
            "{err}"
        );
        assert!(
            out.stdout.is_empty(),
            "nothing should be printed before failing"
        );
    }
}

#[test]
fn unknown_accelerator_value_is_rejected_by_the_parser() {
    let out = ptycho(["--accelerator", "cuda", "devices"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cuda") && err.contains("vulkan"), "{err}");
}

#[test]
fn bench_json_reports_ratios() {
    let Some(_) = common::gpu_or_skip() else {
        return;
    };
    let v = ptycho_json(&[
        "bench",
        "fft",
        "--n",
        "16",
        "--batch",
        "4",
        "--repeats",
        "2",
        "--warmup",
        "1",
        "--json",
    ]);
    let row = &v["rows"][0];
    assert_eq!(row["n"], 16);
    assert_eq!(row["passes"], 2);
    assert!(row["gpu_us_per_frame"].as_f64().unwrap() > 0.0);
    assert!(row["gpu_over_cpu1"].as_f64().unwrap() > 0.0);
    let v = ptycho_json(&[
        "bench",
        "cmul",
        "--n",
        "16",
        "--batch",
        "4",
        "--repeats",
        "2",
        "--json",
    ]);
    assert!(v["rows"][0]["gpu_gbs"].as_f64().unwrap() > 0.0);
}

#[test]
fn bench_train_reports_rates_and_split() {
    let Some(_) = common::gpu_or_skip() else {
        return;
    };
    let v = ptycho_json(&[
        "bench",
        "train",
        "--n",
        "16",
        "--batch",
        "4",
        "--repeats",
        "1",
        "--warmup",
        "0",
        "--json",
    ]);
    assert!(v["train_patterns_per_s"].as_f64().unwrap() > 0.0);
    assert!(v["infer_patterns_per_s"].as_f64().unwrap() > 0.0);
    let kernels: Vec<&str> = v["kernels_ms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k[0].as_str().unwrap())
        .collect();
    for k in ["conv2d_fwd", "fft_lines", "amp_loss", "adam"] {
        assert!(kernels.contains(&k), "{k} missing from {kernels:?}");
    }
    // Every conv layout the adapter can run, the tiled one first.
    let runs = v["runs"].as_array().unwrap();
    assert_eq!(runs[0]["conv_layout"], "tiled");
    for r in runs {
        assert!(r["train_patterns_per_s"].as_f64().unwrap() > 0.0);
        if r["conv_layout"] == "subgroup" {
            let k = r["kernels_ms"].as_array().unwrap();
            assert!(k.iter().any(|k| k[0] == "conv2d_fwd_subgroup"), "{k:?}");
        }
    }
}

#[test]
fn bench_quality_runs_the_pipeline_and_reports_metrics() {
    let Some(_) = common::gpu_or_skip() else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("ptycho-quality-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let v = ptycho_json(&[
        "bench",
        "quality",
        "--epochs",
        "1",
        "--n-images",
        "24",
        "--object-size",
        "96",
        "--test-step",
        "16",
        "--mae-weight",
        "0.5",
        "--output-dir",
        dir.to_str().unwrap(),
        "--json",
    ]);
    for k in ["amplitude_ssim", "phase_ssim"] {
        let x = v[k].as_f64().unwrap();
        assert!((-1.0..=1.0).contains(&x), "{k} = {x}");
    }
    assert_eq!(v["epochs"], 1);
    assert!(v["target_reached"].is_boolean());
    // A 3×3 test grid (positions 32, 48, 64) on a 96-pixel object, one group each.
    assert_eq!(v["report"]["infer"]["patterns"], 9 * 4);
    // The loss weights reach the training config; the probe carries the default 10-rad defocus
    // (F-15): its phase at the centre pixel is ≈ 10·(0.5² + 0.5²)/16² rad, at 8 px out larger.
    let cfg: toml::Table = std::fs::read_to_string(dir.join("run/config.toml"))
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(cfg["training"]["mae_weight"].as_float(), Some(0.5), "{cfg}");
    assert_eq!(cfg["training"]["nll_weight"].as_float(), Some(1.0), "{cfg}");
    let mut npz =
        ndarray_npy::NpzReader::new(std::fs::File::open(dir.join("train.npz")).unwrap()).unwrap();
    let probe = npz
        .by_name::<ndarray::OwnedRepr<num_complex::Complex32>, ndarray::Ix2>("probeGuess")
        .unwrap();
    let phase = |y: usize, x: usize| probe[[y, x]].arg() as f64;
    let meta = ptycho::data::npz::read_dataset(&dir.join("train.npz"))
        .unwrap()
        .metadata;
    assert_eq!(meta["probe_defocus_rad"], 10.0, "{meta}");
    assert!(
        (phase(32, 32) - 10.0 * 0.5 / 256.0).abs() < 1e-4,
        "{}",
        phase(32, 32)
    );
    assert!((phase(32, 36) - 10.0 * (4.5f64.powi(2) + 0.25) / 256.0).abs() < 1e-4);
    for f in [
        "train.npz",
        "test.npz",
        "run/model.npz",
        "out/reconstruction.npz",
        "out/metrics.json",
        "out/reconstruction_probe.npz",
        "out/metrics_probe.json",
    ] {
        assert!(dir.join(f).is_file(), "{f} missing");
    }
    // The probe-weighted comparison is the same predictions stitched as `ptycho infer
    // --patch-weighting probe` stitches them, and its metrics are that file's.
    let probe_out = dir.join("infer-probe");
    let run = dir.join("run");
    let test = dir.join("test.npz");
    let out = ptycho([
        "infer",
        "--model",
        run.to_str().unwrap(),
        "--test-data",
        test.to_str().unwrap(),
        "--output-dir",
        probe_out.to_str().unwrap(),
        "--patch-weighting",
        "probe",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let object = |p: &std::path::Path| {
        let mut npz = ndarray_npy::NpzReader::new(std::fs::File::open(p).unwrap()).unwrap();
        npz.by_name::<ndarray::OwnedRepr<num_complex::Complex32>, ndarray::Ix2>("object")
            .unwrap()
    };
    let (a, b) = (
        object(&dir.join("out/reconstruction_probe.npz")),
        object(&probe_out.join("reconstruction.npz")),
    );
    assert_eq!(a.dim(), b.dim());
    let worst = a
        .iter()
        .zip(&b)
        .map(|(x, y)| (x - y).norm())
        .fold(0.0f32, f32::max);
    assert!(worst < 1e-5, "probe-weighted restitch differs by {worst}");
    let uniform = object(&dir.join("out/reconstruction.npz"));
    assert!(
        uniform.iter().zip(&a).any(|(x, y)| (x - y).norm() > 1e-3),
        "the two weightings gave the same object"
    );
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("out/metrics_probe.json")).unwrap())
            .unwrap();
    assert_eq!(
        v["probe_weighting"]["amplitude_ssim"].as_f64(),
        m["amplitude"]["ssim"].as_f64(),
        "{m}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bench_conv_and_network_measure_every_layout() {
    let Some(engine) = common::gpu_or_skip() else {
        return;
    };
    let layouts: Vec<String> = ptycho::nn::ConvLayout::available(&engine)
        .iter()
        .map(|l| l.to_string())
        .collect();
    for which in ["conv", "network"] {
        let v = ptycho_json(&[
            "bench",
            which,
            "--n",
            "16",
            "--batch",
            "2",
            "--repeats",
            "1",
            "--warmup",
            "0",
            "--json",
        ]);
        let names: Vec<&str> = v["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap())
            .collect();
        for l in &layouts {
            assert!(
                names.iter().any(|n| n.ends_with(&format!(".{l}"))),
                "bench {which}: no {l} rows in {names:?}"
            );
        }
    }
    // An unknown layout is a one-line error.
    let out = ptycho(["bench", "conv", "--n", "16", "--layout", "winograd"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("winograd"));
}

/// Bad `simulate` flags are one-line errors naming the flag and value, checked before any file
/// is read, and nothing is written.
#[test]
fn bad_simulate_flags_are_one_line_errors() {
    let dir = std::env::temp_dir().join(format!("ptycho-sim-flags-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let output = dir.join("out.npz");
    let missing = dir.join("missing.npz");
    for (flags, names) in [
        (vec!["--nphotons=-1"], "--nphotons -1"),
        (vec!["--split", "1.5"], "--split 1.5"),
        (vec!["--probe-defocus", "nan"], "--probe-defocus NaN"),
        // The flag is checked before the (missing) input file is opened.
        (
            vec![
                "--probe-defocus",
                "inf",
                "--input",
                missing.to_str().unwrap(),
            ],
            "--probe-defocus inf",
        ),
        (vec!["--n", "48"], "--n 48"),
    ] {
        let mut args = vec!["simulate", "--output", output.to_str().unwrap()];
        args.extend(&flags);
        let out = ptycho(&args);
        assert!(!out.status.success(), "{flags:?} accepted");
        let err = String::from_utf8_lossy(&out.stderr);
        let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
        assert_eq!(lines.len(), 1, "{flags:?}: {err}");
        assert!(lines[0].contains(names), "{flags:?}: {err}");
        assert!(!output.exists(), "{flags:?} wrote output");
    }
    assert_eq!(
        std::fs::read_dir(&dir).unwrap().count(),
        0,
        "nothing written"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

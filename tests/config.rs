//! Configuration precedence (flag > file > default), source tracking, bad input (exit code 2),
//! and the separation of execution settings from data/model settings.

mod common;

use std::io::Write;

use common::ptycho;
use ptycho::config::{self, Config, ConfigError, Source};

fn file(text: &str) -> tempfile_lite::TempFile {
    tempfile_lite::TempFile::new(text)
}

mod tempfile_lite {
    //! A tiny temp-file helper (std only).
    use std::path::PathBuf;
    pub(crate) struct TempFile(pub(crate) PathBuf);
    impl TempFile {
        pub(crate) fn new(text: &str) -> Self {
            static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
            let k = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let p =
                std::env::temp_dir().join(format!("ptycho-cfg-{}-{k}.toml", std::process::id()));
            std::fs::write(&p, text).unwrap();
            TempFile(p)
        }
    }
    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
}

#[test]
fn flag_beats_file_beats_default() {
    let f = file("[training]\nepochs = 7\nbatch_size = 8\n[data]\ngridsize = 2\n");
    let flags = vec![("training.epochs", toml::Value::Integer(3))];
    let r = config::resolve(Some(&f.0), &flags).unwrap();
    assert_eq!(r.config.training.epochs, 3);
    assert_eq!(r.sources["training.epochs"], Source::Flag);
    assert_eq!(r.config.training.batch_size, 8);
    assert_eq!(r.sources["training.batch_size"], Source::File);
    assert_eq!(r.config.data.gridsize, 2);
    assert_eq!(r.config.training.learning_rate, 1e-3);
    assert_eq!(r.sources["training.learning_rate"], Source::Default);
    let shown = r.explain();
    assert!(
        shown.contains("epochs = 3") && shown.contains("# flag"),
        "{shown}"
    );
    assert!(shown.contains("batch_size = 8") && shown.contains("# file"));
}

#[test]
fn execution_settings_never_change_data_or_model() {
    let base = config::resolve(None, &[]).unwrap().config;
    let exec_flags: Vec<(&'static str, toml::Value)> = vec![
        ("execution.accelerator", toml::Value::String("cpu".into())),
        ("execution.deterministic", toml::Value::Boolean(false)),
        ("execution.num_workers", toml::Value::Integer(4)),
        ("execution.learning_rate", toml::Value::Float(5e-4)),
        ("execution.inference_batch_size", toml::Value::Integer(64)),
        ("execution.quiet", toml::Value::Boolean(true)),
        ("execution.log_level", toml::Value::String("debug".into())),
        ("execution.conv_layout", toml::Value::String("tiled".into())),
        ("execution.max_binding_bytes", toml::Value::Integer(1 << 20)),
        ("execution.fault", toml::Value::String("oom:7".into())),
        ("execution.limits", toml::Value::String("webgpu".into())),
    ];
    // Every execution key is covered by this test.
    let exec_keys: Vec<_> = config::known_keys()
        .into_iter()
        .filter(|k| k.starts_with("execution."))
        .collect();
    assert_eq!(exec_keys.len(), exec_flags.len());
    let r = config::resolve(None, &exec_flags).unwrap().config;
    assert_eq!(r.data, base.data);
    assert_eq!(r.model, base.model);
    assert_eq!(
        r.training, base.training,
        "the learning-rate override lives in execution, not training"
    );
    assert_eq!(r.inference, base.inference);
    assert_eq!(r.learning_rate(), 5e-4);
    assert_eq!(r.inference_batch_size(), 64);
    let _ = Config::default();
}

#[test]
fn unknown_keys_wrong_types_and_bad_values_are_one_line_errors() {
    let f = file("[training]\nlearning_rat = 0.1\n");
    let e = config::resolve(Some(&f.0), &[]).unwrap_err();
    assert!(matches!(e, ConfigError::UnknownKey { .. }));
    let msg = e.to_string();
    assert!(
        msg.contains("'training.learning_rat'")
            && msg.contains("did you mean 'training.learning_rate'"),
        "{msg}"
    );
    let f = file("[trainig]\nepochs = 1\n");
    let msg = config::resolve(Some(&f.0), &[]).unwrap_err().to_string();
    assert!(
        msg.contains("trainig.epochs") && msg.contains("training.epochs"),
        "{msg}"
    );
    let f = file("[data]\ngridsize = \"two\"\n");
    let msg = config::resolve(Some(&f.0), &[]).unwrap_err().to_string();
    assert!(msg.contains("gridsize") && !msg.contains('\n'), "{msg}");
    for (key, v, needle) in [
        (
            "data.gridsize",
            toml::Value::Integer(3),
            "gridsize must be 1 or 2",
        ),
        (
            "execution.learning_rate",
            toml::Value::Float(-1.0),
            "learning rate must be > 0",
        ),
        (
            "training.accumulate_grad_batches",
            toml::Value::Integer(0),
            "accumulate must be >= 1",
        ),
        ("data.n", toml::Value::Integer(48), "power of two"),
        ("data.nphotons", toml::Value::Float(-5.0), "positive"),
    ] {
        let msg = config::resolve(None, &[(key, v)]).unwrap_err().to_string();
        assert!(msg.contains(key) && msg.contains(needle), "{msg}");
    }
}

#[test]
fn config_show_and_template_from_the_cli() {
    let out = ptycho(["config", "template"]);
    assert!(out.status.success());
    let tpl = String::from_utf8(out.stdout).unwrap();
    let parsed: Config = toml::from_str(&tpl).unwrap();
    assert_eq!(parsed, Config::default());

    let f = file("[training]\nepochs = 9\n");
    let path = f.0.to_str().unwrap();
    let out = ptycho([
        "--accelerator",
        "cpu",
        "config",
        "show",
        "--config",
        path,
        "--batch-size",
        "4",
        "--no-deterministic",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = String::from_utf8(out.stdout).unwrap();
    for (line, src) in [
        ("epochs = 9", "file"),
        ("batch_size = 4", "flag"),
        ("accelerator = \"cpu\"", "flag"),
        ("deterministic = false", "flag"),
        ("seed = 1", "default"),
    ] {
        let l = s
            .lines()
            .find(|l| l.starts_with(line))
            .unwrap_or_else(|| panic!("{line} missing:\n{s}"));
        assert!(l.ends_with(&format!("# {src}")), "{l}");
    }
}

#[test]
fn bad_config_input_exits_2_and_runs_nothing() {
    let mut f = std::fs::File::create(std::env::temp_dir().join("ptycho-bad.toml")).unwrap();
    writeln!(f, "[execution]\nworkers = 2").unwrap();
    let p = std::env::temp_dir().join("ptycho-bad.toml");
    let out = ptycho(["config", "show", "--config", p.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        err.lines().filter(|l| l.starts_with("error:")).count(),
        1,
        "{err}"
    );
    assert!(err.contains("'execution.workers'"), "{err}");
    assert!(out.stdout.is_empty());
    // Conflicting flags and out-of-range values.
    for args in [
        vec!["config", "show", "--deterministic", "--no-deterministic"],
        vec![
            "config",
            "show",
            "--no-checkpoint",
            "--checkpoint-every",
            "2",
        ],
        vec!["config", "show", "--gridsize", "3"],
        vec!["config", "show", "--learning-rate", "0", "--epochs", "0"],
    ] {
        let out = ptycho(&args);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn specs_config_md_lists_every_key() {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/specs/config.md")).unwrap();
    for key in config::known_keys() {
        let (section, leaf) = key.split_once('.').unwrap();
        let sec = text
            .find(&format!("## [{section}]"))
            .unwrap_or_else(|| panic!("no section [{section}]"));
        let next = text[sec + 1..]
            .find("\n## ")
            .map(|k| sec + 1 + k)
            .unwrap_or(text.len());
        assert!(
            text[sec..next].contains(&format!("| `{leaf}` |")),
            "specs/config.md lacks {key}"
        );
    }
}

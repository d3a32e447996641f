//! Every WGSL file parses and validates with naga (no GPU needed), every import resolves, errors
//! name the file and line, and every Rust params struct matches naga's layout of its WGSL twin.

use ptycho::gpu::shaders::{self, KERNELS, SHARED, ShaderFile};

#[test]
fn every_kernel_validates() {
    assert!(!KERNELS.is_empty());
    let mut failures = Vec::new();
    for k in KERNELS {
        if let Err(e) = shaders::validate(k) {
            failures.push(e.to_string());
        }
    }
    assert!(
        failures.is_empty(),
        "invalid shaders:\n{}",
        failures.join("\n")
    );
}

#[test]
fn every_wgsl_file_is_registered() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("shaders");
    let mut on_disk = Vec::new();
    for dom in std::fs::read_dir(&root).unwrap() {
        let dom = dom.unwrap().path();
        for f in std::fs::read_dir(&dom).unwrap() {
            let f = f.unwrap().path();
            if f.extension().is_some_and(|e| e == "wgsl") {
                on_disk.push(
                    f.strip_prefix(root.parent().unwrap())
                        .unwrap()
                        .to_string_lossy()
                        .into_owned(),
                );
            }
        }
    }
    for path in &on_disk {
        assert!(
            KERNELS.iter().chain(SHARED).any(|k| k.path == path),
            "{path} is not in src/gpu/shaders.rs"
        );
    }
    // Names follow the file stem (one name end to end).
    for k in KERNELS {
        let stem = std::path::Path::new(k.path)
            .file_stem()
            .unwrap()
            .to_str()
            .unwrap();
        assert_eq!(k.name, stem, "kernel name must equal its file stem");
    }
}

#[test]
fn errors_name_file_and_line() {
    let bad = ShaderFile {
        name: "broken",
        path: "shaders/test/broken.wgsl",
        source: "#import shared/complex\n\n@compute @workgroup_size(1)\nfn main() {\n    let x: f32 = 1u;\n}\n",
    };
    let err = shaders::validate(&bad).unwrap_err().to_string();
    assert!(err.contains("shaders/test/broken.wgsl:5:"), "{err}");
    assert!(!err.contains('\n'), "error must be one line: {err}");

    let parse = ShaderFile {
        name: "p",
        path: "shaders/test/p.wgsl",
        source: "fn main( {\n",
    };
    let err = shaders::validate(&parse).unwrap_err().to_string();
    assert!(err.contains("shaders/test/p.wgsl:1:"), "{err}");

    let import = ShaderFile {
        name: "i",
        path: "shaders/test/i.wgsl",
        source: "#import shared/nope\n",
    };
    let err = shaders::validate(&import).unwrap_err().to_string();
    assert!(
        err.contains("shared/nope") && err.contains("i.wgsl:1"),
        "{err}"
    );
}

#[test]
fn imported_lines_map_back_to_the_shared_file() {
    let k = shaders::kernel("cmul").unwrap();
    let pre = shaders::preprocess(k).unwrap();
    let n_main = k.source.lines().count();
    assert_eq!(pre.locate(1), ("shaders/linalg/cmul.wgsl", 1));
    assert_eq!(pre.locate(n_main), ("shaders/linalg/cmul.wgsl", n_main));
    let (file, line) = pre.locate(n_main + 1);
    assert!(
        file.starts_with("shaders/shared/") && line == 1,
        "{file}:{line}"
    );
}

#[test]
fn params_structs_match_wgsl_layout() {
    let twins = shaders::params_twins();
    for k in KERNELS {
        assert!(
            twins.iter().any(|t| t.kernel == k.name),
            "kernel {} has no params twin",
            k.name
        );
    }
    for t in twins {
        let (_, module) = shaders::validate(shaders::kernel(t.kernel).unwrap()).unwrap();
        let (size, align) = shaders::struct_layout(&module, t.wgsl_struct)
            .unwrap_or_else(|| panic!("{}: no struct {}", t.kernel, t.wgsl_struct));
        assert_eq!(
            size as usize, t.size,
            "{}: size of {} (WGSL) vs Rust twin",
            t.kernel, t.wgsl_struct
        );
        assert!(
            t.align <= align as usize,
            "{}: Rust twin alignment {} > WGSL {}",
            t.kernel,
            t.align,
            align
        );
        assert_eq!(
            t.size % 16,
            0,
            "{}: uniform params should be a multiple of 16 bytes",
            t.kernel
        );
    }
}

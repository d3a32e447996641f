//! Every WGSL file parses and validates with naga (no GPU needed), every import resolves, errors
//! name the file and line, and every Rust params struct matches naga's layout of its WGSL twin.

use ptycho::gpu::shaders::{self, ShaderFile};
use ptycho::kernels;

#[test]
fn every_kernel_validates() {
    assert!(!kernels::all().is_empty());
    let mut failures = Vec::new();
    for k in kernels::all() {
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
            kernels::all()
                .into_iter()
                .chain(kernels::shared())
                .any(|k| k.path == path),
            "{path} is not registered by any domain (src/kernels.rs)"
        );
    }
    // Names follow the file stem (one name end to end).
    for k in kernels::all() {
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
        library: kernels::shared(),
    };
    let err = shaders::validate(&bad).unwrap_err().to_string();
    assert!(err.contains("shaders/test/broken.wgsl:5:"), "{err}");
    assert!(!err.contains('\n'), "error must be one line: {err}");

    let parse = ShaderFile {
        name: "p",
        path: "shaders/test/p.wgsl",
        source: "fn main( {\n",
        library: kernels::shared(),
    };
    let err = shaders::validate(&parse).unwrap_err().to_string();
    assert!(err.contains("shaders/test/p.wgsl:1:"), "{err}");

    let import = ShaderFile {
        name: "i",
        path: "shaders/test/i.wgsl",
        source: "#import shared/nope\n",
        library: kernels::shared(),
    };
    let err = shaders::validate(&import).unwrap_err().to_string();
    assert!(
        err.contains("shared/nope") && err.contains("i.wgsl:1"),
        "{err}"
    );
}

#[test]
fn imported_lines_map_back_to_the_shared_file() {
    let k = kernels::kernel("cmul").unwrap();
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
    let twins = kernels::params_twins();
    for k in kernels::all() {
        assert!(
            twins.iter().any(|t| t.kernel.name == k.name),
            "kernel {} has no params twin",
            k.name
        );
    }
    for t in twins {
        let (_, module) = shaders::validate(t.kernel).unwrap();
        let layout = shaders::struct_layout(&module, t.wgsl_struct)
            .unwrap_or_else(|| panic!("{}: no struct {}", t.kernel.name, t.wgsl_struct));
        let (size, align) = (layout.size, layout.align);
        assert_eq!(
            size as usize, t.size,
            "{}: size of {} (WGSL) vs Rust twin",
            t.kernel.name, t.wgsl_struct
        );
        assert!(
            t.align <= align as usize,
            "{}: Rust twin alignment {} > WGSL {}",
            t.kernel.name,
            t.align,
            align
        );
        assert_eq!(
            t.size % 16,
            0,
            "{}: uniform params should be a multiple of 16 bytes",
            t.kernel.name
        );
        // Field by field: every member at the same offset in Rust and WGSL.
        let wrong = t.mismatches(&layout);
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }
}

/// The field-by-field check catches a Rust twin whose fields are in another order than the
/// WGSL struct's, even when size and alignment agree.
#[test]
fn a_twin_with_swapped_fields_is_caught() {
    #[repr(C)]
    #[derive(Clone, Copy)]
    struct Swapped {
        scale: f32,
        count: u32,
        _pad: [u32; 2],
    }
    static FILE: ShaderFile = ShaderFile {
        name: "twin",
        path: "shaders/test/twin.wgsl",
        source: "struct Params {\n    count: u32,\n    scale: f32,\n    _pad0: u32,\n    _pad1: u32,\n}\n@group(0) @binding(0) var<uniform> params: Params;\n@compute @workgroup_size(1)\nfn main() {\n    let c = params.count;\n}\n",
        library: &[],
    };
    let (_, module) = shaders::validate(&FILE).unwrap();
    let layout = shaders::struct_layout(&module, "Params").unwrap();
    assert_eq!(layout.members[1], ("scale".to_string(), 4));
    let twin = ptycho::params_twin!(FILE, "Params", Swapped { count, scale });
    let wrong = twin.mismatches(&layout);
    assert_eq!(wrong.len(), 2, "{wrong:?}");
    assert!(wrong[0].contains("count at offset 4 vs 0"), "{wrong:?}");
    let _ = Swapped {
        scale: 0.0,
        count: 0,
        _pad: [0; 2],
    };
}

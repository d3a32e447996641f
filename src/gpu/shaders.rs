//! The shader table: every WGSL file under `shaders/` embedded with `include_str!`, a tiny
//! `#import shared/<x>` preprocessor, and naga validation that needs no GPU.
//!
//! The preprocessor keeps line numbers of the kernel file intact: an `#import` line is turned into
//! a comment and the imported file is appended *after* the kernel (WGSL declarations may come in
//! any order), so naga's line numbers point into the right file. Errors are reported as
//! `shaders/<domain>/<name>.wgsl:<line>:<col>: <message>`.

use std::collections::BTreeSet;

use super::error::{GpuError, one_line};

/// One embedded WGSL file.
#[derive(Clone, Copy, Debug)]
pub struct ShaderFile {
    /// Kernel name (file stem; also the pipeline label `ptycho.<name>` and the bench name).
    /// For shared helpers this is the import path, e.g. `shared/complex`.
    pub name: &'static str,
    /// Path relative to the repository root.
    pub path: &'static str,
    /// WGSL source as written.
    pub source: &'static str,
}

macro_rules! shader_table {
    ($( $name:literal => $path:literal ),* $(,)?) => {
        &[ $( ShaderFile {
            name: $name,
            path: concat!("shaders/", $path),
            source: include_str!(concat!("../../shaders/", $path)),
        } ),* ]
    };
}

/// Every compute kernel. Each file has entry point `main`; binding 0 is its uniform `Params`.
pub static KERNELS: &[ShaderFile] = shader_table! {
    "cmul" => "linalg/cmul.wgsl",
    "reduce_sum" => "linalg/reduce_sum.wgsl",
    "axpy" => "linalg/axpy.wgsl",
    "fft_lines" => "fft/fft_lines.wgsl",
    "fft_stage" => "fft/fft_stage.wgsl",
    "amp_loss" => "physics/amp_loss.wgsl",
    "extract_patches" => "physics/extract_patches.wgsl",
    "translate" => "physics/translate.wgsl",
    "translate_adjoint" => "physics/translate_adjoint.wgsl",
    "merge_patches" => "physics/merge_patches.wgsl",
    "merge_patches_adjoint" => "physics/merge_patches_adjoint.wgsl",
    "probe_grad" => "physics/probe_grad.wgsl",
    "conv2d_fwd" => "nn/conv2d_fwd.wgsl",
    "conv2d_fwd_subgroup" => "nn/conv2d_fwd_subgroup.wgsl",
    "conv2d_bwd_weight" => "nn/conv2d_bwd_weight.wgsl",
    "conv2d_bwd_weight_subgroup" => "nn/conv2d_bwd_weight_subgroup.wgsl",
    "grad_reduce" => "nn/grad_reduce.wgsl",
    "maxpool2x2_fwd" => "nn/maxpool2x2_fwd.wgsl",
    "maxpool2x2_bwd" => "nn/maxpool2x2_bwd.wgsl",
    "upsample2x_fwd" => "nn/upsample2x_fwd.wgsl",
    "upsample2x_bwd" => "nn/upsample2x_bwd.wgsl",
    "pad_crop" => "nn/pad_crop.wgsl",
    "activation_fwd" => "nn/activation_fwd.wgsl",
    "activation_bwd" => "nn/activation_bwd.wgsl",
    "object_patch" => "nn/object_patch.wgsl",
    "object_patch_bwd" => "nn/object_patch_bwd.wgsl",
    "adam" => "nn/adam.wgsl",
    "mse_grad" => "nn/mse_grad.wgsl",
};

/// Helpers that kernels pull in with `#import shared/<x>`.
pub static SHARED: &[ShaderFile] = shader_table! {
    "shared/complex" => "shared/complex.wgsl",
    "shared/index" => "shared/index.wgsl",
    "shared/fft" => "shared/fft.wgsl",
    "shared/bilinear" => "shared/bilinear.wgsl",
    "shared/halo8" => "shared/halo8.wgsl",
};

/// Looks a kernel up by name.
pub fn kernel(name: &str) -> Result<&'static ShaderFile, GpuError> {
    KERNELS
        .iter()
        .find(|k| k.name == name)
        .ok_or_else(|| GpuError::UnknownKernel(name.to_string()))
}

/// A kernel with its imports expanded, plus the map from output lines back to files.
#[derive(Clone, Debug)]
pub struct Preprocessed {
    /// The WGSL text handed to naga / wgpu.
    pub text: String,
    /// `(first line (1-based) in text, file path)` for each concatenated piece, in order.
    pub pieces: Vec<(usize, &'static str)>,
}

impl Preprocessed {
    /// Maps a 1-based line in [`Self::text`] to `(file, line in that file)`.
    pub fn locate(&self, line: usize) -> (&'static str, usize) {
        let mut found = self.pieces[0];
        for &p in &self.pieces {
            if p.0 <= line {
                found = p;
            }
        }
        (found.1, line + 1 - found.0)
    }
}

fn import_target(line: &str) -> Option<&str> {
    line.trim_start().strip_prefix("#import ").map(str::trim)
}

/// Expands `#import shared/<x>` lines (transitively, each file once).
pub fn preprocess(file: &ShaderFile) -> Result<Preprocessed, GpuError> {
    let mut text = String::new();
    let mut pieces = Vec::new();
    let mut seen = BTreeSet::new();
    let mut queue = vec![*file];
    let mut line_no = 1usize;
    while let Some(f) = queue.pop() {
        pieces.push((line_no, f.path));
        for (k, line) in f.source.lines().enumerate() {
            if let Some(target) = import_target(line) {
                let shared = SHARED.iter().find(|s| s.name == target).ok_or_else(|| {
                    GpuError::ShaderInvalid {
                        path: format!("{}:{}", f.path, k + 1),
                        message: format!(
                            "unknown import '{target}' (known: shared/complex, shared/index, shared/fft, shared/halo8)"
                        ),
                    }
                })?;
                if seen.insert(shared.name) {
                    queue.insert(0, *shared);
                }
                text.push_str("// ");
            }
            text.push_str(line);
            text.push('\n');
            line_no += 1;
        }
    }
    Ok(Preprocessed { text, pieces })
}

/// Parses and validates a preprocessed shader with naga; errors name file and line.
pub fn validate_source(
    pre: &Preprocessed,
) -> Result<(naga::Module, naga::valid::ModuleInfo), GpuError> {
    let main_path = pre.pieces[0].1;
    let located = |loc: Option<naga::SourceLocation>, msg: String| {
        let path = match loc {
            Some(l) => {
                let (file, line) = pre.locate(l.line_number as usize);
                format!("{file}:{line}:{}", l.line_position)
            }
            None => main_path.to_string(),
        };
        GpuError::ShaderInvalid { path, message: msg }
    };
    let module = naga::front::wgsl::parse_str(&pre.text)
        .map_err(|e| located(e.location(&pre.text), one_line(&e.message().to_string())))?;
    let info = naga::valid::Validator::new(
        naga::valid::ValidationFlags::all(),
        naga::valid::Capabilities::all(),
    )
    .validate(&module)
    .map_err(|e| {
        let loc = e.location(&pre.text);
        let mut msg = e.as_inner().to_string();
        let mut src: Option<&dyn std::error::Error> = std::error::Error::source(e.as_inner());
        while let Some(s) = src {
            msg.push_str(": ");
            msg.push_str(&s.to_string());
            src = s.source();
        }
        located(loc, one_line(&msg))
    })?;
    if !module.entry_points.iter().any(|e| e.name == "main") {
        return Err(GpuError::ShaderInvalid {
            path: main_path.to_string(),
            message: "no entry point named `main`".into(),
        });
    }
    Ok((module, info))
}

/// Preprocesses and validates a registered kernel.
pub fn validate(file: &ShaderFile) -> Result<(Preprocessed, naga::Module), GpuError> {
    let pre = preprocess(file)?;
    let (module, _) = validate_source(&pre)?;
    Ok((pre, module))
}

/// `(size, alignment)` in bytes of the WGSL struct `name` in `module`, as naga lays it out.
pub fn struct_layout(module: &naga::Module, name: &str) -> Option<(u32, u32)> {
    let mut layouter = naga::proc::Layouter::default();
    layouter.update(module.to_ctx()).ok()?;
    module.types.iter().find_map(|(h, t)| {
        (t.name.as_deref() == Some(name)).then(|| {
            let l = layouter[h];
            (l.size, l.alignment.round_up(1))
        })
    })
}

/// A Rust params struct and the WGSL struct it mirrors, for the layout test.
#[derive(Clone, Copy, Debug)]
pub struct ParamsTwin {
    /// Kernel whose WGSL declares the struct.
    pub kernel: &'static str,
    /// WGSL struct name.
    pub wgsl_struct: &'static str,
    /// `size_of` of the Rust twin.
    pub size: usize,
    /// `align_of` of the Rust twin.
    pub align: usize,
}

macro_rules! twin {
    ($kernel:literal, $wgsl:literal, $ty:ty) => {
        ParamsTwin {
            kernel: $kernel,
            wgsl_struct: $wgsl,
            size: std::mem::size_of::<$ty>(),
            align: std::mem::align_of::<$ty>(),
        }
    };
}

/// Every `#[repr(C)]` params struct with its WGSL twin (checked by `tests/shaders_valid.rs`).
pub fn params_twins() -> Vec<ParamsTwin> {
    vec![
        twin!("cmul", "Params", crate::linalg::CmulParams),
        twin!("reduce_sum", "Params", crate::linalg::ReduceParams),
        twin!("axpy", "Params", crate::linalg::AxpyParams),
        twin!("fft_lines", "Params", crate::fft::LinesParams),
        twin!("fft_stage", "Params", crate::fft::StageParams),
        twin!("amp_loss", "Params", crate::physics::AmpLossParams),
        twin!("extract_patches", "Params", crate::physics::ExtractParams),
        twin!("translate", "Params", crate::physics::TranslateParams),
        twin!(
            "translate_adjoint",
            "Params",
            crate::physics::TranslateParams
        ),
        twin!("merge_patches", "Params", crate::physics::MergeParams),
        twin!(
            "merge_patches_adjoint",
            "Params",
            crate::physics::MergeParams
        ),
        twin!("probe_grad", "Params", crate::physics::ProbeGradParams),
        twin!("conv2d_fwd", "Params", crate::nn::ConvParams),
        twin!("conv2d_fwd_subgroup", "Params", crate::nn::ConvParams),
        twin!("conv2d_bwd_weight", "Params", crate::nn::ConvWeightParams),
        twin!(
            "conv2d_bwd_weight_subgroup",
            "Params",
            crate::nn::ConvWeightParams
        ),
        twin!("grad_reduce", "Params", crate::nn::GradReduceParams),
        twin!("maxpool2x2_fwd", "Params", crate::nn::PoolParams),
        twin!("maxpool2x2_bwd", "Params", crate::nn::PoolParams),
        twin!("upsample2x_fwd", "Params", crate::nn::UpsampleParams),
        twin!("upsample2x_bwd", "Params", crate::nn::UpsampleParams),
        twin!("pad_crop", "Params", crate::nn::PadCropParams),
        twin!("activation_fwd", "Params", crate::nn::ActParams),
        twin!("activation_bwd", "Params", crate::nn::ActParams),
        twin!("object_patch", "Params", crate::nn::ObjectParams),
        twin!("object_patch_bwd", "Params", crate::nn::ObjectParams),
        twin!("adam", "Params", crate::nn::AdamParams),
        twin!("mse_grad", "Params", crate::nn::MseParams),
    ]
}

/// Evaluates a global expression that is a literal or an override (by name in `constants`, else
/// its default); `None` for anything more complex.
fn eval_u32(
    module: &naga::Module,
    expr: naga::Handle<naga::Expression>,
    constants: &[(&str, f64)],
) -> Option<u32> {
    match module.global_expressions[expr] {
        naga::Expression::Literal(l) => match l {
            naga::Literal::U32(v) => Some(v),
            naga::Literal::I32(v) => u32::try_from(v).ok(),
            naga::Literal::AbstractInt(v) => u32::try_from(v).ok(),
            _ => None,
        },
        naga::Expression::Binary { op, left, right } => {
            let (a, b) = (
                eval_u32(module, left, constants)?,
                eval_u32(module, right, constants)?,
            );
            match op {
                naga::BinaryOperator::Multiply => a.checked_mul(b),
                naga::BinaryOperator::Add => a.checked_add(b),
                naga::BinaryOperator::Subtract => a.checked_sub(b),
                naga::BinaryOperator::Divide => a.checked_div(b),
                _ => None,
            }
        }
        naga::Expression::Override(h) => {
            let o = &module.overrides[h];
            match o
                .name
                .as_deref()
                .and_then(|n| constants.iter().find(|(k, _)| *k == n))
            {
                Some(&(_, v)) => (v >= 0.0 && v <= u32::MAX as f64).then_some(v as u32),
                None => eval_u32(module, o.init?, constants),
            }
        }
        _ => None,
    }
}

/// What a kernel asks of the device once its override constants are applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KernelNeeds {
    /// `@workgroup_size` (x, y, z), where it could be evaluated.
    pub workgroup_size: Option<[u32; 3]>,
    /// Bytes of fixed-size `var<workgroup>` declarations.
    pub workgroup_bytes: u32,
}

/// Evaluates the workgroup size and workgroup memory of `main` under `constants`.
pub fn kernel_needs(module: &naga::Module, constants: &[(&str, f64)]) -> KernelNeeds {
    let ep = module.entry_points.iter().find(|e| e.name == "main");
    let workgroup_size = ep.and_then(|ep| match &ep.workgroup_size_overrides {
        None => Some(ep.workgroup_size),
        Some(ov) => {
            let mut out = ep.workgroup_size;
            for (d, o) in ov.iter().enumerate() {
                if let Some(h) = o {
                    out[d] = eval_u32(module, *h, constants)?;
                }
            }
            Some(out)
        }
    });
    let mut layouter = naga::proc::Layouter::default();
    let workgroup_bytes = if layouter.update(module.to_ctx()).is_ok() {
        module
            .global_variables
            .iter()
            .filter(|(_, g)| g.space == naga::AddressSpace::WorkGroup)
            .map(|(_, g)| match module.types[g.ty].inner {
                naga::TypeInner::Array {
                    size: naga::ArraySize::Pending(o),
                    stride,
                    ..
                } => {
                    let count = module.overrides[o]
                        .init
                        .and_then(|e| eval_u32(module, e, constants))
                        .unwrap_or(0);
                    stride.saturating_mul(count)
                }
                _ => layouter[g.ty].size,
            })
            .sum()
    } else {
        0
    };
    KernelNeeds {
        workgroup_size,
        workgroup_bytes,
    }
}

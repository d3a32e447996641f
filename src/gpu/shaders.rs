//! WGSL files as the engine sees them ([`ShaderFile`]: name, path, source and the helpers it may
//! import), a tiny `#import shared/<x>` preprocessor, naga validation that needs no GPU, and the
//! layout of a WGSL struct for the params-twin test. The files themselves are declared by the
//! domains that own them (`crate::wgsl` holds the shared helpers); the engine knows no kernel
//! by name.
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
    /// The helpers its `#import shared/<x>` lines may name (the domains' shared library).
    pub library: &'static [ShaderFile],
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
                let shared = f.library.iter().find(|s| s.name == target).ok_or_else(|| {
                    let known: Vec<&str> = f.library.iter().map(|s| s.name).collect();
                    GpuError::ShaderInvalid {
                        path: format!("{}:{}", f.path, k + 1),
                        message: format!("unknown import '{target}' (known: {})", known.join(", ")),
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
        .map_err(|e| located(e.location(&pre.text), one_line(e.message())))?;
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

/// Layout of a WGSL struct as naga computes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StructLayout {
    /// Size in bytes.
    pub size: u32,
    /// Alignment in bytes.
    pub align: u32,
    /// `(member name, byte offset)` in declaration order.
    pub members: Vec<(String, u32)>,
}

/// The layout of the WGSL struct `name` in `module`, as naga lays it out.
pub fn struct_layout(module: &naga::Module, name: &str) -> Option<StructLayout> {
    let mut layouter = naga::proc::Layouter::default();
    layouter.update(module.to_ctx()).ok()?;
    module.types.iter().find_map(|(h, t)| {
        (t.name.as_deref() == Some(name)).then(|| {
            let l = layouter[h];
            let members = match &t.inner {
                naga::TypeInner::Struct { members, .. } => members
                    .iter()
                    .map(|m| (m.name.clone().unwrap_or_default(), m.offset))
                    .collect(),
                _ => Vec::new(),
            };
            StructLayout {
                size: l.size,
                align: l.alignment.round_up(1),
                members,
            }
        })
    })
}

/// A Rust params struct and the WGSL struct it mirrors, for the layout test: the domains list
/// theirs with [`params_twin!`](crate::params_twin).
#[derive(Clone, Debug)]
pub struct ParamsTwin {
    /// The kernel whose WGSL declares the struct.
    pub kernel: &'static ShaderFile,
    /// WGSL struct name.
    pub wgsl_struct: &'static str,
    /// Rust type name (for messages).
    pub rust_type: &'static str,
    /// `size_of` of the Rust twin.
    pub size: usize,
    /// `align_of` of the Rust twin.
    pub align: usize,
    /// `(field name, offset_of)` of every field of the Rust twin but its padding.
    pub fields: Vec<(&'static str, usize)>,
}

impl ParamsTwin {
    /// Differences between this Rust twin and naga's layout of the WGSL struct (empty when
    /// they agree): size, alignment, and every field's name and offset, in order.
    pub fn mismatches(&self, wgsl: &StructLayout) -> Vec<String> {
        let mut out = Vec::new();
        let who = format!(
            "{}: {} (Rust) vs {} (WGSL)",
            self.kernel.name, self.rust_type, self.wgsl_struct
        );
        if wgsl.size as usize != self.size {
            out.push(format!("{who}: size {} vs {}", self.size, wgsl.size));
        }
        if self.align > wgsl.align as usize {
            out.push(format!("{who}: alignment {} > {}", self.align, wgsl.align));
        }
        if self.size % 16 != 0 {
            out.push(format!(
                "{who}: size {} is not a multiple of 16 bytes (uniform params)",
                self.size
            ));
        }
        // Every field the Rust twin lists sits at the same offset as the WGSL member of that
        // name; every WGSL member that is not padding (`_…`) is listed.
        for (rn, ro) in &self.fields {
            match wgsl.members.iter().find(|(wn, _)| wn == rn) {
                Some((_, wo)) if *wo as usize == *ro => {}
                Some((_, wo)) => out.push(format!("{who}: field {rn} at offset {ro} vs {wo}")),
                None => out.push(format!("{who}: field {rn} has no WGSL member")),
            }
        }
        for (wn, _) in &wgsl.members {
            if !wn.starts_with('_') && !self.fields.iter().any(|(rn, _)| rn == wn) {
                out.push(format!(
                    "{who}: WGSL member {wn} is not a listed Rust field"
                ));
            }
        }
        out
    }
}

/// A [`ParamsTwin`] of `$ty` for the struct `$wgsl` of `$kernel` (a `ShaderFile`): its fields
/// but the padding, by WGSL member name, each optionally `= path` to a nested Rust field.
/// `params_twin!(each [A, B], …)` gives one twin per kernel (an array) for kernels that share
/// one params struct.
#[macro_export]
macro_rules! params_twin {
    (each [$($kernel:expr),+ $(,)?], $wgsl:literal, $ty:ident $fields:tt) => {
        [$($crate::params_twin!($kernel, $wgsl, $ty $fields)),+]
    };
    ($kernel:expr, $wgsl:literal, $ty:ty { $($name:ident $(= $($path:ident).+)?),+ $(,)? }) => {
        $crate::gpu::shaders::ParamsTwin {
            kernel: &$kernel,
            wgsl_struct: $wgsl,
            rust_type: stringify!($ty),
            size: std::mem::size_of::<$ty>(),
            align: std::mem::align_of::<$ty>(),
            fields: vec![$((
                stringify!($name),
                $crate::params_twin!(@offset $ty, $name $(, $($path).+)?)
            )),+],
        }
    };
    (@offset $ty:ty, $name:ident) => {
        std::mem::offset_of!($ty, $name)
    };
    (@offset $ty:ty, $name:ident, $($path:ident).+) => {
        std::mem::offset_of!($ty, $($path).+)
    };
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

//! The WGSL side of the domains: the `#import shared/<x>` helpers every kernel may pull in
//! (`shaders/shared/`), and [`wgsl_kernel!`](crate::wgsl_kernel), with which each domain
//! declares its kernels next to the Rust code that records them. The engine
//! ([`crate::gpu`]) receives these files; it knows no kernel by name.

use crate::gpu::shaders::ShaderFile;

/// Declares a helper of `shaders/shared/` (its import path is `shared/<stem>`).
macro_rules! shared {
    ($stem:literal) => {
        ShaderFile {
            name: concat!("shared/", $stem),
            path: concat!("shaders/shared/", $stem, ".wgsl"),
            source: include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/shaders/shared/",
                $stem,
                ".wgsl"
            )),
            library: &SHARED,
        }
    };
}

/// Helpers that kernels pull in with `#import shared/<x>` (each may import the others).
pub static SHARED: [ShaderFile; 8] = [
    shared!("complex"),
    shared!("index"),
    shared!("math"),
    shared!("conv"),
    shared!("conv_weight"),
    shared!("fft"),
    shared!("bilinear"),
    shared!("halo8"),
];

/// A kernel of `shaders/<domain>/<name>.wgsl` as a [`ShaderFile`] (name = file stem, entry
/// point `main`, imports resolved against [`SHARED`]).
#[macro_export]
macro_rules! wgsl_kernel {
    ($domain:literal, $name:literal) => {
        $crate::gpu::shaders::ShaderFile {
            name: $name,
            path: concat!("shaders/", $domain, "/", $name, ".wgsl"),
            source: include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/shaders/",
                $domain,
                "/",
                $name,
                ".wgsl"
            )),
            library: &$crate::wgsl::SHARED,
        }
    };
}

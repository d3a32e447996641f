//! Errors of the GPU layer.

use thiserror::Error;

/// Everything that can go wrong inside [`crate::gpu`]: adapter selection, shader compilation,
/// allocation, submission and readback. Each message is one line that names the value at fault.
#[derive(Debug, Error)]
pub enum GpuError {
    /// An explicit accelerator was requested and no adapter of that kind exists.
    #[error(
        "accelerator '{requested}' is not available: {reason}; adapters present: {present}; {hint}"
    )]
    AcceleratorUnavailable {
        /// What the user asked for (`vulkan`, `dx12`, …).
        requested: String,
        /// Why it could not be used.
        reason: String,
        /// One-line list of the adapters that do exist.
        present: String,
        /// What to install or which flag to use instead.
        hint: String,
    },
    /// No adapter at all could be found.
    #[error("no GPU or CPU adapter found for accelerator '{requested}'; {hint}")]
    NoAdapter {
        /// What the user asked for.
        requested: String,
        /// What to install.
        hint: String,
    },
    /// `request_device` failed on an adapter that exists.
    #[error("could not open device on adapter '{adapter}': {message}")]
    RequestDevice {
        /// Adapter name.
        adapter: String,
        /// The wgpu message.
        message: String,
    },
    /// A kernel name that no domain registers (see `crate::kernels`).
    #[error("unknown kernel '{0}' (no domain registers a kernel of that name)")]
    UnknownKernel(String),
    /// A shader failed naga parsing or validation.
    #[error("shader {path} failed validation: {message}")]
    ShaderInvalid {
        /// The shader file (shaders/<domain>/<name>.wgsl).
        path: String,
        /// First line of naga's rendered error, with file and line.
        message: String,
    },
    /// wgpu refused to build a pipeline (e.g. a device limit exceeded).
    #[error("pipeline '{kernel}' could not be created on this device: {message}")]
    Pipeline {
        /// Kernel name.
        kernel: String,
        /// The wgpu validation message, flattened to one line.
        message: String,
    },
    /// A buffer larger than the device allows was requested.
    #[error(
        "buffer '{label}' of {bytes} bytes exceeds the adapter limit {limit_name} = {limit} bytes; use a smaller batch"
    )]
    AllocationTooLarge {
        /// Buffer label.
        label: String,
        /// Requested size in bytes.
        bytes: u64,
        /// Name of the limit that was exceeded.
        limit_name: &'static str,
        /// The limit's value.
        limit: u64,
    },
    /// The device ran out of memory.
    #[error("out of GPU memory while {context}: {message}")]
    OutOfMemory {
        /// What was being done.
        context: String,
        /// wgpu's message.
        message: String,
    },
    /// wgpu reported a validation error while executing recorded work (a ptycho bug).
    #[error("GPU validation error in '{context}': {message}")]
    Validation {
        /// The recording's label.
        context: String,
        /// wgpu's message, flattened to one line.
        message: String,
    },
    /// The device was lost (driver reset, GPU removed, timeout).
    #[error("GPU device lost: {0}; the run cannot continue on this device")]
    DeviceLost(String),
    /// Mapping a readback buffer failed.
    #[error("reading results back from the GPU failed: {0}")]
    Readback(String),
    /// A buffer has a different length than the kernel needs.
    #[error("{what}: buffer '{label}' holds {got} elements, expected {expected}")]
    BufferLength {
        /// Which call checked it.
        what: String,
        /// Buffer label.
        label: String,
        /// Actual length.
        got: usize,
        /// Required length.
        expected: usize,
    },
    /// An argument out of its valid range.
    #[error("{0}")]
    InvalidArgument(String),
}

/// Result alias of the GPU layer.
pub type Result<T, E = GpuError> = std::result::Result<T, E>;

/// Flattens a multi-line wgpu/naga message into one line.
pub(crate) fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

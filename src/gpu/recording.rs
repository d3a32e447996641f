//! Record-then-execute: domain code appends named dispatches and copies to a [`Recording`];
//! [`super::Engine::submit`] turns it into one command buffer, one submit, and reads back only
//! the buffers that were asked for.

use super::Kernel;
use super::buffer::{Binding, GpuBuffer};

/// One recorded operation.
#[derive(Debug)]
pub(crate) enum Op {
    /// A compute dispatch.
    Dispatch {
        kernel: Kernel,
        /// Byte range of this dispatch's params inside the recording's params blob.
        params: (u64, u64),
        /// Storage bindings 1.. in declaration order.
        bindings: Vec<Binding>,
        workgroups: [u32; 3],
    },
    /// A buffer-to-buffer copy.
    Copy { src: Binding, dst: Binding },
}

/// Handle to a readback requested on a recording; index into [`Submitted::readbacks`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadbackId(pub(crate) usize);

/// A list of GPU work to run in a single submit.
#[derive(Debug)]
pub struct Recording {
    pub(crate) label: String,
    pub(crate) ops: Vec<Op>,
    /// All dispatch params, each at an offset aligned to the uniform offset alignment.
    pub(crate) params: Vec<u8>,
    pub(crate) param_align: u64,
    pub(crate) readbacks: Vec<Binding>,
    /// Time each dispatch with GPU timestamps (one compute pass per dispatch).
    pub(crate) profile: bool,
}

impl Recording {
    pub(crate) fn new(label: &str, param_align: u64) -> Self {
        Recording {
            label: label.to_string(),
            ops: Vec::new(),
            params: Vec::new(),
            param_align,
            readbacks: Vec::new(),
            profile: false,
        }
    }

    /// Requests per-dispatch GPU timestamps (used by benchmarks; ignored where the adapter has
    /// no timestamp queries).
    pub fn set_profile(&mut self, on: bool) {
        self.profile = on;
    }

    /// Number of dispatches recorded so far.
    pub fn dispatch_count(&self) -> usize {
        self.ops
            .iter()
            .filter(|o| matches!(o, Op::Dispatch { .. }))
            .count()
    }

    /// `(kernel name, workgroup grid)` of every dispatch recorded so far (tests and benches
    /// check launch geometry with it).
    pub fn dispatches(&self) -> Vec<(&'static str, [u32; 3])> {
        self.ops
            .iter()
            .filter_map(|o| match o {
                Op::Dispatch {
                    kernel, workgroups, ..
                } => Some((kernel.name(), *workgroups)),
                Op::Copy { .. } => None,
            })
            .collect()
    }

    /// Records `kernel` with uniform `params` (binding 0) and storage `bindings` (1, 2, …, in
    /// the order the shader declares them: read-only inputs first, then outputs).
    pub fn dispatch<P: bytemuck::Pod>(
        &mut self,
        kernel: &Kernel,
        params: &P,
        bindings: &[Binding],
        workgroups: [u32; 3],
    ) {
        let start = (self.params.len() as u64).div_ceil(self.param_align) * self.param_align;
        self.params.resize(start as usize, 0);
        self.params.extend_from_slice(bytemuck::bytes_of(params));
        let len = std::mem::size_of::<P>() as u64;
        self.ops.push(Op::Dispatch {
            kernel: kernel.clone(),
            params: (start, len),
            bindings: bindings.to_vec(),
            workgroups,
        });
    }

    /// Records a copy of `src` into `dst` (same byte size).
    pub fn copy(&mut self, src: Binding, dst: Binding) {
        assert_eq!(
            src.size, dst.size,
            "copy between bindings of different sizes"
        );
        self.ops.push(Op::Copy { src, dst });
    }

    /// Asks for `buf` to be read back after the recording has run.
    pub fn read<T: bytemuck::Pod>(&mut self, buf: &GpuBuffer<T>) -> ReadbackId {
        self.read_binding(buf.binding())
    }

    /// Asks for a byte range of a buffer to be read back.
    pub fn read_binding(&mut self, b: Binding) -> ReadbackId {
        self.readbacks.push(b);
        ReadbackId(self.readbacks.len() - 1)
    }
}

/// What a submitted recording produced.
#[derive(Debug, Default)]
pub struct Submitted {
    pub(crate) readbacks: Vec<Vec<u8>>,
    /// `(kernel name, GPU nanoseconds)` per dispatch when profiling with timestamps.
    pub kernel_times_ns: Vec<(&'static str, f64)>,
    /// GPU nanoseconds from the first dispatch's start to the last one's end (profiling only).
    pub gpu_time_ns: Option<f64>,
}

impl Submitted {
    /// The values read back for `id`.
    pub fn get<T: bytemuck::Pod>(&self, id: ReadbackId) -> Vec<T> {
        bytemuck::pod_collect_to_vec(&self.readbacks[id.0])
    }
}

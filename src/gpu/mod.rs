//! The GPU engine: the only module of ptycho that calls wgpu, and one that imports nothing else
//! of the crate.
//!
//! [`Engine`] owns the instance, adapter, device and queue, the pipeline cache keyed by (shader
//! file, override constants), the buffer pool and readback. Domain code (FFT, physics, network)
//! hands it the [`ShaderFile`](shaders::ShaderFile)s it declares, builds [`Kernel`] handles
//! once, records dispatches into a [`Recording`] and hands that to [`Engine::submit`], which
//! encodes everything into one command buffer and one submit.
//!
//! Large dispatches: [`Engine::grid`] folds a 1-D workgroup count above the per-dimension limit
//! (65,535 on most adapters) into x·y; kernels recover the linear workgroup index with
//! `shared/index.wgsl`.

pub mod adapter;
pub mod buffer;
pub mod error;
pub mod recording;
pub mod shaders;
mod submit;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

pub use adapter::{Accelerator, AdapterSummary, list_adapters};
pub use buffer::{Binding, GpuBuffer, MemoryStats};
pub use error::{GpuError, Result};
pub use recording::{ReadbackId, Recording, Submitted};

use buffer::Pool;
use error::one_line;
use shaders::ShaderFile;

/// How to open an [`Engine`].
#[derive(Clone, Debug, Default)]
pub struct EngineOptions {
    /// Which backend/adapter to use.
    pub accelerator: Accelerator,
    /// Pretend the adapter's `max_storage_buffer_binding_size` is at most this many bytes: a
    /// way to bound the size of one GPU buffer, and how tests force chunking with small data.
    pub max_binding_bytes: Option<u64>,
    /// Fail the given submit with a simulated fault (tests of fault handling).
    pub fault: Option<Fault>,
    /// Which limits the device is created with.
    pub limits: LimitsProfile,
    /// Among several equally good adapters of the choice, take number `spread` (modulo their
    /// count): processes of one job on one node (MPI local ranks) spread over its GPUs.
    pub spread: usize,
}

/// The limits a device is created with.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LimitsProfile {
    /// Everything the adapter offers.
    #[default]
    Adapter,
    /// No more than WebGPU's defaults (16 KiB of workgroup memory, 256 invocations per
    /// workgroup, 8 storage buffers per stage, 128 MiB per binding), as small adapters and
    /// browsers give: how a CPU adapter shows that tiles are sized to fit them. wgpu enforces
    /// the lowered limits, so a kernel that would not fit such an adapter fails here too.
    Webgpu,
}

impl LimitsProfile {
    /// Name as written in the configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            LimitsProfile::Adapter => "adapter",
            LimitsProfile::Webgpu => "webgpu",
        }
    }

    /// The limits a device is requested with under this profile, from the adapter's.
    pub(crate) fn apply(self, adapter: wgpu::Limits) -> wgpu::Limits {
        match self {
            LimitsProfile::Adapter => adapter,
            LimitsProfile::Webgpu => adapter.or_worse_values_from(&wgpu::Limits::defaults()),
        }
    }
}
/// A simulated GPU fault (`oom:N` or `lost:N`, the configuration's `execution.fault`): submit
/// number N (1-based) fails as if the device had run out of memory or been lost; after a loss
/// every later call fails too.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fault {
    /// Which fault.
    pub kind: FaultKind,
    /// The submit (1-based) that fails.
    pub at_submit: u64,
}

/// Kinds of [`Fault`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultKind {
    /// Out of GPU memory.
    OutOfMemory,
    /// Device lost.
    DeviceLost,
}

impl std::str::FromStr for Fault {
    type Err = GpuError;
    fn from_str(v: &str) -> Result<Self> {
        let bad = || {
            GpuError::InvalidArgument(format!(
                "PTYCHO_FAULT = '{v}': expected oom:N or lost:N (N ≥ 1, the failing submit)"
            ))
        };
        let (k, n) = v.trim().split_once(':').ok_or_else(bad)?;
        let kind = match k {
            "oom" => FaultKind::OutOfMemory,
            "lost" => FaultKind::DeviceLost,
            _ => return Err(bad()),
        };
        let at_submit = n.parse::<u64>().ok().filter(|&n| n >= 1).ok_or_else(bad)?;
        Ok(Fault { kind, at_submit })
    }
}

/// Limits ptycho sizes its work by (the device's real limits, possibly lowered by options).
#[derive(Clone, Copy, Debug, serde::Serialize)]
pub struct EngineLimits {
    /// Bytes of `var<workgroup>` memory one workgroup may use.
    pub workgroup_storage_bytes: u32,
    /// Invocations per workgroup.
    pub invocations_per_workgroup: u32,
    /// Workgroup size in x.
    pub workgroup_size_x: u32,
    /// Workgroups per dispatch dimension.
    pub workgroups_per_dimension: u32,
    /// Largest storage binding in bytes (chunk batches to fit).
    pub storage_binding_bytes: u64,
    /// Largest buffer in bytes.
    pub buffer_bytes: u64,
    /// Required alignment of storage binding offsets.
    pub storage_offset_alignment: u32,
    /// Smallest subgroup size the adapter reports.
    pub subgroup_min_size: u32,
    /// Largest subgroup size the adapter reports.
    pub subgroup_max_size: u32,
}

impl EngineLimits {
    /// The limits of a device created with `limits`, its storage bindings capped at
    /// `max_binding_bytes`.
    pub(crate) fn new(
        limits: &wgpu::Limits,
        info: &wgpu::AdapterInfo,
        max_binding_bytes: Option<u64>,
    ) -> EngineLimits {
        EngineLimits {
            workgroup_storage_bytes: limits.max_compute_workgroup_storage_size,
            invocations_per_workgroup: limits.max_compute_invocations_per_workgroup,
            workgroup_size_x: limits.max_compute_workgroup_size_x,
            workgroups_per_dimension: limits.max_compute_workgroups_per_dimension,
            storage_binding_bytes: limits
                .max_storage_buffer_binding_size
                .min(max_binding_bytes.unwrap_or(u64::MAX)),
            buffer_bytes: limits.max_buffer_size,
            storage_offset_alignment: limits.min_storage_buffer_offset_alignment,
            subgroup_min_size: info.subgroup_min_size,
            subgroup_max_size: info.subgroup_max_size,
        }
    }
}

/// What kernels are shaped by, known before a device is opened ([`AdapterSummary::profile`])
/// or from an open one ([`Engine::profile`]): the domains choose layouts and tiles from it, so
/// the choice for any adapter can be shown (`ptycho devices`) and tested without that adapter.
#[derive(Clone, Copy, Debug, serde::Serialize)]
pub struct DeviceProfile {
    /// A CPU adapter (lavapipe, WARP, …).
    pub is_cpu: bool,
    /// Subgroup operations available (`Features::SUBGROUP`).
    pub subgroups: bool,
    /// The limits the device has (or would have, under the chosen [`LimitsProfile`]).
    pub limits: EngineLimits,
}

/// A compiled compute pipeline for one (kernel, override constants) pair.
#[derive(Clone, Debug)]
pub struct Kernel {
    name: &'static str,
    pipeline: Arc<wgpu::ComputePipeline>,
    /// Invocations per workgroup under the pipeline's constants.
    invocations: u32,
}

impl Kernel {
    /// The kernel (shader file stem) name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Invocations per workgroup (the product of its `@workgroup_size`).
    pub fn invocations(&self) -> u32 {
        self.invocations
    }
}

/// Cache key: shader file path plus its override constants (values by bit pattern).
type PipelineKey = (&'static str, Vec<(String, u64)>);

/// `v` as u32, or an error naming it (`what = v does not fit in 32 bits`).
pub fn to_u32(what: &str, v: usize) -> Result<u32> {
    u32::try_from(v)
        .map_err(|_| GpuError::InvalidArgument(format!("{what} = {v} does not fit in 32 bits")))
}

/// Errors reported by wgpu outside any error scope (device loss, uncaptured validation).
#[derive(Default)]
struct ErrorSink {
    lost: Option<String>,
    uncaptured: Vec<String>,
}

/// The device and everything that lives on it.
pub struct Engine {
    options: EngineOptions,
    adapter_info: wgpu::AdapterInfo,
    adapter_limits: wgpu::Limits,
    device: wgpu::Device,
    queue: wgpu::Queue,
    features: wgpu::Features,
    limits: EngineLimits,
    pipelines: Mutex<HashMap<PipelineKey, Kernel>>,
    /// Shader modules by file path, with their naga IR (for the workgroup evaluation).
    modules: Mutex<HashMap<&'static str, (wgpu::ShaderModule, Arc<naga::Module>)>>,
    pool: Arc<Pool>,
    errors: Arc<Mutex<ErrorSink>>,
    fault: Option<Fault>,
    submits: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Engine({})", self.describe())
    }
}

impl Engine {
    /// Opens the adapter `options.accelerator` selects and creates a device with its real limits.
    pub fn new(options: &EngineOptions) -> Result<Engine> {
        let choice = options.accelerator;
        // GL adapters only serve `auto` and `cpu` when nothing else does (GL is slow and noisy).
        let (mut adapters, picked) = adapter::enumerate_for(choice, options.spread);
        let Some(k) = picked else {
            if choice == Accelerator::Auto || adapters.is_empty() && choice == Accelerator::Cpu {
                return Err(GpuError::NoAdapter {
                    requested: choice.to_string(),
                    hint: choice.install_hint().to_string(),
                });
            }
            // What else is there (GL only if nothing else is: see enumerate_for).
            let (all, _) = adapter::enumerate_for(Accelerator::Auto, 0);
            let present: Vec<_> = all
                .iter()
                .map(|a| adapter::describe(&a.get_info()))
                .collect();
            return Err(GpuError::AcceleratorUnavailable {
                requested: choice.to_string(),
                reason: match choice {
                    Accelerator::Cpu => "no CPU fallback adapter found".to_string(),
                    _ => format!("no {} adapter found", choice.as_str()),
                },
                present: if present.is_empty() {
                    "none".into()
                } else {
                    present.join(", ")
                },
                hint: choice.install_hint().to_string(),
            });
        };
        let adapter = adapters.swap_remove(k);
        Self::from_adapter(adapter, options)
    }

    fn from_adapter(adapter: wgpu::Adapter, options: &EngineOptions) -> Result<Engine> {
        let info = adapter.get_info();
        let alimits = options.limits.apply(adapter.limits());
        let wanted = wgpu::Features::TIMESTAMP_QUERY
            | wgpu::Features::TIMESTAMP_QUERY_INSIDE_PASSES
            | wgpu::Features::SUBGROUP;
        let features = adapter.features() & wanted;
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("ptycho"),
            required_features: features,
            required_limits: alimits.clone(),
            experimental_features: wgpu::ExperimentalFeatures::disabled(),
            memory_hints: wgpu::MemoryHints::Performance,
            trace: wgpu::Trace::Off,
        }))
        .map_err(|e| GpuError::RequestDevice {
            adapter: info.name.clone(),
            message: one_line(&e.to_string()),
        })?;

        let errors = Arc::new(Mutex::new(ErrorSink::default()));
        {
            let sink = errors.clone();
            device.set_device_lost_callback(move |reason, msg| {
                if let Ok(mut s) = sink.lock() {
                    s.lost = Some(format!("{reason:?}: {}", one_line(&msg)));
                }
            });
            let sink = errors.clone();
            device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
                if let Ok(mut s) = sink.lock() {
                    s.uncaptured.push(one_line(&e.to_string()));
                }
            }));
        }
        let limits = EngineLimits::new(&alimits, &info, options.max_binding_bytes);
        Ok(Engine {
            options: options.clone(),
            adapter_info: info,
            adapter_limits: alimits,
            device,
            queue,
            features,
            limits,
            pipelines: Mutex::new(HashMap::new()),
            modules: Mutex::new(HashMap::new()),
            pool: Arc::new(Pool::default()),
            errors,
            fault: options.fault,
            submits: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// The options the engine was opened with.
    pub fn options(&self) -> &EngineOptions {
        &self.options
    }

    /// The adapter's identity.
    pub fn adapter_info(&self) -> &wgpu::AdapterInfo {
        &self.adapter_info
    }

    /// `name [Backend, DeviceType]`.
    pub fn describe(&self) -> String {
        adapter::describe(&self.adapter_info)
    }

    /// Whether this device runs on the CPU (lavapipe, WARP, …).
    pub fn is_cpu(&self) -> bool {
        self.adapter_info.device_type == wgpu::DeviceType::Cpu
    }

    /// The limits work must be sized by.
    pub fn limits(&self) -> &EngineLimits {
        &self.limits
    }

    /// The profile kernels are shaped by.
    pub fn profile(&self) -> DeviceProfile {
        DeviceProfile {
            is_cpu: self.is_cpu(),
            subgroups: self.has_subgroups(),
            limits: self.limits,
        }
    }

    /// Whether per-dispatch GPU timestamps are available.
    pub fn has_timestamps(&self) -> bool {
        self.features.contains(wgpu::Features::TIMESTAMP_QUERY)
    }

    /// Whether the device was created with subgroup operations (`Features::SUBGROUP`).
    pub fn has_subgroups(&self) -> bool {
        self.features.contains(wgpu::Features::SUBGROUP)
    }

    /// Device memory held by ptycho's buffers.
    pub fn memory(&self) -> MemoryStats {
        self.pool.stats()
    }

    /// Frees pooled buffers that are not in use.
    pub fn trim_pool(&self) {
        self.pool.trim();
    }

    /// Splits a 1-D count of workgroups into an `[x, y, 1]` grid within the per-dimension limit.
    pub fn grid(&self, workgroups: u64) -> Result<[u32; 3]> {
        let max = self.limits.workgroups_per_dimension as u64;
        if workgroups <= max {
            return Ok([workgroups.max(1) as u32, 1, 1]);
        }
        let y = workgroups.div_ceil(max);
        if y > max {
            return Err(GpuError::InvalidArgument(format!(
                "dispatch of {workgroups} workgroups exceeds {max}×{max}; split the batch"
            )));
        }
        Ok([max as u32, y as u32, 1])
    }

    /// Records `kernel` with enough workgroups of its own size for `invocations` invocations
    /// (one per element of an elementwise kernel), the grid folded like [`Self::grid`].
    pub fn dispatch_threads<P: bytemuck::Pod>(
        &self,
        rec: &mut Recording,
        kernel: &Kernel,
        params: &P,
        bindings: &[Binding],
        invocations: usize,
    ) -> Result<()> {
        let groups = (invocations as u64).div_ceil(kernel.invocations().max(1) as u64);
        rec.dispatch(kernel, params, bindings, self.grid(groups)?);
        Ok(())
    }

    /// Largest number of whole frames of `frame_bytes` that fit one storage binding, rounded down so
    /// that chunk offsets keep the adapter's storage offset alignment.
    pub fn frames_per_binding(&self, frame_bytes: u64, total_frames: usize) -> Result<usize> {
        let lim = self.limits();
        if total_frames as u64 * frame_bytes <= lim.storage_binding_bytes {
            return Ok(total_frames.max(1));
        }
        let max = lim.storage_binding_bytes / frame_bytes;
        let align = lim.storage_offset_alignment as u64;
        let step = align / gcd(frame_bytes, align);
        let n = max / step * step;
        if n == 0 {
            return Err(GpuError::AllocationTooLarge {
                label: "one frame".into(),
                bytes: frame_bytes * step,
                limit_name: "max_storage_buffer_binding_size",
                limit: lim.storage_binding_bytes,
            });
        }
        Ok(n as usize)
    }

    /// Fails when `buf` is larger than one storage binding (kernels that do not chunk; their
    /// callers split the batch).
    pub fn expect_one_binding<T: bytemuck::Pod>(&self, buf: &GpuBuffer<T>) -> Result<()> {
        let limit = self.limits.storage_binding_bytes;
        if buf.bytes() > limit {
            return Err(GpuError::AllocationTooLarge {
                label: buf.label().to_string(),
                bytes: buf.bytes(),
                limit_name: "max_storage_buffer_binding_size (split the batch)",
                limit,
            });
        }
        Ok(())
    }

    /// Returns the pipeline of `file` specialised with override `constants`, building and
    /// caching it on first use. Fails with the file and line if the shader is invalid, or with
    /// wgpu's message if the device cannot run it (e.g. workgroup storage over the limit).
    pub fn kernel(&self, file: &'static ShaderFile, constants: &[(&str, f64)]) -> Result<Kernel> {
        let key: PipelineKey = (
            file.path,
            constants
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_bits()))
                .collect(),
        );
        if let Some(k) = self.pipelines.lock().expect("pipeline lock").get(&key) {
            return Ok(k.clone());
        }
        let (module, ir) = {
            let mut modules = self.modules.lock().expect("module lock");
            match modules.get(file.path) {
                Some(m) => m.clone(),
                None => {
                    let (pre, ir) = shaders::validate(file)?;
                    let m = self
                        .device
                        .create_shader_module(wgpu::ShaderModuleDescriptor {
                            label: Some(file.name),
                            source: wgpu::ShaderSource::Wgsl(pre.text.into()),
                        });
                    let entry = (m, Arc::new(ir));
                    modules.insert(file.path, entry.clone());
                    entry
                }
            }
        };
        // wgpu does not check override-sized workgroups against the limits: do it here.
        let needs = shaders::kernel_needs(&ir, constants);
        let l = &self.adapter_limits;
        if let Some([x, y, z]) = needs.workgroup_size {
            let inv = x as u64 * y as u64 * z as u64;
            if inv == 0
                || inv > l.max_compute_invocations_per_workgroup as u64
                || x > l.max_compute_workgroup_size_x
                || y > l.max_compute_workgroup_size_y
                || z > l.max_compute_workgroup_size_z
            {
                return Err(GpuError::Pipeline {
                    kernel: file.name.to_string(),
                    message: format!(
                        "workgroup size {x}×{y}×{z} exceeds the adapter's limits ({} invocations, x ≤ {})",
                        l.max_compute_invocations_per_workgroup, l.max_compute_workgroup_size_x
                    ),
                });
            }
        }
        if needs.workgroup_bytes > l.max_compute_workgroup_storage_size {
            return Err(GpuError::Pipeline {
                kernel: file.name.to_string(),
                message: format!(
                    "{} bytes of workgroup memory exceed the adapter's {} bytes",
                    needs.workgroup_bytes, l.max_compute_workgroup_storage_size
                ),
            });
        }
        let label = format!("ptycho.{}", file.name);
        let scope = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let pipeline = self
            .device
            .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(&label),
                layout: None,
                module: &module,
                entry_point: Some("main"),
                compilation_options: wgpu::PipelineCompilationOptions {
                    constants,
                    zero_initialize_workgroup_memory: false,
                },
                cache: None,
            });
        if let Some(e) = pollster::block_on(scope.pop()) {
            return Err(GpuError::Pipeline {
                kernel: file.name.to_string(),
                message: one_line(&e.to_string()),
            });
        }
        let invocations = needs
            .workgroup_size
            .map_or(1, |[x, y, z]| x.saturating_mul(y).saturating_mul(z));
        let kernel = Kernel {
            name: file.name,
            pipeline: Arc::new(pipeline),
            invocations,
        };
        self.pipelines
            .lock()
            .expect("pipeline lock")
            .insert(key, kernel.clone());
        Ok(kernel)
    }

    fn check_size(&self, label: &str, bytes: u64) -> Result<()> {
        if bytes > self.adapter_limits.max_buffer_size {
            return Err(GpuError::AllocationTooLarge {
                label: label.to_string(),
                bytes,
                limit_name: "max_buffer_size",
                limit: self.adapter_limits.max_buffer_size,
            });
        }
        Ok(())
    }

    /// Allocates an uninitialised (pooled) storage buffer of `len` values.
    pub fn alloc<T: bytemuck::Pod>(&self, label: &str, len: usize) -> Result<GpuBuffer<T>> {
        let bytes = (len as u64).saturating_mul(std::mem::size_of::<T>() as u64);
        self.check_size(label, bytes)?;
        let scope = self.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let buf = self.pool.take(&self.device, bytes, label);
        if let Some(e) = pollster::block_on(scope.pop()) {
            return Err(GpuError::OutOfMemory {
                context: format!("allocating '{label}' ({bytes} bytes)"),
                message: one_line(&e.to_string()),
            });
        }
        Ok(GpuBuffer::new(buf, len, label, self.pool.clone()))
    }

    /// Allocates a storage buffer holding `data`.
    pub fn upload<T: bytemuck::Pod>(&self, label: &str, data: &[T]) -> Result<GpuBuffer<T>> {
        let buf = self.alloc::<T>(label, data.len())?;
        self.write(&buf, 0, data)?;
        Ok(buf)
    }

    /// Writes `data` into `buf` starting at value `start` (queued before the next submit).
    pub fn write<T: bytemuck::Pod>(
        &self,
        buf: &GpuBuffer<T>,
        start: usize,
        data: &[T],
    ) -> Result<()> {
        if start + data.len() > buf.len() {
            return Err(GpuError::BufferLength {
                what: "write".into(),
                label: buf.label().to_string(),
                got: buf.len(),
                expected: start + data.len(),
            });
        }
        let bytes: &[u8] = bytemuck::cast_slice(data);
        let off = (start * std::mem::size_of::<T>()) as u64;
        // write_buffer needs a multiple of 4 bytes; pad the tail.
        if bytes.len() % 4 == 0 {
            self.queue.write_buffer(&buf.buffer, off, bytes);
        } else {
            let mut padded = bytes.to_vec();
            padded.resize(bytes.len().div_ceil(4) * 4, 0);
            self.queue.write_buffer(&buf.buffer, off, &padded);
        }
        Ok(())
    }

    /// Reads a whole buffer back (one submit).
    pub fn read<T: bytemuck::Pod>(&self, buf: &GpuBuffer<T>) -> Result<Vec<T>> {
        let mut rec = self.recording("read");
        let id = rec.read(buf);
        Ok(self.submit(rec)?.get(id))
    }

    /// Starts an empty recording.
    pub fn recording(&self, label: &str) -> Recording {
        let align = self.adapter_limits.min_uniform_buffer_offset_alignment as u64;
        Recording::new(label, align.max(16))
    }
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

//! Accelerator selection: which wgpu backend and adapter ptycho runs on.
//!
//! `auto` ranks adapters discrete GPU > integrated GPU > virtual/other GPU > CPU, and within a
//! class prefers Vulkan/Metal/DX12 over GL. `cpu` takes wgpu's fallback adapter (an adapter of
//! device type `Cpu`: lavapipe/llvmpipe on Linux, WARP on Windows). An explicit choice that is not
//! present is an error; ptycho never silently runs on another backend.

use serde::{Deserialize, Serialize};

use super::LimitsProfile;
use super::error::GpuError;

/// The `--accelerator` choice.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Accelerator {
    /// Best adapter available (Vulkan/Metal/DX12 before GL): discrete GPU, then integrated,
    /// then any, then the CPU fallback.
    #[default]
    Auto,
    /// Vulkan (Linux, Windows, Android; lavapipe counts).
    Vulkan,
    /// Metal (macOS, iOS).
    Metal,
    /// Direct3D 12 (Windows).
    Dx12,
    /// OpenGL / GLES (last resort; slow and noisy).
    Gl,
    /// wgpu's CPU fallback adapter (lavapipe/llvmpipe on Linux, WARP on Windows).
    Cpu,
}

impl Accelerator {
    /// Every choice, in the order `--help` lists them.
    pub const ALL: [Accelerator; 6] = [
        Accelerator::Auto,
        Accelerator::Vulkan,
        Accelerator::Metal,
        Accelerator::Dx12,
        Accelerator::Gl,
        Accelerator::Cpu,
    ];

    /// Lower-case name as written on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Accelerator::Auto => "auto",
            Accelerator::Vulkan => "vulkan",
            Accelerator::Metal => "metal",
            Accelerator::Dx12 => "dx12",
            Accelerator::Gl => "gl",
            Accelerator::Cpu => "cpu",
        }
    }

    /// The wgpu backends an instance must enable to serve this choice.
    pub(crate) fn backends(self) -> wgpu::Backends {
        match self {
            Accelerator::Auto | Accelerator::Cpu => wgpu::Backends::all(),
            Accelerator::Vulkan => wgpu::Backends::VULKAN,
            Accelerator::Metal => wgpu::Backends::METAL,
            Accelerator::Dx12 => wgpu::Backends::DX12,
            Accelerator::Gl => wgpu::Backends::GL,
        }
    }

    /// Whether an adapter with this info satisfies the choice.
    pub(crate) fn accepts(self, info: &wgpu::AdapterInfo) -> bool {
        match self {
            Accelerator::Auto => true,
            Accelerator::Cpu => info.device_type == wgpu::DeviceType::Cpu,
            Accelerator::Vulkan => info.backend == wgpu::Backend::Vulkan,
            Accelerator::Metal => info.backend == wgpu::Backend::Metal,
            Accelerator::Dx12 => info.backend == wgpu::Backend::Dx12,
            Accelerator::Gl => info.backend == wgpu::Backend::Gl,
        }
    }

    /// What to install or do when this choice is unavailable.
    pub(crate) fn install_hint(self) -> &'static str {
        match self {
            Accelerator::Auto | Accelerator::Cpu | Accelerator::Vulkan => {
                "install a Vulkan driver: on Debian/Ubuntu `apt-get install -y mesa-vulkan-drivers libvulkan1` (lavapipe, a CPU Vulkan driver), or your GPU vendor's driver"
            }
            Accelerator::Metal => {
                "Metal exists only on macOS/iOS; on Linux use --accelerator vulkan (Debian/Ubuntu: `apt-get install -y mesa-vulkan-drivers libvulkan1`)"
            }
            Accelerator::Dx12 => {
                "DX12 exists only on Windows; on Linux use --accelerator vulkan (Debian/Ubuntu: `apt-get install -y mesa-vulkan-drivers libvulkan1`), on macOS --accelerator metal"
            }
            Accelerator::Gl => {
                "install an OpenGL/EGL driver (Debian/Ubuntu: `apt-get install -y libegl1 libgl1-mesa-dri`), or use --accelerator vulkan"
            }
        }
    }
}

impl std::fmt::Display for Accelerator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Accelerator {
    type Err = GpuError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|a| a.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| {
                GpuError::InvalidArgument(format!(
                    "unknown accelerator '{s}': expected one of auto, vulkan, metal, dx12, gl, cpu"
                ))
            })
    }
}

/// Rank used by `auto` (higher is better): any Vulkan/Metal/DX12 adapter before any GL one
/// (GL is slow here, and on a headless Linux machine merely opening it makes the EGL driver
/// print warnings), then discrete, integrated, virtual, CPU.
pub(crate) fn auto_rank(info: &wgpu::AdapterInfo) -> u32 {
    let class = match info.device_type {
        wgpu::DeviceType::DiscreteGpu => 4,
        wgpu::DeviceType::IntegratedGpu => 3,
        wgpu::DeviceType::VirtualGpu | wgpu::DeviceType::Other => 2,
        wgpu::DeviceType::Cpu => 1,
    };
    let backend = match info.backend {
        wgpu::Backend::Vulkan | wgpu::Backend::Metal | wgpu::Backend::Dx12 => 1,
        _ => 0,
    };
    backend * 10 + class
}

/// Index of the adapter `choice` picks among `infos`, or `None`.
pub(crate) fn pick(choice: Accelerator, infos: &[wgpu::AdapterInfo]) -> Option<usize> {
    pick_nth(choice, infos, 0)
}

/// Index of the adapter `choice` picks among `infos` when `nth` processes before this one
/// took theirs: the adapters of the best rank, in enumeration order, number `nth` modulo their
/// count (0: the first enumerated wins ties).
pub(crate) fn pick_nth(
    choice: Accelerator,
    infos: &[wgpu::AdapterInfo],
    nth: usize,
) -> Option<usize> {
    let ok: Vec<(usize, u32)> = infos
        .iter()
        .enumerate()
        .filter(|(_, i)| choice.accepts(i))
        .map(|(k, i)| (k, auto_rank(i)))
        .collect();
    let best = ok.iter().map(|&(_, r)| r).max()?;
    let tied: Vec<usize> = ok
        .iter()
        .filter(|&&(_, r)| r == best)
        .map(|&(k, _)| k)
        .collect();
    Some(tied[nth % tied.len()])
}

/// Short description of an adapter for error messages: `name [Backend, Type]`.
pub(crate) fn describe(info: &wgpu::AdapterInfo) -> String {
    format!("{} [{:?}, {:?}]", info.name, info.backend, info.device_type)
}

/// Everything `ptycho devices` shows about one adapter.
#[derive(Clone, Debug, Serialize)]
pub struct AdapterSummary {
    /// Adapter name.
    pub name: String,
    /// wgpu backend (Vulkan, Metal, Dx12, Gl).
    pub backend: String,
    /// Device type (DiscreteGpu, IntegratedGpu, Cpu, …).
    pub device_type: String,
    /// Driver name and version.
    pub driver: String,
    /// `max_compute_workgroup_storage_size`, bytes.
    pub max_workgroup_storage_bytes: u32,
    /// `max_compute_invocations_per_workgroup`.
    pub max_invocations_per_workgroup: u32,
    /// `max_compute_workgroups_per_dimension`.
    pub max_workgroups_per_dimension: u32,
    /// `max_storage_buffer_binding_size`, bytes.
    pub max_storage_binding_bytes: u64,
    /// `max_buffer_size`, bytes.
    pub max_buffer_bytes: u64,
    /// Whether GPU timestamp queries are supported.
    pub timestamp_query: bool,
    /// Whether subgroup operations are supported.
    pub subgroups: bool,
    /// Whether `--accelerator auto` would pick this adapter.
    pub auto_pick: bool,
    /// What kernels would be shaped by on this adapter, under the limits profile asked for.
    pub profile: super::DeviceProfile,
}

impl AdapterSummary {
    pub(crate) fn new(adapter: &wgpu::Adapter, auto_pick: bool, limits: LimitsProfile) -> Self {
        let info = adapter.get_info();
        let l = adapter.limits();
        let f = adapter.features();
        let profile = super::DeviceProfile {
            is_cpu: info.device_type == wgpu::DeviceType::Cpu,
            subgroups: f.contains(wgpu::Features::SUBGROUP),
            limits: super::EngineLimits::new(&limits.apply(l.clone()), &info, None),
        };
        let driver = [info.driver.as_str(), info.driver_info.as_str()]
            .iter()
            .filter(|s| !s.is_empty())
            .copied()
            .collect::<Vec<_>>()
            .join(" ");
        AdapterSummary {
            name: info.name.clone(),
            backend: format!("{:?}", info.backend),
            device_type: format!("{:?}", info.device_type),
            driver,
            max_workgroup_storage_bytes: l.max_compute_workgroup_storage_size,
            max_invocations_per_workgroup: l.max_compute_invocations_per_workgroup,
            max_workgroups_per_dimension: l.max_compute_workgroups_per_dimension,
            max_storage_binding_bytes: l.max_storage_buffer_binding_size,
            max_buffer_bytes: l.max_buffer_size,
            timestamp_query: f.contains(wgpu::Features::TIMESTAMP_QUERY),
            subgroups: f.contains(wgpu::Features::SUBGROUP),
            auto_pick,
            profile,
        }
    }
}

/// Creates an instance that enables `backends`, honouring `WGPU_*` environment overrides.
pub(crate) fn instance(backends: wgpu::Backends) -> wgpu::Instance {
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle_from_env();
    desc.backends = backends;
    wgpu::Instance::new(desc)
}

/// Every adapter on the machine, Vulkan/Metal/DX12 first and GL after them.
pub(crate) fn enumerate(backends: wgpu::Backends) -> (wgpu::Instance, Vec<wgpu::Adapter>) {
    let inst = instance(backends);
    let adapters = pollster::block_on(inst.enumerate_adapters(backends));
    (inst, adapters)
}

/// The Vulkan, Metal and DX12 backends (everything but GL).
pub(crate) const PRIMARY: wgpu::Backends = wgpu::Backends::VULKAN
    .union(wgpu::Backends::METAL)
    .union(wgpu::Backends::DX12);

/// The adapters that can serve `choice` and the index of the one it picks: the primary
/// backends first, GL only when none of them serves the choice (so that GL, and its driver's
/// stderr noise, is touched only when it is needed).
pub(crate) fn enumerate_for(
    choice: Accelerator,
    spread: usize,
) -> (Vec<wgpu::Adapter>, Option<usize>) {
    let backends = choice.backends();
    let mut adapters = Vec::new();
    for part in [backends & PRIMARY, backends & wgpu::Backends::GL] {
        if part.is_empty() {
            continue;
        }
        let (_inst, found) = enumerate(part);
        let infos: Vec<_> = found.iter().map(|a| a.get_info()).collect();
        if let Some(k) = pick_nth(choice, &infos, spread) {
            return (found, Some(k));
        }
        adapters.extend(found);
    }
    (adapters, None)
}

/// Lists all adapters for `ptycho devices`, each with its profile under `limits`.
pub fn list_adapters(limits: LimitsProfile) -> Vec<AdapterSummary> {
    let (_inst, adapters) = enumerate(wgpu::Backends::all());
    let infos: Vec<_> = adapters.iter().map(|a| a.get_info()).collect();
    let auto = pick(Accelerator::Auto, &infos);
    adapters
        .iter()
        .enumerate()
        .map(|(k, a)| AdapterSummary::new(a, Some(k) == auto, limits))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(name: &str, backend: wgpu::Backend, ty: wgpu::DeviceType) -> wgpu::AdapterInfo {
        let mut i = wgpu::AdapterInfo::new(ty, backend);
        i.name = name.into();
        i
    }

    #[test]
    fn auto_prefers_non_gl_then_discrete_then_integrated_then_cpu() {
        use wgpu::{Backend as B, DeviceType as T};
        let infos = vec![
            info("llvmpipe-gl", B::Gl, T::Cpu),
            info("lavapipe", B::Vulkan, T::Cpu),
            info("igpu", B::Vulkan, T::IntegratedGpu),
            info("dgpu-gl", B::Gl, T::DiscreteGpu),
            info("dgpu", B::Vulkan, T::DiscreteGpu),
        ];
        assert_eq!(pick(Accelerator::Auto, &infos), Some(4));
        assert_eq!(pick(Accelerator::Auto, &infos[..3]), Some(2));
        assert_eq!(pick(Accelerator::Auto, &infos[..2]), Some(1));
        // GL serves `auto` only when nothing else exists, even a discrete GL GPU.
        assert_eq!(pick(Accelerator::Auto, &infos[..4]), Some(2));
        assert_eq!(
            pick(Accelerator::Auto, &[infos[0].clone(), infos[3].clone()]),
            Some(1)
        );
        assert_eq!(pick(Accelerator::Cpu, &infos), Some(1));
        assert_eq!(pick(Accelerator::Gl, &infos), Some(3));
        assert_eq!(pick(Accelerator::Vulkan, &infos), Some(4));
        assert_eq!(pick(Accelerator::Dx12, &infos), None);
        assert_eq!(pick(Accelerator::Metal, &infos), None);
        // Equally good adapters are dealt out in turn (MPI local ranks over a node's GPUs).
        let two = [infos[4].clone(), infos[4].clone(), infos[1].clone()];
        assert_eq!(pick_nth(Accelerator::Auto, &two, 0), Some(0));
        assert_eq!(pick_nth(Accelerator::Auto, &two, 1), Some(1));
        assert_eq!(pick_nth(Accelerator::Auto, &two, 2), Some(0));
        assert_eq!(pick_nth(Accelerator::Cpu, &two, 1), Some(2));
    }

    #[test]
    fn parse_accelerator() {
        assert_eq!(
            "VULKAN".parse::<Accelerator>().unwrap(),
            Accelerator::Vulkan
        );
        let e = "cuda".parse::<Accelerator>().unwrap_err().to_string();
        assert!(e.contains("'cuda'") && e.contains("dx12"), "{e}");
    }
}

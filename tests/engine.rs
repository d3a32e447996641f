//! Engine behaviour: adapter selection errors, limits, allocation errors, pipeline errors,
//! pooling, timestamps.

mod common;

use common::gpu_or_skip;
use ptycho::gpu::{Accelerator, Engine, EngineOptions, GpuError};

#[test]
fn unavailable_accelerator_is_one_clear_line() {
    // DX12 (or Metal) never exists on Linux; on other platforms pick the one that cannot exist.
    let missing = if cfg!(target_os = "windows") {
        Accelerator::Metal
    } else {
        Accelerator::Dx12
    };
    let err = Engine::new(&EngineOptions {
        accelerator: missing,
        ..Default::default()
    })
    .unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(err, GpuError::AcceleratorUnavailable { .. }),
        "{msg}"
    );
    assert!(msg.contains(&format!("'{}'", missing.as_str())), "{msg}");
    assert!(msg.contains("adapters present"), "{msg}");
    assert!(
        msg.contains("install") || msg.contains("use --accelerator"),
        "{msg}"
    );
    assert!(!msg.contains('\n'), "{msg}");
}

#[test]
fn engine_exposes_real_limits() {
    let Some(engine) = gpu_or_skip() else { return };
    let l = engine.limits();
    assert!(l.workgroup_storage_bytes >= 16384);
    assert!(l.invocations_per_workgroup >= 256);
    assert!(l.workgroups_per_dimension >= 65535);
    assert!(l.storage_binding_bytes >= 128 << 20);
    let g = engine.grid(70_000).unwrap();
    assert_eq!(
        g,
        [
            l.workgroups_per_dimension,
            70_000u32.div_ceil(l.workgroups_per_dimension),
            1
        ]
    );
}

#[test]
fn cpu_accelerator_gets_a_cpu_adapter() {
    let Some(_) = gpu_or_skip() else { return };
    if let Ok(e) = Engine::new(&EngineOptions {
        accelerator: Accelerator::Cpu,
        ..Default::default()
    }) {
        assert!(e.is_cpu(), "{}", e.describe());
    }
}

#[test]
fn allocation_beyond_limits_is_an_error() {
    let Some(engine) = gpu_or_skip() else { return };
    let huge = (engine.limits().buffer_bytes / 4 + 1) as usize;
    let err = engine.alloc::<f32>("too-big", huge).unwrap_err();
    assert!(matches!(err, GpuError::AllocationTooLarge { .. }), "{err}");
    assert!(err.to_string().contains("'too-big'"), "{err}");
}

#[test]
fn unknown_kernel_and_bad_override_are_errors() {
    let Some(engine) = gpu_or_skip() else { return };
    assert!(matches!(
        ptycho::kernels::kernel("nope"),
        Err(GpuError::UnknownKernel(_))
    ));
    // A workgroup larger than the device allows is refused by wgpu: a Pipeline error, no panic.
    let wg = engine.limits().invocations_per_workgroup as f64 * 2.0;
    let cmul = ptycho::kernels::kernel("cmul").unwrap();
    let err = engine.kernel(cmul, &[("WG", wg)]).unwrap_err();
    assert!(matches!(err, GpuError::Pipeline { .. }), "{err}");
    assert!(!err.to_string().contains('\n'));
}

#[test]
fn pool_reuses_buffers_and_counts_memory() {
    let Some(engine) = gpu_or_skip() else { return };
    let before = engine.memory();
    {
        let _a = engine.alloc::<f32>("pool.a", 1000).unwrap();
        assert!(engine.memory().live_bytes >= before.live_bytes + 4000);
    }
    let mid = engine.memory();
    let _b = engine.alloc::<f32>("pool.b", 1000).unwrap();
    assert_eq!(
        engine.memory().peak_bytes,
        mid.peak_bytes,
        "second allocation should reuse the pooled buffer"
    );
}

#[test]
fn upload_read_round_trip_and_timestamps() {
    let Some(engine) = gpu_or_skip() else { return };
    let data: Vec<u32> = (0..1001).collect();
    let buf = engine.upload("rt", &data).unwrap();
    assert_eq!(engine.read(&buf).unwrap(), data);
    if engine.has_timestamps() {
        let op = ptycho::linalg::ReduceSum::new(&engine).unwrap();
        let x = engine.upload("x", &vec![1.0f32; 5000]).unwrap();
        let scratch = op.scratch(&engine, 5000, 1).unwrap();
        let mut rec = engine.recording("ts");
        rec.set_profile(true);
        let out = op.record(&engine, &mut rec, &x, 5000, &scratch).unwrap();
        let id = rec.read_binding(out);
        let s = engine.submit(rec).unwrap();
        assert_eq!(s.get::<f32>(id), vec![5000.0]);
        assert_eq!(s.kernel_times_ns.len(), 2);
        assert!(
            s.kernel_times_ns
                .iter()
                .all(|(n, t)| *n == "reduce_sum" && *t > 0.0)
        );
        assert!(s.gpu_time_ns.unwrap() > 0.0);
    }
}

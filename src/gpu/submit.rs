//! [`Engine::submit`]: a [`Recording`] becomes one command buffer and one submit — the params
//! blob in one uniform buffer, every dispatch in compute passes (one per dispatch when timing),
//! copies between them, the readbacks staged after them — then one wait, the error scopes
//! checked, and what was asked for read back.

use super::error::one_line;
use super::recording::Op;
use super::{Engine, FaultKind, GpuError, Recording, Result, Submitted};

/// Timestamp queries of a profiled recording: two per dispatch.
struct Timestamps {
    set: wgpu::QuerySet,
    resolve: wgpu::Buffer,
    count: u32,
}

impl Engine {
    /// The first error wgpu reported outside an error scope (device loss, uncaptured
    /// validation), if any.
    pub(super) fn check_errors(&self, context: &str) -> Result<()> {
        let mut sink = self.errors.lock().expect("error sink");
        if let Some(l) = &sink.lost {
            return Err(GpuError::DeviceLost(l.clone()));
        }
        if let Some(e) = sink.uncaptured.pop() {
            sink.uncaptured.clear();
            return Err(GpuError::Validation {
                context: context.to_string(),
                message: e,
            });
        }
        Ok(())
    }

    /// Encodes `rec` into one command buffer, submits it, waits, and reads back what it asked for.
    pub fn submit(&self, rec: Recording) -> Result<Submitted> {
        self.check_errors(&rec.label)?;
        self.simulated_fault(&rec)?;
        let dev = &self.device;
        let val_scope = dev.push_error_scope(wgpu::ErrorFilter::Validation);
        let oom_scope = dev.push_error_scope(wgpu::ErrorFilter::OutOfMemory);

        let params = self.params_buffer(&rec);
        let n_dispatch = rec.dispatch_count();
        let profile = rec.profile && self.has_timestamps() && n_dispatch > 0;
        let timestamps = profile.then(|| self.timestamps(n_dispatch));
        let mut enc = dev.create_command_encoder(&wgpu::CommandEncoderDescriptor {
            label: Some(&rec.label),
        });
        let names = self.encode_ops(&mut enc, &rec, params.as_ref(), timestamps.as_ref());
        let staging: Vec<(wgpu::Buffer, u64)> = rec
            .readbacks
            .iter()
            .map(|b| {
                let s = self.map_buffer("ptycho.readback", b.size.div_ceil(4) * 4);
                enc.copy_buffer_to_buffer(&b.buffer, b.offset, &s, 0, s.size());
                (s, b.size)
            })
            .collect();
        let ts_staging = timestamps.as_ref().map(|t| {
            enc.resolve_query_set(&t.set, 0..t.count, &t.resolve, 0);
            let s = self.map_buffer("ptycho.timestamps.readback", t.resolve.size());
            enc.copy_buffer_to_buffer(&t.resolve, 0, &s, 0, t.resolve.size());
            s
        });
        self.queue.submit([enc.finish()]);

        for s in staging.iter().map(|(s, _)| s).chain(&ts_staging) {
            s.map_async(wgpu::MapMode::Read, .., |_| {});
        }
        let polled = dev.poll(wgpu::PollType::wait_indefinitely());
        if let Some(e) = pollster::block_on(oom_scope.pop()) {
            return Err(GpuError::OutOfMemory {
                context: rec.label.clone(),
                message: one_line(&e.to_string()),
            });
        }
        if let Some(e) = pollster::block_on(val_scope.pop()) {
            return Err(GpuError::Validation {
                context: rec.label.clone(),
                message: one_line(&e.to_string()),
            });
        }
        if let Err(e) = polled {
            self.check_errors(&rec.label)?;
            return Err(GpuError::DeviceLost(one_line(&e.to_string())));
        }
        self.check_errors(&rec.label)?;

        let mut out = Submitted::default();
        for (s, len) in &staging {
            out.readbacks
                .push(read_mapped(s)?[..*len as usize].to_vec());
        }
        if let Some(s) = &ts_staging {
            let ticks: Vec<u64> = bytemuck::pod_collect_to_vec(&read_mapped(s)?);
            let period = self.queue.get_timestamp_period() as f64;
            for (k, name) in names.iter().enumerate() {
                let dt = ticks[2 * k + 1].wrapping_sub(ticks[2 * k]) as f64 * period;
                out.kernel_times_ns.push((name, dt));
            }
            if let (Some(first), Some(last)) = (ticks.first(), ticks.last()) {
                out.gpu_time_ns = Some(last.wrapping_sub(*first) as f64 * period);
            }
        }
        Ok(out)
    }

    /// Fails submit number N as the configured [`super::Fault`] asks (tests of fault handling);
    /// after a simulated loss every later call fails too.
    fn simulated_fault(&self, rec: &Recording) -> Result<()> {
        let k = self
            .submits
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst)
            + 1;
        let Some(f) = self.fault.filter(|f| f.at_submit == k) else {
            return Ok(());
        };
        let why = format!("simulated by PTYCHO_FAULT at submit {k} ({})", rec.label);
        Err(match f.kind {
            FaultKind::OutOfMemory => GpuError::OutOfMemory {
                context: rec.label.clone(),
                message: why,
            },
            FaultKind::DeviceLost => {
                if let Ok(mut s) = self.errors.lock() {
                    s.lost = Some(why.clone());
                }
                GpuError::DeviceLost(why)
            }
        })
    }

    /// The recording's params blob in one uniform buffer (each dispatch binds its range).
    fn params_buffer(&self, rec: &Recording) -> Option<wgpu::Buffer> {
        (!rec.params.is_empty()).then(|| {
            let buf = self.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("ptycho.params"),
                size: (rec.params.len() as u64).div_ceil(16) * 16,
                usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            });
            let mut blob = rec.params.clone();
            blob.resize(buf.size() as usize, 0);
            self.queue.write_buffer(&buf, 0, &blob);
            buf
        })
    }

    /// Begin and end timestamps for `dispatches` dispatches.
    fn timestamps(&self, dispatches: usize) -> Timestamps {
        let count = 2 * dispatches as u32;
        let set = self.device.create_query_set(&wgpu::QuerySetDescriptor {
            label: Some("ptycho.timestamps"),
            ty: wgpu::QueryType::Timestamp,
            count,
        });
        let resolve = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("ptycho.timestamps.resolve"),
            size: count as u64 * 8,
            usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        });
        Timestamps {
            set,
            resolve,
            count,
        }
    }

    /// A buffer to copy results into and map for reading.
    fn map_buffer(&self, label: &str, size: u64) -> wgpu::Buffer {
        self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        })
    }

    /// Encodes the dispatches and copies of `rec`: dispatches share one compute pass (one pass
    /// each with `timestamps`), a copy ends the pass before it. Returns the kernel name of
    /// every dispatch, in order.
    fn encode_ops(
        &self,
        enc: &mut wgpu::CommandEncoder,
        rec: &Recording,
        params: Option<&wgpu::Buffer>,
        timestamps: Option<&Timestamps>,
    ) -> Vec<&'static str> {
        let mut names = Vec::with_capacity(rec.dispatch_count());
        let mut pass: Option<wgpu::ComputePass<'_>> = None;
        for op in &rec.ops {
            match op {
                Op::Dispatch {
                    kernel,
                    params: (off, len),
                    bindings,
                    workgroups,
                } => {
                    let layout = kernel.pipeline.get_bind_group_layout(0);
                    let pbuf = params.expect("params buffer");
                    let mut entries = Vec::with_capacity(bindings.len() + 1);
                    entries.push(wgpu::BindGroupEntry {
                        binding: 0,
                        resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                            buffer: pbuf,
                            offset: *off,
                            size: wgpu::BufferSize::new(*len),
                        }),
                    });
                    for (i, b) in bindings.iter().enumerate() {
                        entries.push(wgpu::BindGroupEntry {
                            binding: i as u32 + 1,
                            resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                                buffer: &b.buffer,
                                offset: b.offset,
                                size: wgpu::BufferSize::new(b.size),
                            }),
                        });
                    }
                    let bg = self.device.create_bind_group(&wgpu::BindGroupDescriptor {
                        label: Some(kernel.name),
                        layout: &layout,
                        entries: &entries,
                    });
                    if let Some(t) = timestamps {
                        // One pass per dispatch so each gets its own begin/end timestamps.
                        drop(pass.take());
                        let q = 2 * names.len() as u32;
                        pass = Some(
                            enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                                label: Some(kernel.name),
                                timestamp_writes: Some(wgpu::ComputePassTimestampWrites {
                                    query_set: &t.set,
                                    beginning_of_pass_write_index: Some(q),
                                    end_of_pass_write_index: Some(q + 1),
                                }),
                            })
                            .forget_lifetime(),
                        );
                    } else if pass.is_none() {
                        pass = Some(
                            enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                                label: Some(&rec.label),
                                timestamp_writes: None,
                            })
                            .forget_lifetime(),
                        );
                    }
                    let p = pass.as_mut().expect("pass");
                    p.set_pipeline(&kernel.pipeline);
                    p.set_bind_group(0, &bg, &[]);
                    p.dispatch_workgroups(workgroups[0], workgroups[1], workgroups[2]);
                    names.push(kernel.name);
                }
                Op::Copy { src, dst } => {
                    drop(pass.take());
                    enc.copy_buffer_to_buffer(
                        &src.buffer,
                        src.offset,
                        &dst.buffer,
                        dst.offset,
                        src.size,
                    );
                }
            }
        }
        names
    }
}

/// The contents of a mapped staging buffer.
fn read_mapped(s: &wgpu::Buffer) -> Result<Vec<u8>> {
    let view = s
        .get_mapped_range(..)
        .map_err(|e| GpuError::Readback(one_line(&e.to_string())))?;
    Ok(view.to_vec())
}

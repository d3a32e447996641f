//! Typed GPU buffers and the pool they come from.
//!
//! A [`GpuBuffer<T>`] is a storage buffer holding `len` values of a `Pod` type. Dropping it hands
//! the underlying `wgpu::Buffer` back to the engine's pool, so a training loop that allocates the
//! same shapes every step stops allocating after the first one. The pool also counts the bytes
//! ptycho holds on the device (live and peak), which the CLI reports.

use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::{Arc, Mutex};

use super::error::{GpuError, Result};

/// Usage of every storage buffer ptycho allocates.
pub(crate) const STORAGE_USAGE: wgpu::BufferUsages = wgpu::BufferUsages::STORAGE
    .union(wgpu::BufferUsages::COPY_SRC)
    .union(wgpu::BufferUsages::COPY_DST);

/// Buffers are sized in multiples of this many bytes (also the storage offset alignment on
/// most adapters), which makes pool hits likely.
pub(crate) const SIZE_QUANTUM: u64 = 256;

#[derive(Default)]
struct PoolState {
    free: HashMap<u64, Vec<wgpu::Buffer>>,
    /// Bytes in buffers handed out and not yet returned.
    live: u64,
    /// Bytes held in the free lists.
    idle: u64,
    /// Maximum of `live + idle` ever seen.
    peak: u64,
}

/// Recycles storage buffers by exact (rounded) size.
#[derive(Default)]
pub(crate) struct Pool {
    state: Mutex<PoolState>,
}

impl Pool {
    pub(crate) fn take(&self, device: &wgpu::Device, bytes: u64, label: &str) -> wgpu::Buffer {
        let size = bytes.max(4).div_ceil(SIZE_QUANTUM) * SIZE_QUANTUM;
        let mut st = self.state.lock().expect("pool lock");
        let reused = st.free.get_mut(&size).and_then(Vec::pop);
        let buf = match reused {
            Some(b) => {
                st.idle -= size;
                b
            }
            None => device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(label),
                size,
                usage: STORAGE_USAGE,
                mapped_at_creation: false,
            }),
        };
        st.live += size;
        st.peak = st.peak.max(st.live + st.idle);
        buf
    }

    fn give_back(&self, buf: wgpu::Buffer) {
        let size = buf.size();
        let mut st = self.state.lock().expect("pool lock");
        st.live -= size;
        st.idle += size;
        st.free.entry(size).or_default().push(buf);
    }

    /// Drops every idle buffer (frees device memory).
    pub(crate) fn trim(&self) {
        let mut st = self.state.lock().expect("pool lock");
        st.free.clear();
        st.idle = 0;
    }

    pub(crate) fn stats(&self) -> MemoryStats {
        let st = self.state.lock().expect("pool lock");
        MemoryStats {
            live_bytes: st.live,
            idle_bytes: st.idle,
            peak_bytes: st.peak,
        }
    }
}

/// Device memory held by ptycho's buffer pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct MemoryStats {
    /// Bytes in buffers currently in use.
    pub live_bytes: u64,
    /// Bytes in pooled buffers waiting to be reused.
    pub idle_bytes: u64,
    /// Highest `live + idle` since the engine was created.
    pub peak_bytes: u64,
}

/// A storage buffer of `len` values of `T`, returned to the pool on drop.
pub struct GpuBuffer<T: bytemuck::Pod> {
    pub(crate) buffer: wgpu::Buffer,
    len: usize,
    label: String,
    pool: Arc<Pool>,
    _t: PhantomData<T>,
}

impl<T: bytemuck::Pod> GpuBuffer<T> {
    pub(crate) fn new(buffer: wgpu::Buffer, len: usize, label: &str, pool: Arc<Pool>) -> Self {
        GpuBuffer {
            buffer,
            len,
            label: label.to_string(),
            pool,
            _t: PhantomData,
        }
    }

    /// Number of `T` values.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the buffer holds no values.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The label given at allocation (used in error messages).
    pub fn label(&self) -> &str {
        &self.label
    }

    /// Size of the valid data in bytes.
    pub fn bytes(&self) -> u64 {
        (self.len * std::mem::size_of::<T>()) as u64
    }

    /// Fails unless the buffer holds exactly `expected` values; `what` names its role.
    pub fn expect_len(&self, what: &str, expected: usize) -> Result<()> {
        if self.len != expected {
            return Err(self.length_error(what, expected));
        }
        Ok(())
    }

    /// Fails unless the buffer holds at least `expected` values; `what` names its role.
    pub fn expect_at_least(&self, what: &str, expected: usize) -> Result<()> {
        if self.len < expected {
            return Err(self.length_error(what, expected));
        }
        Ok(())
    }

    /// The [`GpuError::BufferLength`] of this buffer against `expected`.
    pub fn length_error(&self, what: &str, expected: usize) -> GpuError {
        GpuError::BufferLength {
            what: what.to_string(),
            label: self.label.clone(),
            got: self.len,
            expected,
        }
    }

    /// A binding of the whole buffer.
    pub fn binding(&self) -> Binding {
        self.slice(0, self.len)
    }

    /// A binding of `len` values starting at value `start` (used to chunk large batches; the byte
    /// offset must respect the adapter's storage offset alignment, which callers ensure by
    /// chunking in whole frames of ≥ 256 bytes).
    pub fn slice(&self, start: usize, len: usize) -> Binding {
        assert!(
            start + len <= self.len,
            "slice {start}+{len} out of {} in '{}'",
            self.len,
            self.label
        );
        let t = std::mem::size_of::<T>() as u64;
        Binding {
            buffer: self.buffer.clone(),
            offset: start as u64 * t,
            size: (len as u64 * t).max(4),
        }
    }
}

impl<T: bytemuck::Pod> Drop for GpuBuffer<T> {
    fn drop(&mut self) {
        self.pool.give_back(self.buffer.clone());
    }
}

impl<T: bytemuck::Pod> std::fmt::Debug for GpuBuffer<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "GpuBuffer<{}>('{}', len {})",
            std::any::type_name::<T>(),
            self.label,
            self.len
        )
    }
}

/// A byte range of a buffer bound to one storage binding of a dispatch.
#[derive(Clone, Debug)]
pub struct Binding {
    pub(crate) buffer: wgpu::Buffer,
    pub(crate) offset: u64,
    pub(crate) size: u64,
}

impl Binding {
    /// The same range with its size rounded up to a multiple of `align` bytes (within the
    /// buffer), so that a kernel viewing it as `array<vec4<f32>>` (`align` 16) reaches the last
    /// values of a length that is not a multiple of 4. The extra bytes are never meant to be
    /// read.
    pub fn padded(mut self, align: u64) -> Binding {
        let room = self.buffer.size().saturating_sub(self.offset);
        self.size = self.size.div_ceil(align).saturating_mul(align).min(room);
        self
    }

    /// Whether two bindings refer to the same underlying buffer.
    pub fn same_buffer(&self, other: &Binding) -> bool {
        self.buffer == other.buffer
    }
}

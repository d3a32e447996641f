//! The GPU buffers of a batch: the activations the forward pass saves for the backward pass,
//! the gradients it writes, and how large they get per image.

use num_complex::Complex32;

use super::{ModelResult, Network, Part};
use crate::gpu::{Engine, GpuBuffer};

/// The three tensors of one encoder or decoder block: its two conv outputs and its output
/// (pooled in the encoder, upsampled in the decoders).
#[derive(Debug)]
pub struct BlockBuffers {
    /// First conv's output (after its ReLU).
    pub conv0: GpuBuffer<f32>,
    /// Second conv's output (after its ReLU).
    pub conv1: GpuBuffer<f32>,
    /// The block's output: max-pooled (encoder) or upsampled (decoder) `conv1`.
    pub out: GpuBuffer<f32>,
}

/// Buffers of one decoder.
#[derive(Debug)]
pub struct HeadBuffers {
    /// Per block: conv0 output, conv1 output, upsampled.
    pub blocks: Vec<BlockBuffers>,
    /// Head output after its activation, (B, C, N/2, N/2).
    pub out: GpuBuffer<f32>,
}

/// Saved forward state of one batch, plus the gradient buffers its backward writes.
#[derive(Debug)]
pub struct Activations {
    /// Images in the batch.
    pub batch: usize,
    /// Copy of the network input (the first conv's weight gradient needs it).
    pub input: GpuBuffer<f32>,
    /// Per encoder block: conv0 output, conv1 output, pooled.
    pub enc: Vec<BlockBuffers>,
    /// Amplitude and phase decoders.
    pub heads: [HeadBuffers; 2],
    /// Object patch (B, C, N, N) complex.
    pub obj: GpuBuffer<Complex32>,
    /// Gradients, same shapes as `enc`.
    pub(super) d_enc: Vec<BlockBuffers>,
    /// Gradients of the decoders' block buffers and head pre-activations.
    pub(super) d_heads: [HeadBuffers; 2],
    /// Scratch for the weight-gradient partials.
    pub(super) partials: GpuBuffer<f32>,
}

impl Network {
    /// Bytes per image of the largest buffer [`Self::alloc`] makes (activations and their
    /// gradients grow linearly with the batch): a batch of `b` images needs one binding of
    /// `b` times this. The weight-gradient partials do not grow with the batch.
    pub fn largest_buffer_per_image(&self) -> u64 {
        let l = &self.layout;
        let mut max = (l.cfg.c * l.cfg.n * l.cfg.n * 8) as u64; // the complex object patch
        for k in 0..l.enc_blocks() {
            let s = self.conv(Part::Encoder(k, 1)).spec;
            max = max.max((s.cout * s.height * s.width * 4) as u64);
        }
        for j in 0..l.dec_blocks() {
            let s = self.conv(Part::Decoder(0, j, 1)).spec;
            max = max.max((s.cout * s.height * s.width * 4 * 4) as u64);
        }
        max
    }

    /// Allocates the saved state and gradient buffers for batches of `batch`.
    pub fn alloc(&self, engine: &Engine, batch: usize) -> ModelResult<Activations> {
        self.alloc_impl(engine, batch, true)
    }

    /// Allocates the forward state only (inference: about half the memory of [`Self::alloc`]);
    /// the backward pass refuses these activations (its gradient buffers are empty).
    pub fn alloc_inference(&self, engine: &Engine, batch: usize) -> ModelResult<Activations> {
        self.alloc_impl(engine, batch, false)
    }

    fn alloc_impl(&self, engine: &Engine, batch: usize, grads: bool) -> ModelResult<Activations> {
        // Gradient buffers of an inference allocation hold one element (never written).
        let g = |len: usize| if grads { len } else { 1 };
        let l = &self.layout;
        let mut enc = Vec::new();
        let mut d_enc = Vec::new();
        let buf3 = |prefix: &str, a: usize, b: usize, c: usize| -> ModelResult<BlockBuffers> {
            Ok(BlockBuffers {
                conv0: engine.alloc::<f32>(&format!("{prefix}.conv0"), a)?,
                conv1: engine.alloc::<f32>(&format!("{prefix}.conv1"), b)?,
                out: engine.alloc::<f32>(&format!("{prefix}.out"), c)?,
            })
        };
        for k in 0..l.enc_blocks() {
            let s = self.conv(Part::Encoder(k, 1)).spec;
            let full = batch * s.cout * s.height * s.width;
            enc.push(buf3(&format!("enc{k}"), full, full, full / 4)?);
            d_enc.push(buf3(&format!("d_enc{k}"), g(full), g(full), g(full / 4))?);
        }
        let planes = batch * l.cfg.c;
        let hs = l.head_size();
        let mk_head = |prefix: &str, g: &dyn Fn(usize) -> usize| -> ModelResult<HeadBuffers> {
            let mut blocks = Vec::new();
            for j in 0..l.dec_blocks() {
                let s = self.conv(Part::Decoder(0, j, 1)).spec;
                let full = batch * s.cout * s.height * s.width;
                blocks.push(buf3(
                    &format!("{prefix}.dec{j}"),
                    g(full),
                    g(full),
                    g(full * 4),
                )?);
            }
            Ok(HeadBuffers {
                blocks,
                out: engine.alloc(&format!("{prefix}.out"), g(planes * hs * hs))?,
            })
        };
        let all = |len: usize| len;
        let plen = self
            .convs
            .iter()
            .map(|c| c.weight_splits(batch).2)
            .max()
            .unwrap_or(1);
        let n = l.cfg.n;
        Ok(Activations {
            batch,
            input: engine.alloc("net.input", planes * n * n)?,
            enc,
            heads: [mk_head("amp", &all)?, mk_head("phase", &all)?],
            obj: engine.alloc("obj", planes * l.cfg.n * l.cfg.n)?,
            d_enc,
            d_heads: [mk_head("d_amp", &g)?, mk_head("d_phase", &g)?],
            partials: engine.alloc("net.partials", g(plen))?,
        })
    }
}

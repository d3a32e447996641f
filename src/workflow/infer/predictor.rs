//! Batched prediction of object patches: the network's forward pass, and for gridsize > 1
//! PtychoPINN's `trimmed_obj` (the object_big merge of a group's patches, cropped to N around
//! the group centre). Used by inference and the benchmarks; it builds no training state.

use std::collections::HashMap;

use num_complex::Complex32;

use crate::config::Config;
use crate::data::group::Groups;
use crate::gpu::{Engine, GpuBuffer};
use crate::model::{Activations, FrozenNetwork, Network};
use crate::physics::{MergeGeometry, MergePatches, Translate, TranslateGeometry};
use crate::workflow::Result;
use crate::workflow::train::batch::{fitted_canvas, gather, max_batch};

/// GPU buffers of predictions on batches of one size: forward-only activations, and for
/// gridsize > 1 the merge and crop of each group canvas.
struct PredictBuffers {
    acts: Activations,
    x: GpuBuffer<f32>,
    merge: Option<CanvasCrop>,
}

/// The object_big merge and centre crop of [`PredictBuffers`].
struct CanvasCrop {
    merge: MergePatches,
    translate: Translate,
    offsets: GpuBuffer<[f32; 2]>,
    zeros: GpuBuffer<[f32; 2]>,
    canvas: GpuBuffer<Complex32>,
    wgt: GpuBuffer<f32>,
    out: GpuBuffer<Complex32>,
}

/// Predicts the object patch of groups in batches.
pub struct Predictor<'e> {
    engine: &'e Engine,
    n: usize,
    canvas: usize,
    buffers: HashMap<usize, PredictBuffers>,
}

impl<'e> Predictor<'e> {
    /// A predictor for the patch size of `cfg`. For gridsize > 1 call [`Self::fit_canvas`]
    /// with the groups before predicting.
    pub fn new(engine: &'e Engine, cfg: &Config) -> Self {
        Predictor {
            engine,
            n: cfg.data.n,
            canvas: cfg.data.n,
            buffers: HashMap::new(),
        }
    }

    /// Grows the object_big canvas so that no member of `g` is clipped.
    pub fn fit_canvas(&mut self, g: &Groups) {
        let m = fitted_canvas(self.n, self.canvas, g);
        if m > self.canvas {
            self.canvas = m;
            self.buffers.clear();
        }
    }

    /// The object_big canvas side M (N for gridsize 1).
    pub fn canvas(&self) -> usize {
        self.canvas
    }

    /// Largest batch (groups) of `net` whose buffers fit one storage binding.
    pub fn max_batch(&self, net: &Network) -> usize {
        // Inference runs no physics: the probe's modes do not enter.
        max_batch(self.engine, net, self.canvas, 1)
    }

    /// The object patch of every group in `idx`, read back: (B, N, N) complex, `batch` groups
    /// per submit. For gridsize 1 that is the network's patch; for gridsize > 1 it is
    /// PtychoPINN's `trimmed_obj`, the group's object_big canvas cropped to N around the group
    /// centre (stitch it at the centre).
    pub fn predict(
        &mut self,
        frozen: &FrozenNetwork,
        x: &[f32],
        g: &Groups,
        idx: &[usize],
        batch: usize,
    ) -> Result<Vec<Complex32>> {
        let (n, engine) = (self.n, self.engine);
        let net = frozen.network();
        let c = net.layout.cfg.c;
        let mut out = Vec::with_capacity(idx.len() * n * n);
        for chunk in idx.chunks(batch.clamp(1, self.max_batch(net))) {
            let b = chunk.len();
            let (xs, offs) = gather(net, n, x, g, chunk)?;
            if !self.buffers.contains_key(&b) {
                let bufs = self.alloc(net, b)?;
                self.buffers.insert(b, bufs);
            }
            let bufs = &self.buffers[&b];
            engine.write(&bufs.x, 0, &xs)?;
            let mut rec = engine.recording("infer");
            frozen.forward(engine, &mut rec, &bufs.x, &bufs.acts)?;
            let result = match &bufs.merge {
                Some(m) => {
                    engine.write(&m.offsets, 0, &offs)?;
                    m.merge.record(
                        engine,
                        &mut rec,
                        &MergeGeometry {
                            n,
                            m: self.canvas,
                            groups: b,
                            members: c,
                        },
                        &bufs.acts.obj,
                        &m.offsets,
                        &m.canvas,
                        &m.wgt,
                    )?;
                    m.translate.record(
                        engine,
                        &mut rec,
                        &TranslateGeometry::reextract(n, self.canvas, b, 1),
                        &m.canvas,
                        &m.zeros,
                        &m.out,
                    )?;
                    &m.out
                }
                None => &bufs.acts.obj,
            };
            let id = rec.read(result);
            out.extend(engine.submit(rec)?.get::<Complex32>(id));
        }
        Ok(out)
    }

    fn alloc(&self, net: &Network, b: usize) -> Result<PredictBuffers> {
        let (engine, n) = (self.engine, self.n);
        let c = net.layout.cfg.c;
        let merge = if c > 1 {
            let cl = b * self.canvas * self.canvas;
            Some(CanvasCrop {
                merge: MergePatches::new(engine)?,
                translate: Translate::new(engine)?,
                offsets: engine.alloc("infer.offsets", b * c)?,
                zeros: engine.upload("infer.zero_offsets", &vec![[0.0f32; 2]; b])?,
                canvas: engine.alloc("infer.canvas", cl)?,
                wgt: engine.alloc("infer.canvas_weight", cl)?,
                out: engine.alloc("infer.trimmed", b * n * n)?,
            })
        } else {
            None
        };
        Ok(PredictBuffers {
            acts: net.alloc_inference(engine, b)?,
            x: engine.alloc("infer.x", b * c * n * n)?,
            merge,
        })
    }
}

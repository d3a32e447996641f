//! Network configuration, its validation, and the parameter layout derived from it.

use thiserror::Error;

use crate::gpu::GpuError;
use crate::nn::{Activation, ConvSpec};

/// Errors of network construction, weight files and shapes. One line each, naming the value or
/// tensor at fault.
#[derive(Debug, Error)]
pub enum ModelError {
    /// The patch size is not a power of two ≥ 16.
    #[error("patch size N = {0} is not a power of two ≥ 16")]
    BadN(usize),
    /// The channel count is zero.
    #[error("channels C = {0} must be ≥ 1 (1 for gridsize 1, 4 for gridsize 2)")]
    BadChannels(usize),
    /// A width list has the wrong length for N.
    #[error("{what}: {got} widths given, N = {n} needs {expected}")]
    WidthCount {
        /// Which list.
        what: &'static str,
        /// Widths given.
        got: usize,
        /// Widths needed.
        expected: usize,
        /// Patch size.
        n: usize,
    },
    /// A width is zero, or the last features are too narrow for the reserved channels.
    #[error("{what} = {value} is invalid: {why}")]
    BadWidth {
        /// Which width.
        what: String,
        /// Its value.
        value: usize,
        /// Why.
        why: String,
    },
    /// A buffer or array has the wrong shape.
    #[error("{what}: shape {got:?} does not match the expected {expected:?}")]
    Shape {
        /// Which tensor.
        what: String,
        /// Shape given.
        got: Vec<usize>,
        /// Shape expected.
        expected: Vec<usize>,
    },
    /// A weights file lacks a tensor of the network.
    #[error("weights file {path}: missing tensor '{name}'")]
    MissingTensor {
        /// File.
        path: String,
        /// Tensor name.
        name: String,
    },
    /// A weights file holds a tensor the network does not have.
    #[error("weights file {path}: unexpected tensor '{name}' (not part of this network)")]
    ExtraTensor {
        /// File.
        path: String,
        /// Tensor name.
        name: String,
    },
    /// A weights-file tensor has the wrong shape.
    #[error("weights file {path}: tensor '{name}' has shape {got:?}, expected {expected:?}")]
    TensorShape {
        /// File.
        path: String,
        /// Tensor name.
        name: String,
        /// Shape in the file.
        got: Vec<usize>,
        /// Shape of the network.
        expected: Vec<usize>,
    },
    /// Reading or writing a weights file failed.
    #[error("weights file {path}: {message}")]
    Io {
        /// File.
        path: String,
        /// What went wrong.
        message: String,
    },
    /// A GPU error.
    #[error(transparent)]
    Gpu(#[from] GpuError),
    /// A network-kernel error (shape, layout).
    #[error(transparent)]
    Nn(#[from] crate::nn::NnError),
}

impl ModelError {
    /// The GPU error underneath, if that is what this is (else `self` back).
    pub fn into_gpu(self) -> std::result::Result<GpuError, Self> {
        match self {
            ModelError::Gpu(g) => Ok(g),
            ModelError::Nn(n) => n.into_gpu().map_err(ModelError::Nn),
            other => Err(other),
        }
    }
}

/// Result alias of the model layer.
pub type ModelResult<T> = std::result::Result<T, ModelError>;

/// PtychoPINN "cnn" generator configuration.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NetConfig {
    /// Patch size N (power of two ≥ 16).
    pub n: usize,
    /// Channels C = gridsize² (input channels and channels of each head).
    pub c: usize,
    /// Encoder block widths, one per pool: log2(N) − 3 of them (bottleneck 8×8).
    pub encoder: Vec<usize>,
    /// Decoder block widths, one per upsample: log2(N) − 4 of them (heads at N/2).
    pub decoder: Vec<usize>,
    /// Channels of the last decoder features reserved for PtychoPINN's probe_big branch and not
    /// read by the head convs (PtychoPINN's `c_outer` = 4; with probe_big = False they are dead).
    pub c_outer: usize,
}

impl NetConfig {
    /// PtychoPINN's default width multiplier (`n_filters_scale` of TF `ptycho/params.py` and
    /// `ptycho_torch/config_params.py`).
    pub const DEFAULT_FILTER_SCALE: usize = 2;

    /// The generator at `n_filters_scale = 1`: encoder [32, 64, 128] at N = 64 ([16, 32, 64,
    /// 128] at 128), decoder [64, 32] ([128, 64, 32]); in general encoder 2048/N·2^k and the
    /// decoder mirrored. A quarter of the arithmetic of PtychoPINN's default
    /// ([`Self::DEFAULT_FILTER_SCALE`]); see [`Self::with_filter_scale`].
    pub fn ptychopinn(n: usize, c: usize) -> NetConfig {
        Self::with_filter_scale(n, c, 1)
    }

    /// Widths scaled like PtychoPINN TF's `n_filters_scale` (its default 2 doubles every width).
    pub fn with_filter_scale(n: usize, c: usize, scale: usize) -> NetConfig {
        let levels = if n.is_power_of_two() && n >= 16 {
            n.trailing_zeros() as usize
        } else {
            0
        };
        let e = levels.saturating_sub(3);
        let d = levels.saturating_sub(4);
        // Encoder ends at 128·scale; decoder at 32·scale, doubling towards the bottleneck.
        let encoder = (0..e).map(|k| scale * (128 >> (e - 1 - k))).collect();
        let decoder = (0..d).map(|j| scale * (32 << (d - 1 - j))).collect();
        NetConfig {
            n,
            c,
            encoder,
            decoder,
            c_outer: 4,
        }
    }

    /// Checks N, C and the width lists.
    pub fn validate(&self) -> ModelResult<()> {
        if !(self.n.is_power_of_two() && self.n >= 16) {
            return Err(ModelError::BadN(self.n));
        }
        if self.c == 0 {
            return Err(ModelError::BadChannels(self.c));
        }
        let levels = self.n.trailing_zeros() as usize;
        if self.encoder.len() != levels - 3 {
            return Err(ModelError::WidthCount {
                what: "encoder",
                got: self.encoder.len(),
                expected: levels - 3,
                n: self.n,
            });
        }
        if self.decoder.len() != levels - 4 {
            return Err(ModelError::WidthCount {
                what: "decoder",
                got: self.decoder.len(),
                expected: levels - 4,
                n: self.n,
            });
        }
        for (k, &w) in self.encoder.iter().enumerate() {
            if w == 0 {
                return Err(ModelError::BadWidth {
                    what: format!("encoder width {k}"),
                    value: w,
                    why: "must be ≥ 1".into(),
                });
            }
        }
        for (k, &w) in self.decoder.iter().enumerate() {
            if w == 0 {
                return Err(ModelError::BadWidth {
                    what: format!("decoder width {k}"),
                    value: w,
                    why: "must be ≥ 1".into(),
                });
            }
        }
        let last = self.head_input_width();
        if last <= self.c_outer {
            return Err(ModelError::BadWidth {
                what: "last decoder width".into(),
                value: last,
                why: format!(
                    "must exceed the {} reserved (c_outer) channels",
                    self.c_outer
                ),
            });
        }
        Ok(())
    }

    /// Width of the features the heads read from (last decoder, or the bottleneck).
    pub fn head_input_width(&self) -> usize {
        self.decoder
            .last()
            .or(self.encoder.last())
            .copied()
            .unwrap_or(0)
    }
}

/// Which part of the network a conv belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    /// Encoder block `k`, conv `0` or `1`.
    Encoder(usize, usize),
    /// Decoder `head` (0 amplitude, 1 phase), block `j`, conv `0` or `1`.
    Decoder(usize, usize, usize),
    /// Final conv of head 0 (amplitude) or 1 (phase).
    Head(usize),
}

/// One conv of the network with its name (tensor names `<name>.weight`, `<name>.bias`).
#[derive(Clone, Debug)]
pub struct LayerInfo {
    /// Name, e.g. `encoder.0.conv1`, `amp.decoder.1.conv0`, `phase.head`.
    pub name: String,
    /// Position in the network.
    pub part: Part,
    /// Shape and parameter offsets.
    pub spec: ConvSpec,
}

/// Every conv in schedule order (encoder, amplitude decoder and head, phase decoder and head)
/// with offsets into the flat parameter vector.
#[derive(Clone, Debug)]
pub struct Layout {
    /// The configuration.
    pub cfg: NetConfig,
    /// Convs in schedule order.
    pub layers: Vec<LayerInfo>,
    /// Total parameters.
    pub params: usize,
}

/// Head names (tensor-name prefixes).
pub const HEADS: [&str; 2] = ["amp", "phase"];

impl Layout {
    /// Derives the layout from a validated configuration.
    pub fn new(cfg: &NetConfig) -> ModelResult<Layout> {
        cfg.validate()?;
        let mut layers = Vec::new();
        let mut off = 0;
        let mut push = |name: String, part: Part, cin, cout, hw, in_cstride, act| {
            let spec = ConvSpec {
                cin,
                cout,
                height: hw,
                width: hw,
                in_cstride,
                act,
                w_off: off,
            };
            off += spec.param_count();
            layers.push(LayerInfo { name, part, spec });
        };
        let mut ch = cfg.c;
        let mut hw = cfg.n;
        for (k, &w) in cfg.encoder.iter().enumerate() {
            push(
                format!("encoder.{k}.conv0"),
                Part::Encoder(k, 0),
                ch,
                w,
                hw,
                ch,
                Activation::Relu,
            );
            push(
                format!("encoder.{k}.conv1"),
                Part::Encoder(k, 1),
                w,
                w,
                hw,
                w,
                Activation::Relu,
            );
            ch = w;
            hw /= 2;
        }
        let (bottleneck_ch, bottleneck_hw) = (ch, hw);
        for (head, name) in HEADS.iter().enumerate() {
            let (mut ch, mut hw) = (bottleneck_ch, bottleneck_hw);
            for (j, &w) in cfg.decoder.iter().enumerate() {
                push(
                    format!("{name}.decoder.{j}.conv0"),
                    Part::Decoder(head, j, 0),
                    ch,
                    w,
                    hw,
                    ch,
                    Activation::Relu,
                );
                push(
                    format!("{name}.decoder.{j}.conv1"),
                    Part::Decoder(head, j, 1),
                    w,
                    w,
                    hw,
                    w,
                    Activation::Relu,
                );
                ch = w;
                hw *= 2;
            }
            let act = if head == 0 {
                Activation::Sigmoid
            } else {
                Activation::PiTanh
            };
            push(
                format!("{name}.head"),
                Part::Head(head),
                ch - cfg.c_outer,
                cfg.c,
                hw,
                ch,
                act,
            );
        }
        Ok(Layout {
            cfg: cfg.clone(),
            layers,
            params: off,
        })
    }

    /// The conv at `part`.
    pub fn find(&self, part: Part) -> &LayerInfo {
        self.layers
            .iter()
            .find(|l| l.part == part)
            .expect("part exists in layout")
    }

    /// Index of the conv at `part` in [`Self::layers`].
    pub fn index(&self, part: Part) -> usize {
        self.layers
            .iter()
            .position(|l| l.part == part)
            .expect("part exists in layout")
    }

    /// Encoder blocks.
    pub fn enc_blocks(&self) -> usize {
        self.cfg.encoder.len()
    }

    /// Decoder blocks per head.
    pub fn dec_blocks(&self) -> usize {
        self.cfg.decoder.len()
    }

    /// Head size N/2.
    pub fn head_size(&self) -> usize {
        self.cfg.n / 2
    }

    /// Multiply-adds of one forward pass per pattern (all convs).
    pub fn macs_per_pattern(&self) -> usize {
        self.layers.iter().map(|l| l.spec.macs_per_image()).sum()
    }

    /// Named tensors: `(name, shape, offset)` for every weight and bias.
    pub fn tensors(&self) -> Vec<(String, Vec<usize>, usize)> {
        let mut out = Vec::new();
        for l in &self.layers {
            let s = &l.spec;
            out.push((
                format!("{}.weight", l.name),
                vec![s.cout, s.cin, 3, 3],
                s.w_off,
            ));
            out.push((format!("{}.bias", l.name), vec![s.cout], s.b_off()));
        }
        out
    }
}

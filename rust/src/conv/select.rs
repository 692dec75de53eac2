//! Which kernel computes a convolution. im2col + GEMM computes every shape
//! and is the reference; the others each win a regime of shapes.
//!
//! `Algorithm::Auto` resolves by a pure function of the shape — never of
//! timings or of the thread count — so a call gives the same bits on every
//! machine state and for every `threads`.

use super::geometry::ConvShape;
use super::matmul::Real;
use super::{depthwise, forward, implicit, winograd};
use crate::error::{KernelError, KernelResult};
use std::mem::MaybeUninit;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithm {
    /// The rule below picks one of the others.
    Auto,
    /// im2col into a per-thread tile + GEMM: any shape.
    Im2col,
    /// Own AVX-512 register tiles reading shifted windows of a padded,
    /// phase-split copy of a band of input rows (or bounded im2col panels
    /// where those do not suit, or for few input channels tiles across
    /// output channels): any shape, no im2col matrix.
    ImplicitGemm,
    /// Winograd F(2x2, 3x3): 3x3 in height and width, stride 1, no
    /// dilation there (in 3-D, any depth window: one 2-D kernel per depth tap).
    Winograd,
    /// Direct depthwise / small-group kernels: groups > 1 with at most 8
    /// input channels per group.
    Depthwise,
}

impl Algorithm {
    pub const ALL: [Algorithm; 5] =
        [Algorithm::Auto, Algorithm::Im2col, Algorithm::ImplicitGemm, Algorithm::Winograd, Algorithm::Depthwise];

    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Auto => "auto",
            Algorithm::Im2col => "im2col",
            Algorithm::ImplicitGemm => "implicit_gemm",
            Algorithm::Winograd => "winograd",
            Algorithm::Depthwise => "depthwise",
        }
    }

    pub fn parse(name: &str) -> KernelResult<Self> {
        Self::ALL.into_iter().find(|a| a.name() == name).ok_or_else(|| {
            let names: Vec<_> = Self::ALL.iter().map(|a| format!("'{}'", a.name())).collect();
            KernelError::invalid("algorithm", format!("expected one of {}, got {name:?}", names.join(", ")))
        })
    }

    /// Whether this algorithm can compute `shape`.
    pub fn supports(self, shape: &ConvShape) -> bool {
        match self {
            Algorithm::Auto | Algorithm::Im2col => true,
            Algorithm::ImplicitGemm => implicit::applies(shape),
            Algorithm::Winograd => winograd::applies(shape),
            Algorithm::Depthwise => depthwise::applies(shape),
        }
    }

    /// The concrete kernel for `shape` (`Auto` resolved), or an error naming
    /// `algorithm` when a forced one cannot compute it.
    pub fn resolve(self, shape: &ConvShape) -> KernelResult<Algorithm> {
        if self == Algorithm::Auto {
            return Ok(auto(shape));
        }
        if !self.supports(shape) {
            return Err(KernelError::invalid("algorithm", format!("'{}' {}", self.name(), self.requirement())));
        }
        Ok(self)
    }

    fn requirement(self) -> &'static str {
        match self {
            Algorithm::Winograd => "needs a 3x3 kernel in height and width with stride 1 and dilation 1 there (2-D or 3-D), or in 3-D a kernel 3 deep with depth stride 1 and dilation 1, zero padding, at most 4 input and at least 16 output channels per group",
            Algorithm::Depthwise => "needs groups > 1 with at most 8 input channels per group",
            _ => "computes every shape",
        }
    }
}

/// The rule `Auto` follows, from single-thread CPU-time measurements on the
/// layers of `convinit bench --suite` (Intel Xeon, Emerald Rapids):
/// - grouped layers with few channels per group (depthwise) go to the
///   direct kernels: im2col + GEMM with one output channel per group is
///   3-14x slower there;
/// - implicit GEMM (the own AVX-512 tiles on shifted windows of a padded,
///   phase-split input band) beats im2col + `gemm` by 15-40% wherever its
///   shifted windows suit the shape: rows whose padding columns are at most
///   a tenth of the row and at least 192 output pixels per image (ResNet's
///   56x56, 28x28 and strided layers, stems, 3-D layers). On small images
///   (7x7, 14x14 at stride 1) and without AVX-512 im2col + `gemm` wins.
///   Layers with at most 4 input channels per group (stems) take implicit
///   GEMM's direct source whatever their rows: on a Zen 3 (AVX2) it is
///   19-29% faster than the shifted windows on the 7x7 stride-2 stems of
///   ResNet and r3d, which were themselves ahead of im2col; so do grouped
///   layers with short reductions on small or strided images (ResNeXt's
///   7x7 groups, see `implicit::direct`);
/// - Winograd F(2x2, 3x3) (the products on the same register tiles, 2.25x
///   fewer multiplications) for 3x3 stride-1 layers with outputs of at
///   least 28x28 and at least 64 channels in and out, or at least 14x14
///   and 256: 1.04-1.5x faster than implicit GEMM at 56x56 and 28x28, in
///   float32 and float64, at batch 1 to 16; at 14x14 with 256 channels
///   1.45x at batch 16 and 0.95x at batch 1, with 512 channels faster at
///   every batch. With fewer channels or on 7x7 outputs it loses at batch
///   1 (each call transforms the weights and streams them through the
///   products once), and the rule may not depend on the batch. The same
///   sizes and channels hold in 3-D (one 2-D kernel per depth tap): on
///   r3d's 3x3x3 layers at batch 1 (Zen 3, 2 threads) 1.44x faster than
///   implicit GEMM at 128 x 8 x 28x28, 1.16x at 64 x 16 x 56x56, 1.13x at
///   256 x 4 x 14x14, and level with it at 512 x 2 x 7x7, where im2col stays.
fn auto(shape: &ConvShape) -> Algorithm {
    if depthwise::applies(shape) {
        Algorithm::Depthwise
    } else if winograd::prefers(shape) {
        Algorithm::Winograd
    } else if implicit::prefers(shape) {
        Algorithm::ImplicitGemm
    } else {
        Algorithm::Im2col
    }
}

/// Convolution forward by `algorithm`; arguments as `conv_forward`.
pub fn conv_forward_with<T: Real>(
    algorithm: Algorithm,
    shape: &ConvShape,
    input: &[T],
    weight: &[T],
    bias: Option<&[T]>,
    output: &mut [T],
    threads: usize,
) -> KernelResult<()> {
    match algorithm.resolve(shape)? {
        Algorithm::ImplicitGemm => implicit::forward(shape, input, weight, bias, output, threads),
        Algorithm::Winograd => winograd::forward(shape, input, weight, bias, output, threads),
        Algorithm::Depthwise => depthwise::forward(shape, input, weight, bias, output, threads),
        _ => forward::conv_forward_im2col(shape, input, weight, bias, output, threads),
    }
}

/// `conv_forward_with` into memory that need not be initialized (a fresh
/// allocation): every algorithm writes each element before reading it, so
/// no zeroing pass is needed.
pub fn conv_forward_uninit<T: Real>(
    algorithm: Algorithm,
    shape: &ConvShape,
    input: &[T],
    weight: &[T],
    bias: Option<&[T]>,
    output: &mut [MaybeUninit<T>],
    threads: usize,
) -> KernelResult<()> {
    let algorithm = algorithm.resolve(shape)?;
    match algorithm {
        Algorithm::ImplicitGemm => implicit::forward_uninit(shape, input, weight, bias, output, threads),
        Algorithm::Winograd => winograd::forward_uninit(shape, input, weight, bias, output, threads),
        Algorithm::Depthwise => depthwise::forward_uninit(shape, input, weight, bias, output, threads),
        _ => forward::conv_forward_im2col_uninit(shape, input, weight, bias, output, threads),
    }
}

/// `output[n, o, p] = bias[o] + sum_{c, taps} weight[o, c, taps] * input[n, g*C/groups + c, p*stride + taps*dilation - pad]`
/// (a grouped cross-correlation, as PyTorch's conv) with tensors in C
/// order: input (N, C, D, H, W), weight (O, C/groups, kd, kh, kw), bias (O),
/// output (N, O, OD, OH, OW); `threads == 0` uses all cores. The kernel is
/// chosen by `Algorithm::Auto`.
pub fn conv_forward<T: Real>(
    shape: &ConvShape,
    input: &[T],
    weight: &[T],
    bias: Option<&[T]>,
    output: &mut [T],
    threads: usize,
) -> KernelResult<()> {
    conv_forward_with(Algorithm::Auto, shape, input, weight, bias, output, threads)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conv::{PaddingMode, Window};

    fn values(len: usize, salt: usize) -> Vec<f32> {
        (0..len).map(|i| ((((i * 2654435761 + salt) % 1000) as f32) - 500.0) / 250.0).collect()
    }

    fn w(input: usize, kernel: usize, stride: usize, dilation: usize, pad: usize) -> Window {
        Window { input, kernel, stride, dilation, pad_before: pad, pad_after: pad }
    }

    /// Each image's output is the same bits whether computed alone or in a
    /// batch, for every algorithm that applies: tiles that span images and
    /// batch-sized work splits must not change any sum's order.
    #[test]
    fn results_are_batch_invariant_for_every_algorithm() {
        let shapes = [
            // (channels, out channels, groups, axes): reductions from 9 to 5400
            // (several 512-chunks), one output channel per group, 1-D to 3-D.
            (1, 32, 1, vec![w(28, 3, 1, 1, 1), w(28, 3, 1, 1, 1)]),
            // Images differed in their last bits when the reduction (k = 576)
            // was cut by the tile width, which grows with the batch.
            (64, 64, 1, vec![w(28, 3, 1, 1, 1), w(28, 3, 1, 1, 1)]),
            (32, 64, 1, vec![w(14, 3, 1, 1, 1), w(14, 3, 1, 1, 1)]),
            (600, 24, 1, vec![w(7, 3, 1, 1, 1), w(7, 3, 1, 1, 1)]),
            (16, 8, 8, vec![w(9, 3, 2, 1, 1), w(11, 3, 1, 2, 2)]),
            (6, 1, 1, vec![w(5, 1, 1, 1, 0), w(6, 1, 1, 1, 0)]),
            (4, 6, 2, vec![w(40, 5, 2, 1, 2)]),
            (3, 5, 1, vec![w(4, 3, 1, 1, 1), w(5, 3, 1, 1, 1), w(6, 3, 1, 1, 1)]),
            // A 1x1 stride-2 layer whose batched tiles start with one column
            // of an image, which `gemm` once reduced in another order.
            (16, 24, 1, vec![w(30, 1, 2, 1, 0), w(30, 1, 2, 1, 0)]),
            (3, 20, 1, vec![w(5, 3, 1, 1, 1), w(12, 7, 2, 1, 3), w(12, 7, 2, 1, 3)]),
            // A 1x1 layer on a small image whose channels im2col splits into
            // blocks of 80 for one image and of 112 for five.
            (24, 200, 1, vec![w(7, 1, 1, 1, 0), w(7, 1, 1, 1, 0)]),
        ];
        for (c, o, groups, axes) in shapes {
            for batch in [2, 5] {
                let shape = ConvShape::new(batch, c, o, groups, &axes, PaddingMode::Zeros).unwrap();
                let one = shape.with_batch(1).unwrap();
                let (x, wt) = (values(shape.input_len(), 1), values(shape.weight_len(), 2));
                for algorithm in Algorithm::ALL.into_iter().filter(|a| a.supports(&shape)) {
                    let mut all = vec![0f32; shape.output_len()];
                    conv_forward_with(algorithm, &shape, &x, &wt, None, &mut all, 2).unwrap();
                    for i in 0..batch {
                        let mut alone = vec![0f32; one.output_len()];
                        conv_forward_with(algorithm, &one, &x[i * one.input_len()..][..one.input_len()], &wt, None, &mut alone, 1).unwrap();
                        let same = alone.iter().zip(&all[i * one.output_len()..]).all(|(a, b)| a.to_bits() == b.to_bits());
                        assert!(same, "{algorithm:?}, image {i} of {batch}: {shape:?}");
                    }
                }
            }
        }
    }

    /// Into uninitialized memory, every algorithm gives the bits it gives
    /// into a zeroed buffer.
    #[test]
    fn uninitialized_outputs_get_the_same_bits() {
        let grouped = ConvShape::new(3, 12, 10, 2, &[w(20, 3, 2, 1, 1), w(17, 3, 1, 1, 1)], PaddingMode::Reflect).unwrap();
        // Odd output sizes: Winograd's 2x2 tiles hang over the edges.
        let odd = ConvShape::new(3, 5, 10, 1, &[w(13, 3, 1, 1, 1), w(11, 3, 1, 1, 1)], PaddingMode::Zeros).unwrap();
        // Depthwise: MobileNet-like 7x7 planes (the narrow kernel where the
        // CPU has one), stride 2 with zero padding, and two channels per group.
        let narrow = ConvShape::new(2, 40, 40, 40, &[w(7, 3, 1, 1, 1), w(7, 3, 1, 1, 1)], PaddingMode::Zeros).unwrap();
        let strided = ConvShape::new(2, 24, 24, 24, &[w(30, 3, 2, 1, 1), w(29, 3, 2, 1, 1)], PaddingMode::Zeros).unwrap();
        let pairs = ConvShape::new(2, 16, 16, 8, &[w(12, 3, 1, 1, 1), w(11, 3, 1, 1, 1)], PaddingMode::Zeros).unwrap();
        for shape in [grouped, odd, narrow, strided, pairs] {
            every_algorithm_writes_every_element(&shape);
        }
    }

    fn every_algorithm_writes_every_element(shape: &ConvShape) {
        let (x, wt, b) = (values(shape.input_len(), 1), values(shape.weight_len(), 2), values(shape.out_channels(), 3));
        for algorithm in Algorithm::ALL.into_iter().filter(|a| a.supports(shape)) {
            let mut want = vec![0f32; shape.output_len()];
            conv_forward_with(algorithm, shape, &x, &wt, Some(&b), &mut want, 2).unwrap();
            let mut got: Vec<f32> = Vec::with_capacity(shape.output_len());
            // Garbage where an unwritten element would show.
            got.spare_capacity_mut().iter_mut().for_each(|v| {
                v.write(f32::NAN);
            });
            conv_forward_uninit(algorithm, shape, &x, &wt, Some(&b), &mut got.spare_capacity_mut()[..shape.output_len()], 2).unwrap();
            // SAFETY: conv_forward_uninit initialized all output_len elements.
            unsafe { got.set_len(shape.output_len()) };
            assert!(got.iter().zip(&want).all(|(a, b)| a.to_bits() == b.to_bits()), "{algorithm:?}");
        }
    }

    #[test]
    fn forced_algorithms_that_do_not_apply_are_refused() {
        let strided = ConvShape::new(1, 2, 2, 1, &[w(8, 3, 2, 1, 1), w(8, 3, 2, 1, 1)], PaddingMode::Zeros).unwrap();
        let err = Algorithm::Winograd.resolve(&strided).unwrap_err();
        assert!(matches!(err, KernelError::InvalidArgument { argument: "algorithm", .. }));
        let picked = Algorithm::Auto.resolve(&strided).unwrap();
        assert!(picked != Algorithm::Auto && picked != Algorithm::Winograd && picked.supports(&strided));
        assert!(Algorithm::parse("fft").is_err());
        assert!(Algorithm::ALL.iter().all(|a| Algorithm::parse(a.name()) == Ok(*a)));
    }
}

//! Implicit GEMM: convolution as the register-tiled product of
//! `microkernel`, with no im2col matrix of the whole input ever formed.
//!
//! Row `k = c * taps + tap` of the product's right-hand side is read from
//! one of two sources, chosen by the shape:
//! - `slab`: stride-1 layers with wide output rows read each tap's row
//!   straight from a padded copy of a band of input rows, at the tap's
//!   shift (or, for unpadded 1x1 kernels, from the input itself);
//! - `panel`: every other shape packs im2col rows for a bounded block of
//!   output columns (which may span several images) and a block of `k`.
//!
//! Both run every output element as one chain of fused multiply-adds over
//! `k` ascending (see `microkernel`), so the source, the blocking, the
//! batch and the thread count never change a bit: results are thread- and
//! batch-invariant, and the two sources agree exactly.

mod panel;
mod slab;

use super::geometry::{check_forward, ConvShape};
use super::matmul::Real;
use super::microkernel::{Packed, ROWS};
use crate::error::KernelResult;
use crate::parallel::effective_threads;

/// The shifted-window source computes and discards the padding columns of
/// each row and the unused lanes of each band's last vector: this share of
/// extra lanes is always worth it (see `slab::suits`).
const MAX_WASTED_COLUMNS: f64 = 0.1;
/// Tasks per thread below which a group's output channels are split.
const TASKS_PER_THREAD: usize = 2;

/// Every shape: strided, dilated, grouped, padded in any mode, 1-D to 3-D.
pub(crate) fn applies(_shape: &ConvShape) -> bool {
    true
}

/// Whether `Algorithm::Auto` picks this kernel: the shifted windows suit
/// the shape and the AVX-512 tiles run here (the portable chain is exact
/// but slow). A strided 1x1 kernel reads a quarter of its input or less,
/// which im2col gathers more cheaply than a slab copies.
pub(crate) fn prefers(shape: &ConvShape) -> bool {
    let strided_pointwise = shape.kernel_taps() == 1 && shape.axes().iter().any(|a| a.stride > 1);
    slab::suits(shape) && !strided_pointwise && super::microkernel::has_vector_tiles()
}

/// `output = conv(input, weight) + bias`; shapes as `conv_forward`.
pub(crate) fn forward<T: Real>(
    shape: &ConvShape,
    input: &[T],
    weight: &[T],
    bias: Option<&[T]>,
    output: &mut [T],
    threads: usize,
) -> KernelResult<()> {
    if !check_forward(shape, input, weight, bias, output)? {
        return Ok(());
    }
    if slab::suits(shape) {
        slab::forward(shape, input, weight, bias, output, threads);
    } else {
        panel::forward(shape, input, weight, bias, output, threads);
    }
    Ok(())
}

/// Each group's weights, `(O/groups) x (C/groups * taps)`, packed for the tiles.
fn pack_weights<T: Real>(shape: &ConvShape, weight: &[T], threads: usize) -> Vec<Packed<T>> {
    let (og, k) = (shape.out_channels() / shape.groups(), shape.patch_len());
    (0..shape.groups())
        .map(|g| {
            let rows = &weight[g * og * k..][..og * k];
            Packed::new(og, k, threads, |i, t| rows[i * k + t])
        })
        .collect()
}

/// Output channels of a group cut into `parts` ranges of whole tiles, so
/// that `tasks * parts` gives every thread a couple of tasks. Splits change
/// no bits (see `microkernel`), so they may follow the thread count.
#[derive(Clone, Copy, Debug)]
struct ChannelParts {
    per_part: usize,
    parts: usize,
}

impl ChannelParts {
    fn new(group_out: usize, tasks: usize, threads: usize) -> Self {
        let threads = effective_threads(threads);
        let wanted = if threads == 1 { 1 } else { (TASKS_PER_THREAD * threads).div_ceil(tasks.max(1)) };
        let tiles = group_out.div_ceil(ROWS);
        let per_part = tiles.div_ceil(wanted.clamp(1, tiles.max(1))) * ROWS;
        ChannelParts { per_part, parts: group_out.div_ceil(per_part.max(1)).max(1) }
    }

    /// Channels `first..first + count` of part `p` (within a group of `group_out`).
    fn range(&self, p: usize, group_out: usize) -> (usize, usize) {
        let first = p * self.per_part;
        (first, self.per_part.min(group_out - first))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conv::forward::conv_forward_im2col;
    use crate::conv::{PaddingMode, Window};

    fn values(len: usize, salt: usize) -> Vec<f64> {
        (0..len).map(|i| (((i * 2654435761 + salt) % 1000) as f64 - 500.0) / 250.0).collect()
    }

    fn w(input: usize, kernel: usize, stride: usize, dilation: usize, pad: (usize, usize)) -> Window {
        Window { input, kernel, stride, dilation, pad_before: pad.0, pad_after: pad.1 }
    }

    /// Both sources on every padding mode, stride, dilation, group count
    /// and rank: within rounding of the im2col reference, and the two
    /// sources bit-identical to each other for 1, 2 and 3 threads.
    #[test]
    fn both_sources_match_im2col_and_each_other() {
        let modes = [PaddingMode::Zeros, PaddingMode::Reflect, PaddingMode::Replicate, PaddingMode::Circular];
        let cases = [
            (2, 3, 5, 1, vec![w(7, 3, 1, 1, (1, 1)), w(9, 3, 1, 1, (1, 1))]),
            (1, 4, 6, 2, vec![w(6, 2, 1, 2, (1, 2)), w(5, 3, 1, 1, (0, 1))]),
            (3, 40, 17, 1, vec![w(5, 3, 1, 1, (1, 1)), w(6, 3, 1, 1, (1, 1))]),
            (2, 3, 2, 1, vec![w(30, 5, 1, 2, (4, 4))]),
            (1, 2, 2, 1, vec![w(40, 7, 1, 1, (3, 3)), w(3, 1, 1, 1, (0, 0))]),
            (2, 3, 4, 1, vec![w(5, 3, 1, 1, (1, 1)), w(6, 3, 1, 1, (1, 1)), w(7, 3, 1, 1, (1, 1))]),
            (1, 4, 2, 2, vec![w(6, 2, 1, 2, (1, 0)), w(4, 1, 1, 1, (0, 0)), w(5, 3, 1, 1, (2, 2))]),
            // Strides (phase planes), with and without dilation and odd sizes.
            (2, 3, 9, 1, vec![w(11, 3, 2, 1, (1, 1)), w(12, 3, 2, 1, (1, 1))]),
            (1, 3, 4, 1, vec![w(23, 7, 2, 1, (3, 3)), w(21, 7, 2, 1, (3, 3))]),
            (2, 6, 4, 3, vec![w(13, 3, 3, 2, (2, 1)), w(14, 2, 2, 3, (1, 2))]),
            (1, 5, 3, 1, vec![w(9, 1, 2, 1, (0, 0)), w(9, 1, 2, 1, (0, 0))]),
            (2, 2, 3, 1, vec![w(7, 3, 2, 1, (1, 1)), w(8, 3, 2, 1, (1, 1)), w(9, 3, 2, 1, (1, 1))]),
            (1, 4, 3, 1, vec![w(50, 4, 3, 1, (2, 1))]),
            // Unpadded 1x1 (the input read in place), and more than 8 output rows.
            (3, 7, 19, 1, vec![w(6, 1, 1, 1, (0, 0)), w(5, 1, 1, 1, (0, 0))]),
        ];
        for mode in modes {
            for (n, c, o, g, axes) in &cases {
                let Ok(shape) = ConvShape::new(*n, *c, *o, *g, axes, mode) else { continue };
                let (x, wt, b) = (values(shape.input_len(), 1), values(shape.weight_len(), 2), values(*o, 3));
                let mut want = vec![f64::NAN; shape.output_len()];
                conv_forward_im2col(&shape, &x, &wt, Some(&b), &mut want, 1).unwrap();
                let scale = want.iter().fold(1.0f64, |m, v| m.max(v.abs()));
                let mut first: Option<Vec<f64>> = None;
                for threads in [1, 2, 3] {
                    for source in 0..2 {
                        let mut got = vec![f64::NAN; shape.output_len()];
                        if source == 0 {
                            slab::forward(&shape, &x, &wt, Some(&b), &mut got, threads);
                        } else {
                            panel::forward(&shape, &x, &wt, Some(&b), &mut got, threads);
                        }
                        for (a, b) in got.iter().zip(&want) {
                            assert!((a - b).abs() <= 1e-12 * scale, "{a} vs {b} for {shape:?}, source {source}");
                        }
                        let first = first.get_or_insert_with(|| got.clone());
                        assert!(first.iter().zip(&got).all(|(a, b)| a.to_bits() == b.to_bits()), "bits differ: {shape:?}");
                    }
                }
            }
        }
    }
}

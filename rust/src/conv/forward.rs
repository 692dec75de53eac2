//! Convolution forward: per (group, tile of output columns), im2col the tile
//! into a small per-thread workspace and multiply by the group's flattened
//! weights. The columns of a group are the (image, output pixel) pairs in C
//! order, so a tile may span several small images: one larger GEMM instead of
//! many narrow ones.

use super::geometry::{check_forward, ConvShape};
use super::im2col::Im2colPlan;
use super::matmul::{matmul, MatPtr, MatRef, Real};
use super::uninit::uninit_view;
use crate::error::KernelResult;
use crate::parallel::{effective_threads, for_each_task, SharedMut};
use std::mem::MaybeUninit;

/// Bytes of im2col workspace per worker: a tile sized to stay in L2.
const WORKSPACE_BYTES: usize = 1 << 20;
/// Narrower tiles waste the GEMM microkernel's width.
const MIN_TILE: usize = 32;
/// Split small problems into about this many tasks so all cores get work.
/// A constant, not the thread count: column tiles follow the shape alone.
const TARGET_TASKS: usize = 16;
/// Fewest output channels in one task's block when a group's channels are
/// split across tasks (see `RowBlocks`).
const MIN_ROW_BLOCK: usize = 64;

/// Longest reduction one GEMM call gets. The `gemm` crate reduces at most
/// this much in one block whatever the matrix widths, so each output
/// element's sum runs in the same order for every tile width.
pub(crate) const MAX_K_CHUNK: usize = 512;

/// How the output columns and the reduction are cut. Depends only on the
/// shape and element size, never on the thread count, so every thread count
/// performs the same floating-point operations in the same order. The
/// reduction's chunks depend on its length alone, not on the number of
/// columns (which grows with the batch): together with `MAX_K_CHUNK` this
/// makes an image's result independent of the batch it is computed in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Tiling {
    pub tile: usize,
    pub tiles: usize,
    pub k_chunk: usize,
}

/// Equal chunks of at most `MAX_K_CHUNK` covering a reduction of length `k`.
pub(crate) fn k_chunk(k: usize) -> usize {
    let k = k.max(1);
    k.div_ceil(k.div_ceil(MAX_K_CHUNK))
}

/// Columns of a tile whose packed reduction chunk (see `k_chunk`) fills
/// the workspace.
pub(crate) fn tile_cap(k: usize, elem_bytes: usize) -> usize {
    WORKSPACE_BYTES / (k_chunk(k) * elem_bytes)
}

/// Tiles of `columns` for a reduction of length `k`, shared by `parts`
/// independent problems (groups) that also run in parallel.
pub(crate) fn tiling(columns: usize, k: usize, parts: usize, elem_bytes: usize) -> Tiling {
    let k_chunk = k_chunk(k);
    let tiles_wanted = TARGET_TASKS.div_ceil(parts.max(1));
    let by_tasks = columns.div_ceil(tiles_wanted).next_multiple_of(16);
    let tile = by_tasks.min(tile_cap(k, elem_bytes)).max(MIN_TILE).min(columns).max(1);
    Tiling { tile, tiles: columns.div_ceil(tile), k_chunk }
}

/// Blocks of a group's output channels, each its own task. How the
/// channels (or the columns) are cut changes no sum: every output
/// element's reduction runs over the same chunks in the same order (the
/// batch-invariance tests rely on the same fact for the columns), so the
/// blocks may follow the thread count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RowBlocks {
    pub rows: usize,
    pub blocks: usize,
}

impl RowBlocks {
    /// About `wanted` blocks of at least `MIN_ROW_BLOCK` channels (one if
    /// there are fewer), a multiple of 16 channels each but the last.
    fn new(channels: usize, wanted: usize) -> Self {
        let wanted = wanted.min(channels / MIN_ROW_BLOCK).max(1);
        let rows = channels.div_ceil(wanted).next_multiple_of(16).min(channels).max(1);
        RowBlocks { rows, blocks: channels.div_ceil(rows) }
    }
}

/// The tasks of `conv_forward_im2col`: column tiles times channel blocks.
///
/// - Pointwise layers with few columns (small images at batch 1) split
///   their channels towards `TARGET_TASKS` tasks: their GEMMs read the
///   input in place, so a block costs nothing extra. 64 columns or fewer
///   go in one tile: MobileNetV2's 7x7 expansions (49 columns) as tiles of
///   32 and 17 left one core with two thirds of the work.
/// - Other layers whose group weights outgrow the workspace and whose
///   columns fit one tile (7x7 images, r3d's last layers, wav2vec 2.0's
///   later layers) take one tile and a channel block per thread: each
///   tile streams all the weights from memory, while each block packs the
///   tile's im2col columns again. 9-28% faster than column tiles there
///   (2 threads); four blocks instead of two were 11-19% slower.
fn task_grid(shape: &ConvShape, columns: usize, elem_bytes: usize, threads: usize) -> (Tiling, RowBlocks) {
    let (og, k) = (shape.out_channels() / shape.groups(), shape.patch_len());
    let t = tiling(columns, k, shape.groups(), elem_bytes);
    let one_tile = Tiling { tile: columns, tiles: 1, ..t };
    if shape.is_pointwise() {
        let t = if columns <= 2 * MIN_TILE && og >= 2 * MIN_ROW_BLOCK { one_tile } else { t };
        return (t, RowBlocks::new(og, TARGET_TASKS / (shape.groups() * t.tiles)));
    }
    let heavy = og * k * elem_bytes >= WORKSPACE_BYTES;
    if heavy && columns <= tile_cap(k, elem_bytes) && og >= 2 * MIN_ROW_BLOCK {
        return (one_tile, RowBlocks::new(og, effective_threads(threads)));
    }
    (t, RowBlocks::new(og, 1))
}

/// `output[n, o, p] = bias[o] + sum_{c,t} weight[o, c, t] * im2col(input)[n, g, (c, t), p]`
/// with tensors in C order: input (N, C, D, H, W), weight (O, C/groups, kd,
/// kh, kw), bias (O), output (N, O, OD, OH, OW). `threads == 0` uses all cores.
pub(crate) fn conv_forward_im2col<T: Real>(
    shape: &ConvShape,
    input: &[T],
    weight: &[T],
    bias: Option<&[T]>,
    output: &mut [T],
    threads: usize,
) -> KernelResult<()> {
    conv_forward_im2col_uninit(shape, input, weight, bias, uninit_view(output), threads)
}

/// `conv_forward_im2col` into memory that need not be initialized: every
/// output element is written (the first reduction chunk's GEMM does not
/// read its destination) before anything reads it.
pub(crate) fn conv_forward_im2col_uninit<T: Real>(
    shape: &ConvShape,
    input: &[T],
    weight: &[T],
    bias: Option<&[T]>,
    output: &mut [MaybeUninit<T>],
    threads: usize,
) -> KernelResult<()> {
    if !check_forward(shape, input, weight, bias, output)? {
        return Ok(());
    }
    let plan = Im2colPlan::new(shape);
    let columns = shape.batch() * shape.output_pixels();
    let og = shape.out_channels() / shape.groups();
    let (t, rb) = task_grid(shape, columns, std::mem::size_of::<T>(), threads);
    let staging = rb.rows * t.tile;
    let out = SharedMut(output.as_mut_ptr().cast::<T>());
    let job = Job { shape, plan: &plan, input, weight, bias, tiling: t, out };
    for_each_task(threads, shape.groups() * t.tiles * rb.blocks, |task| {
        let (g, rest) = (task / (t.tiles * rb.blocks), task % (t.tiles * rb.blocks));
        let first = rest / rb.blocks * t.tile;
        let o0 = rest % rb.blocks * rb.rows;
        let block = Block { g, rows: o0..(o0 + rb.rows).min(og), first, len: t.tile.min(columns - first) };
        T::with_scratch(t.k_chunk * t.tile + staging, |workspace| job.run(&block, workspace));
    });
    Ok(())
}

/// One task: output channels `rows` (within the group) of group `g` at
/// columns `first..first+len`.
struct Block {
    g: usize,
    rows: std::ops::Range<usize>,
    first: usize,
    len: usize,
}

/// A stretch of a tile that lies in one image: pixels `pixel..pixel+len` of
/// image `image`, at tile column `column`.
pub(crate) struct Run {
    pub image: usize,
    pub pixel: usize,
    pub len: usize,
    pub column: usize,
}

/// Columns `first..first+len` of (image, pixel) pairs in C order, cut where
/// images change.
pub(crate) fn runs(first: usize, len: usize, pixels: usize) -> Vec<Run> {
    let mut runs = Vec::new();
    let mut c = first;
    while c < first + len {
        let (image, pixel) = (c / pixels, c % pixels);
        let run = (pixels - pixel).min(first + len - c);
        runs.push(Run { image, pixel, len: run, column: c - first });
        c += run;
    }
    runs
}

/// What every task reads, and the output it writes into.
struct Job<'a, T> {
    shape: &'a ConvShape,
    plan: &'a Im2colPlan,
    input: &'a [T],
    weight: &'a [T],
    bias: Option<&'a [T]>,
    tiling: Tiling,
    out: SharedMut<T>,
}

impl<T: Real> Job<'_, T> {
    /// Computes `block`: some output channels of a group at a tile of columns.
    fn run(&self, block: &Block, workspace: &mut [T]) {
        let s = self.shape;
        let (g, len) = (block.g, block.len);
        let (cg, og) = (s.in_channels() / s.groups(), s.out_channels() / s.groups());
        let (pixels, in_pixels, k) = (s.output_pixels(), s.input_pixels(), s.patch_len());
        let image = |n: usize| &self.input[(n * s.in_channels() + g * cg) * in_pixels..][..cg * in_pixels];
        let rows = block.rows.len();
        let weights = &self.weight[(g * og + block.rows.start) * k..][..rows * k];
        let runs = runs(block.first, len, pixels);
        let (cols, staging) = workspace.split_at_mut(self.tiling.k_chunk * self.tiling.tile);
        // Each run's columns are contiguous in the output, so one GEMM per
        // run can write them in place. With many short runs and a long
        // reduction (the weights are repacked per call) one GEMM over the
        // whole tile into `staging` (rows x len), scattered afterwards, is cheaper.
        let per_run = runs.len() == 1 || k * runs.len() <= len;
        let direct_b = per_run && s.is_pointwise();
        let chunk = self.tiling.k_chunk;
        for (step, k0) in (0..k.max(1)).step_by(chunk).enumerate() {
            let kc = chunk.min(k - k0.min(k));
            let a = MatRef::row_major(&weights[k0.min(weights.len())..], rows, kc, k);
            if !direct_b {
                for r in &runs {
                    self.plan.pack(image(r.image), k0..k0 + kc, r.pixel, r.len, &mut cols[r.column..], len);
                }
            }
            if per_run {
                for r in &runs {
                    let b = if direct_b {
                        MatRef::row_major(&image(r.image)[k0 * in_pixels + r.pixel..], kc, r.len, in_pixels)
                    } else {
                        MatRef::row_major(&cols[r.column..], kc, r.len, len)
                    };
                    // SAFETY: `output_block` is `rows` rows x r.len columns
                    // (stride `pixels`) inside the output, and belongs to this
                    // task alone: tasks are distinct (group, channel block,
                    // column tile) triples, so their (channel, column) sets
                    // are disjoint. Step 0 writes without reading.
                    unsafe { matmul(self.output_block(block, r), a, b, step > 0) };
                }
            } else {
                let dst = MatPtr { ptr: staging.as_mut_ptr(), rows, cols: len, ld: len };
                // SAFETY: `staging` is this worker's private slice of
                // rows * tile >= rows * len elements (ld = len); nothing else touches it.
                unsafe { matmul(dst, a, MatRef::row_major(&cols[..kc * len], kc, len, len), step > 0) };
            }
        }
        for r in &runs {
            for (i, o) in block.rows.clone().enumerate() {
                // SAFETY: elements r.pixel..r.pixel + r.len of output row
                // (r.image, g*og + o): in bounds (r.pixel + r.len <= pixels,
                // g*og + o < out_channels, r.image < batch), aligned, and
                // inside this task's own block, so no other task touches
                // them; the matmul pointer into the block is no longer used.
                let dst = unsafe { self.out.get().add((r.image * s.out_channels() + g * og + o) * pixels + r.pixel) };
                if !per_run {
                    // SAFETY: `dst` as above, valid for r.len writes; the
                    // source is this worker's staging row, which cannot overlap it.
                    unsafe { std::ptr::copy_nonoverlapping(staging[i * len + r.column..][..r.len].as_ptr(), dst, r.len) };
                }
                if let Some(bias) = self.bias {
                    // SAFETY: `dst` as above, now initialized (written by the
                    // GEMM or the copy); this `&mut` is its only access.
                    let row = unsafe { std::slice::from_raw_parts_mut(dst, r.len) };
                    let b = bias[g * og + o];
                    row.iter_mut().for_each(|v| *v += b);
                }
            }
        }
    }

    /// The channels of `block` at the pixels of run `r`, as a GEMM destination.
    fn output_block(&self, block: &Block, r: &Run) -> MatPtr<T> {
        let s = self.shape;
        let (og, pixels) = (s.out_channels() / s.groups(), s.output_pixels());
        let channel = block.g * og + block.rows.start;
        // SAFETY: the offset is inside the output: image r.image < N, channel
        // < O, pixel r.pixel < pixels (checked lengths in conv_forward).
        let ptr = unsafe { self.out.get().add((r.image * s.out_channels() + channel) * pixels + r.pixel) };
        MatPtr { ptr, rows: block.rows.len(), cols: r.len, ld: pixels }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conv::{PaddingMode, Window};

    /// The convolution sum written out directly, in f64.
    fn naive(shape: &ConvShape, input: &[f64], weight: &[f64], bias: &[f64]) -> Vec<f64> {
        let plan = Im2colPlan::new(shape);
        let (cg, og) = (shape.in_channels() / shape.groups(), shape.out_channels() / shape.groups());
        let (k, p, ip) = (shape.patch_len(), shape.output_pixels(), shape.input_pixels());
        let mut out = vec![0.0; shape.output_len()];
        let mut cols = vec![0.0; k * p];
        for n in 0..shape.batch() {
            for g in 0..shape.groups() {
                let image = &input[(n * shape.in_channels() + g * cg) * ip..][..cg * ip];
                plan.pack(image, 0..k, 0, p, &mut cols, p);
                for o in 0..og {
                    let oc = g * og + o;
                    for q in 0..p {
                        let dot: f64 = (0..k).map(|r| weight[oc * k + r] * cols[r * p + q]).sum();
                        out[(n * shape.out_channels() + oc) * p + q] = dot + bias[oc];
                    }
                }
            }
        }
        out
    }

    fn values(len: usize, salt: usize) -> Vec<f64> {
        (0..len).map(|i| (((i * 2654435761 + salt) % 1000) as f64 - 500.0) / 250.0).collect()
    }

    fn run(shape: &ConvShape, threads: usize) -> Vec<f64> {
        let input = values(shape.input_len(), 1);
        let weight = values(shape.weight_len(), 2);
        let bias = values(shape.out_channels(), 3);
        let mut out = vec![f64::NAN; shape.output_len()];
        conv_forward_im2col(shape, &input, &weight, Some(&bias), &mut out, threads).unwrap();
        let expected = naive(shape, &input, &weight, &bias);
        for (a, b) in out.iter().zip(&expected) {
            assert!((a - b).abs() <= 1e-10 * (1.0 + b.abs()), "{a} vs {b} for {shape:?}");
        }
        out
    }

    fn w(input: usize, kernel: usize, stride: usize, dilation: usize, pad: (usize, usize)) -> Window {
        Window { input, kernel, stride, dilation, pad_before: pad.0, pad_after: pad.1 }
    }

    #[test]
    fn matches_the_definition_and_is_thread_invariant() {
        let cases = [
            ConvShape::new(2, 4, 6, 2, &[w(9, 3, 1, 1, (1, 1)), w(11, 3, 2, 2, (2, 1))], PaddingMode::Zeros),
            ConvShape::new(3, 3, 4, 1, &[w(17, 4, 1, 1, (1, 2))], PaddingMode::Reflect),
            ConvShape::new(1, 2, 2, 2, &[w(4, 2, 1, 1, (1, 0)), w(5, 3, 2, 1, (1, 1)), w(6, 1, 1, 1, (0, 0))], PaddingMode::Circular),
            ConvShape::new(2, 6, 3, 1, &[w(7, 1, 1, 1, (0, 0)), w(9, 1, 1, 1, (0, 0))], PaddingMode::Zeros),
            ConvShape::new(1, 5, 4, 1, &[w(40, 3, 1, 1, (1, 1)), w(41, 3, 1, 1, (1, 1))], PaddingMode::Replicate),
            // Chains that start mid-row near the end of the plane (dilated "same").
            ConvShape::new(2, 1, 1, 1, &[w(5, 1, 1, 1, (0, 0)), w(6, 4, 1, 2, (3, 3))], PaddingMode::Zeros),
            // Weights that outgrow the workspace on a 7x7 image: one tile,
            // its output channels split across the threads.
            ConvShape::new(1, 256, 128, 1, &[w(7, 3, 1, 1, (1, 1)), w(7, 3, 1, 1, (1, 1))], PaddingMode::Zeros),
            // Padding wider than the input (circular allows pad == size).
            ConvShape::new(1, 1, 1, 1, &[w(4, 3, 1, 1, (4, 4)), w(4, 3, 1, 1, (4, 4))], PaddingMode::Circular),
        ];
        for shape in cases {
            let shape = shape.unwrap();
            let one = run(&shape, 1);
            for threads in [2, 3, 8] {
                assert!(one.iter().zip(run(&shape, threads)).all(|(a, b)| a.to_bits() == b.to_bits()));
            }
        }
    }

    #[test]
    fn tiles_stay_within_the_workspace() {
        for (pixels, k) in [(1, 1), (784, 9), (196, 2304), (3136, 576), (10, 1 << 20), (1 << 20, 3)] {
            let t = tiling(pixels, k, 8, 4);
            assert!(t.tile * t.k_chunk * 4 <= WORKSPACE_BYTES.max(MIN_TILE * MAX_K_CHUNK * 4));
            assert!(t.k_chunk <= MAX_K_CHUNK && t.k_chunk == k_chunk(k));
            assert!(t.tile * t.tiles >= pixels && t.tile * (t.tiles - 1) < pixels);
        }
    }

    /// Pointwise layers with few columns split their channels, in blocks
    /// that depend on the batch (`select`'s batch-invariance test runs this
    /// shape); other layers only when their weights outgrow the workspace,
    /// a block per thread.
    #[test]
    fn few_columns_split_channels() {
        let pointwise = |n| ConvShape::new(n, 24, 200, 1, &[w(7, 1, 1, 1, (0, 0)), w(7, 1, 1, 1, (0, 0))], PaddingMode::Zeros).unwrap();
        let grid = |shape: &ConvShape, threads| task_grid(shape, shape.batch() * shape.output_pixels(), 4, threads);
        let (t, rb) = grid(&pointwise(1), 2);
        assert_eq!((t.tiles, rb.rows, rb.blocks), (1, 80, 3));
        let (t, rb) = grid(&pointwise(5), 2);
        assert_eq!((t.tiles, rb.rows, rb.blocks), (8, 112, 2));
        let three = |c| ConvShape::new(1, c, 200, 1, &[w(7, 3, 1, 1, (1, 1)), w(7, 3, 1, 1, (1, 1))], PaddingMode::Zeros).unwrap();
        assert_eq!(grid(&three(24), 2).1, RowBlocks { rows: 200, blocks: 1 });
        // 200 x 2304 float32 weights outgrow the workspace: one tile, a
        // block per thread.
        let (t, rb) = grid(&three(256), 2);
        assert_eq!((t.tiles, rb.blocks), (1, crate::parallel::effective_threads(2).min(3)));
        assert_eq!(grid(&three(256), 1).1.blocks, 1);
    }

    #[test]
    fn wrong_buffer_lengths_are_errors() {
        let shape = ConvShape::new(1, 1, 1, 1, &[w(4, 2, 1, 1, (0, 0))], PaddingMode::Zeros).unwrap();
        let mut out = vec![0.0f32; 3];
        assert!(conv_forward_im2col(&shape, &[0.0; 3], &[0.0; 2], None, &mut out, 1).is_err());
        assert!(conv_forward_im2col(&shape, &[0.0; 4], &[0.0; 2], Some(&[0.0; 2]), &mut out, 1).is_err());
    }
}

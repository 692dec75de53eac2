//! Convolution backward: the gradients of `conv_forward` with respect to
//! its input (GEMM with the transposed weights, then col2im; or, for
//! zero-padded layers on CPUs with the AVX-512 tiles, the forward kernels
//! on the output gradient with flipped weights: one convolution at stride
//! 1, one per phase of the input (`phases`) when strided) and its
//! weights (im2col, then GEMM with the output gradient, summed over the
//! batch in a fixed order: in fixed runs of (image, pixel tile) steps when
//! the weight rows alone give the threads too little work; grouped layers,
//! and ungrouped ones with large images and many channels, with the vector
//! tiles: products of the forward pass's input slabs with the transposed
//! output gradient, `implicit::backward_weight`). Any padding mode: col2im is the exact
//! adjoint of the im2col the forward pass used.

use super::microkernel::{has_vector_tiles, transposed_band_rows, Block, Matrix, RowsRef};
use super::{depthwise, implicit, phases, winograd};
use super::forward::{runs, tile_cap, tiling};
use super::geometry::{check_backward_input, check_backward_weight, ConvShape};
use super::im2col::Im2colPlan;
use super::matmul::{matmul, MatPtr, MatRef, Real};
use super::uninit::{uninit_view, zeroed};
use crate::error::KernelResult;
use crate::parallel::{effective_threads, for_each_task, SharedMut};
use std::mem::MaybeUninit;

/// Input channels per grad-input task and weight rows per grad-weight task:
/// fixed sizes, so the work split never depends on the thread count.
const CHANNEL_BLOCK: usize = 8;
const WEIGHT_ROW_BLOCK: usize = 64;
/// Weight-gradient tasks wanted (see `reduction_parts`): a layer with a
/// short patch (a 1x1 kernel on 32 channels: one row block) would
/// otherwise run on one thread.
const MIN_WEIGHT_TASKS: usize = 8;
/// Bytes of partial weight gradients those runs may hold besides the result.
const PARTIAL_BYTES: usize = 8 << 20;
/// Bytes of an image's im2col columns that `im2col_backward_input` may hold
/// to spread one task's products over the threads.
const WHOLE_IMAGE_COLUMNS_BYTES: usize = 8 << 20;

/// `grad_input = col2im(W^T · grad_output)`, shapes as `conv_forward`
/// (`grad_input` like its input, `grad_output` like its output).
pub fn conv_backward_input<T: Real>(
    shape: &ConvShape,
    weight: &[T],
    grad_output: &[T],
    grad_input: &mut [T],
    threads: usize,
) -> KernelResult<()> {
    conv_backward_input_uninit(shape, weight, grad_output, uninit_view(grad_input), threads)
}

/// `conv_backward_input` into memory that need not be initialized (a fresh
/// allocation): the forward kernels on the dual convolution write every
/// element once and read none; the other paths get zeros first.
pub fn conv_backward_input_uninit<T: Real>(
    shape: &ConvShape,
    weight: &[T],
    grad_output: &[T],
    grad_input: &mut [MaybeUninit<T>],
    threads: usize,
) -> KernelResult<()> {
    // With the vector tiles, every layer with a `transposed` dual: whichever
    // source the dual takes (windows or panels), it beats col2im's products
    // of `8 * taps` rows per task (16 x 512 x 7x7 at 3x3: 38 ms against 68,
    // one thread). That includes small groups of several channels, which
    // the depthwise adjoint computes one channel pair at a time: ResNeXt's
    // 32 groups at batch 8 on a 2-core Zen 5, 8 channels per group at
    // 28x28 0.71 ms against 1.98, 4 at 56x56 1.38 against 2.26 (with the
    // AVX2 tiles 1.44 against 2.34 and 1.70 against 2.46). Plain depthwise
    // layers (one channel in and out per group) run the depthwise forward
    // kernels on their dual on every instruction set (`depthwise::takes_dual`);
    // strided ones keep the depthwise adjoint.
    let transposed = implicit::transposed(shape);
    if let Some(dual) = transposed.as_ref().filter(|dual| depthwise::takes_dual(shape, dual)) {
        return depthwise::backward_input_by_dual(shape, dual, weight, grad_output, grad_input, threads);
    }
    let dual = transposed.filter(|_| has_vector_tiles());
    let several_channels = shape.in_channels() / shape.groups() > 1;
    if depthwise::applies(shape) && !(several_channels && dual.is_some()) {
        return depthwise::backward_input(shape, weight, grad_output, zeroed(grad_input, threads), threads);
    }
    if let Some(dual) = dual {
        // The dual is the forward convolution the rule would give F(2x2, 3x3).
        if winograd::prefers(&dual) {
            return winograd::backward_input(shape, &dual, weight, grad_output, grad_input, threads);
        }
        return implicit::backward_input(shape, &dual, weight, grad_output, grad_input, threads);
    }
    // Strided zero-padded layers: a stride-1 convolution per phase of the
    // input (col2im's scattered adds cost more than the products there).
    if phases::applies(shape) {
        return phases::backward_input(shape, weight, grad_output, grad_input, threads);
    }
    im2col_backward_input(shape, weight, grad_output, zeroed(grad_input, threads), threads)
}

/// `conv_backward_input` by im2col + GEMM, whatever the shape (the reference path).
pub(crate) fn im2col_backward_input<T: Real>(
    shape: &ConvShape,
    weight: &[T],
    grad_output: &[T],
    grad_input: &mut [T],
    threads: usize,
) -> KernelResult<()> {
    let work = check_backward_input(shape, weight, grad_output, grad_input)?;
    grad_input.fill(T::ZERO);
    if !work {
        return Ok(());
    }
    // With the vector tiles each block's product runs on them (the `gemm`
    // crate is slow on the short reductions of grouped layers).
    let tile = backward_input_tile::<T>(shape);
    if !has_vector_tiles() {
        backward_input_tiles(shape, &TransposedBlocks::for_gemm(shape, weight), tile, grad_output, grad_input, threads);
        return Ok(());
    }
    // `W^T` is laid out for the tiles first when each block of it is used
    // more than once (several images or pixel tiles); read once, the copy
    // would only add its traffic (ResNet-18's `layer4.0.conv1` at batch 1,
    // one thread: 1.9 ms against 1.3). The products' chains are the same
    // either way, so the choice changes no bits.
    if shape.batch() * shape.output_pixels().div_ceil(tile) < 2 {
        backward_input_tiles(shape, &TransposedBlocks::in_place(shape, weight), tile, grad_output, grad_input, threads);
        return Ok(());
    }
    T::with_call_scratch(weight.len(), |packed| {
        let wt = TransposedBlocks::pack(shape, weight, packed, threads);
        backward_input_tiles(shape, &wt, tile, grad_output, grad_input, threads);
    });
    Ok(())
}

/// Output pixels per product and col2im step of `im2col_backward_input`.
fn backward_input_tile<T>(shape: &ConvShape) -> usize {
    let rows = CHANNEL_BLOCK.min(shape.in_channels() / shape.groups()) * shape.kernel_taps();
    tiling(shape.output_pixels(), rows, usize::MAX, std::mem::size_of::<T>()).tile
}

/// The (image, group, channel block) of `im2col_backward_input`'s task:
/// images innermost, so the tasks a thread runs in turn share a block of
/// `W^T` while it is in cache.
fn block_task(shape: &ConvShape, blocks: usize, task: usize) -> (usize, usize, usize) {
    let (group_block, n) = (task / shape.batch(), task % shape.batch());
    (n, group_block / blocks, group_block % blocks)
}

/// `im2col_backward_input` with `W^T` from `wt`: per (image, group,
/// channel block), `W^T · dy` a tile of `tile` pixels at a time, then
/// col2im of the tile.
fn backward_input_tiles<T: Real>(shape: &ConvShape, wt: &TransposedBlocks<T>, tile: usize, grad_output: &[T], grad_input: &mut [T], threads: usize) {
    let plan = Im2colPlan::new(shape);
    let (cg, og) = (shape.in_channels() / shape.groups(), shape.out_channels() / shape.groups());
    let (taps, pixels, in_pixels) = (shape.kernel_taps(), shape.output_pixels(), shape.input_pixels());
    let dy_rows: Vec<usize> = (0..og).map(|o| o * pixels).collect();
    let blocks = cg.div_ceil(CHANNEL_BLOCK);
    let tasks = shape.batch() * shape.groups() * blocks;
    let block_rows = CHANNEL_BLOCK.min(cg) * taps;
    if wt.tiled() && tasks < effective_threads(threads) && block_rows * pixels * std::mem::size_of::<T>() <= WHOLE_IMAGE_COLUMNS_BYTES {
        // Fewer (image, group, channel block) tasks than threads (wav2vec
        // 2.0's one-channel front end has one): the products of runs of
        // pixels run in parallel into one buffer (each element is one chain
        // whatever run it is in), and col2im follows tile by tile as below,
        // so every element gets the same bits.
        let mut dcols = vec![T::ZERO; block_rows * pixels];
        let run = pixels.div_ceil(4 * effective_threads(threads)).next_multiple_of(16);
        for task in 0..tasks {
            let (n, g, block) = block_task(shape, blocks, task);
            let (c0, channels) = (block * CHANNEL_BLOCK, CHANNEL_BLOCK.min(cg - block * CHANNEL_BLOCK));
            let rows = channels * taps;
            let dy = &grad_output[(n * shape.out_channels() + g * og) * pixels..][..og * pixels];
            let cols = SharedMut(dcols.as_mut_ptr());
            for_each_task(threads, pixels.div_ceil(run), |part| {
                let (first, len) = (part * run, run.min(pixels - part * run));
                assert!((rows - 1) * pixels + first + len <= block_rows * pixels);
                // SAFETY: C is columns first..first+len of `dcols`' first
                // `rows` rows (ld pixels), in bounds (asserted); no other
                // task of this loop writes them, and nothing reads `dcols`
                // until the loop ends.
                unsafe { wt.multiply(g, c0 * taps, rows, &dy[first..], &dy_rows, len, cols.get().add(first), pixels) };
            });
            let planes = &mut grad_input[(n * shape.in_channels() + g * cg + c0) * in_pixels..][..channels * in_pixels];
            for first in (0..pixels).step_by(tile) {
                plan.unpack_add(planes, 0..rows, first, tile.min(pixels - first), &dcols[first..], pixels);
            }
        }
        return;
    }
    let dx = SharedMut(grad_input.as_mut_ptr());
    for_each_task(threads, tasks, |task| {
        T::with_scratch(block_rows * tile, |dcols| {
            let (n, g, block) = block_task(shape, blocks, task);
            let c0 = block * CHANNEL_BLOCK;
            let channels = CHANNEL_BLOCK.min(cg - c0);
            let rows = channels * taps;
            // SAFETY: the planes of channels g*cg + c0 .. g*cg + c0 + channels
            // of image n: in bounds, since n < batch and c0 + channels <= cg
            // make the end at most batch * in_channels * in_pixels =
            // grad_input.len(); aligned, from a `&mut [T]`. Tasks are
            // distinct (image, group, channel block) triples, so no other
            // task touches these elements, and `grad_input` itself is not
            // used while the tasks run.
            let planes = unsafe {
                std::slice::from_raw_parts_mut(dx.get().add((n * shape.in_channels() + g * cg + c0) * in_pixels), channels * in_pixels)
            };
            let dy = &grad_output[(n * shape.out_channels() + g * og) * pixels..][..og * pixels];
            for first in (0..pixels).step_by(tile) {
                let len = tile.min(pixels - first);
                assert!(rows * len <= dcols.len());
                // SAFETY: `dcols` is this worker's private buffer of at
                // least rows * len elements (asserted), written at ld len.
                unsafe { wt.multiply(g, c0 * taps, rows, &dy[first..], &dy_rows, len, dcols.as_mut_ptr(), len) };
                plan.unpack_add(planes, 0..rows, first, len, dcols, len);
            }
        })
    });
}

/// Each group's `W^T` (`patch_len` rows of `og` steps) for
/// `im2col_backward_input`, and the product of a channel block's rows with
/// the output gradient.
struct TransposedBlocks<'a, T> {
    data: &'a [T],
    og: usize,
    patch: usize,
    /// Output pixels: the output gradient's row length.
    pixels: usize,
    layout: Layout,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Layout {
    /// The weights as they lie, multiplied on the tiles.
    InPlace,
    /// Laid out by `pack`, multiplied on the tiles.
    Packed,
    /// The weights as they lie, multiplied by `matmul` (no vector tiles).
    Gemm,
}

impl<'a, T: Real> TransposedBlocks<'a, T> {
    fn in_place(shape: &ConvShape, weight: &'a [T]) -> Self {
        Self::with_layout(shape, weight, Layout::InPlace)
    }

    fn for_gemm(shape: &ConvShape, weight: &'a [T]) -> Self {
        Self::with_layout(shape, weight, Layout::Gemm)
    }

    fn with_layout(shape: &ConvShape, data: &'a [T], layout: Layout) -> Self {
        let og = shape.out_channels() / shape.groups();
        TransposedBlocks { data, og, patch: shape.patch_len(), pixels: shape.output_pixels(), layout }
    }

    /// Whether the products run on the vector tiles.
    fn tiled(&self) -> bool {
        self.layout != Layout::Gemm
    }

    /// `W^T` laid out once per call: every channel block's rows in bands of
    /// `transposed_band_rows` rows, each band step-major, so the tiles read
    /// a band's chunk from L1 as it lies. Read from the weights in place, a
    /// block's rows lie `C * taps` elements apart per step (often a
    /// multiple of 512 bytes), and the tiles copied them band by band for
    /// every image and pixel tile: ResNet-18's `layer4.0.conv1` grad_input
    /// at batch 16 spent 18% of its time in those copies.
    fn pack(shape: &ConvShape, weight: &[T], dst: &'a mut [T], threads: usize) -> Self {
        let (cg, og, taps, patch) = (shape.in_channels() / shape.groups(), shape.out_channels() / shape.groups(), shape.kernel_taps(), shape.patch_len());
        let blocks = cg.div_ceil(CHANNEL_BLOCK);
        let dst = &mut dst[..weight.len()];
        let out = SharedMut(dst.as_mut_ptr());
        for_each_task(threads, shape.groups() * blocks, |task| {
            let (g, c0) = (task / blocks, task % blocks * CHANNEL_BLOCK);
            let group = &weight[g * og * patch..][..og * patch];
            for (row, rows) in Self::bands(c0 * taps, CHANNEL_BLOCK.min(cg - c0) * taps) {
                // SAFETY: the band's og * rows elements from (g * patch + row)
                // * og: inside `dst` (row + rows <= patch), which nothing else
                // uses while the tasks run; tasks and bands cover distinct rows.
                let band = unsafe { std::slice::from_raw_parts_mut(out.get().add((g * patch + row) * og), og * rows) };
                for (o, steps) in band.chunks_exact_mut(rows).enumerate() {
                    steps.copy_from_slice(&group[o * patch + row..][..rows]);
                }
            }
        });
        Self::with_layout(shape, dst, Layout::Packed)
    }

    /// The bands of the block of `rows` rows from `row`: (first row, rows).
    fn bands(row: usize, rows: usize) -> impl Iterator<Item = (usize, usize)> {
        let band = transposed_band_rows::<T>();
        (row..row + rows).step_by(band).map(move |first| (first, band.min(row + rows - first)))
    }

    /// `C = W^T dy` for the `rows` rows from `row` of group `g`'s `W^T` (a
    /// channel block's), `len` columns of the output gradient `dy` (row `o`
    /// at `dy_rows[o]`, `pixels` apart): each element one chain over the
    /// output channels on the tiles, whatever columns the call covers.
    ///
    /// # Safety
    /// `c` must be valid for writes of `rows` rows of `len` elements, `ldc`
    /// apart, that nothing else accesses during the call.
    #[allow(clippy::too_many_arguments)]
    unsafe fn multiply(&self, g: usize, row: usize, rows: usize, dy: &[T], dy_rows: &[usize], len: usize, c: *mut T, ldc: usize) {
        assert!(row + rows <= self.patch && dy_rows.len() == self.og, "W^T rows out of range");
        let group = &self.data[g * self.og * self.patch..][..self.og * self.patch];
        match self.layout {
            Layout::Gemm => {
                let wt = MatRef::transposed(&group[row..], rows, self.og, self.patch);
                let dst = MatPtr { ptr: c, rows, cols: len, ld: ldc };
                // SAFETY: C is the caller's.
                return unsafe { matmul(dst, wt, MatRef::row_major(dy, self.og, len, self.pixels), false) };
            }
            Layout::InPlace => {
                let a = Matrix::transpose_of(group, self.patch, self.og);
                // SAFETY: the caller's, passed on; A has rows row..row + rows.
                return unsafe { multiply_by_transposed_weights(a.rows_from(row, 0), rows, dy, dy_rows, len, c, ldc) };
            }
            Layout::Packed => {}
        }
        for (first, n) in Self::bands(row, rows) {
            let band = Matrix::transpose_of(&group[first * self.og..][..n * self.og], n, self.og);
            // SAFETY: the band has n rows of og steps; C's rows first - row
            // .. + n are inside the caller's `rows` rows.
            unsafe { multiply_by_transposed_weights(band.rows_from(0, 0), n, dy, dy_rows, len, c.add((first - row) * ldc), ldc) };
        }
    }
}

/// `C = W^T dy` on the tiles for `rows` rows of a group's `W^T` from `a`
/// and `len` columns of its output gradient `dy`, row `o` at `dy_rows[o]`
/// (ascending); each element one chain over the output channels, whatever
/// columns the call covers.
///
/// # Safety
/// `a` must have at least `rows` rows of `dy_rows.len()` steps left; `c`
/// must be valid for writes of `rows` rows of `len` elements, `ldc` apart,
/// that nothing else accesses during the call.
unsafe fn multiply_by_transposed_weights<T: Real>(a: RowsRef<T>, rows: usize, dy: &[T], dy_rows: &[usize], len: usize, c: *mut T, ldc: usize) {
    assert!(dy_rows.last().is_none_or(|&last| last + len <= dy.len()), "output gradient rows out of range");
    let block = Block { a, b: dy.as_ptr(), offsets: dy_rows.as_ptr(), depth: dy_rows.len(), c, ldc, rows, cols: len, bias: None, accumulate: false };
    // SAFETY: A is `rows` rows of the caller's W^T with `depth` steps (one
    // per output channel); B(o, j) = dy[dy_rows[o] + j], j < len, inside
    // `dy` (asserted; the rows ascend); C is the caller's.
    unsafe { T::multiply(&block) };
}

/// `grad_weight = sum over the batch of grad_output · im2col(input)^T`,
/// images and pixel tiles added in ascending order.
pub fn conv_backward_weight<T: Real>(
    shape: &ConvShape,
    input: &[T],
    grad_output: &[T],
    grad_weight: &mut [T],
    threads: usize,
) -> KernelResult<()> {
    if depthwise::applies(shape) {
        return depthwise::backward_weight(shape, input, grad_output, grad_weight, threads);
    }
    if implicit::prefers_backward_weight(shape) {
        return implicit::backward_weight(shape, input, grad_output, grad_weight, threads);
    }
    im2col_backward_weight(shape, input, grad_output, grad_weight, threads)
}

/// `conv_backward_weight` by im2col + GEMM, whatever the shape (the reference path).
pub(crate) fn im2col_backward_weight<T: Real>(
    shape: &ConvShape,
    input: &[T],
    grad_output: &[T],
    grad_weight: &mut [T],
    threads: usize,
) -> KernelResult<()> {
    let work = check_backward_weight(shape, input, grad_output, grad_weight)?;
    grad_weight.fill(T::ZERO);
    if !work {
        return Ok(());
    }
    let plan = Im2colPlan::new(shape);
    let (cg, og) = (shape.in_channels() / shape.groups(), shape.out_channels() / shape.groups());
    let (k, pixels, in_pixels) = (shape.patch_len(), shape.output_pixels(), shape.input_pixels());
    let blocks = k.div_ceil(WEIGHT_ROW_BLOCK);
    let steps = WeightSteps::new(shape, WEIGHT_ROW_BLOCK.min(k), std::mem::size_of::<T>());
    // The reduction runs over the steps in order; with few row blocks it is
    // cut into `parts` fixed runs of steps, each summed into a buffer of its
    // own, and the buffers are added in order after.
    let parts = reduction_parts(shape.groups() * blocks, steps.count, std::mem::size_of_val(grad_weight));
    let mut partials = vec![T::ZERO; (parts - 1) * grad_weight.len()];
    let buffers: Vec<SharedMut<T>> = std::iter::once(grad_weight.as_mut_ptr()).chain(partials.chunks_exact_mut(grad_weight.len().max(1)).map(|p| p.as_mut_ptr())).map(SharedMut).collect();
    let panel = WEIGHT_ROW_BLOCK.min(k) * steps.width;
    let staged_dy = if steps.images > 1 { og * steps.width } else { 0 };
    for_each_task(threads, shape.groups() * blocks * parts, |task| {
        T::with_scratch(panel + staged_dy, |scratch| {
            let (cols, staged) = scratch.split_at_mut(panel);
            let (task, part) = (task / parts, task % parts);
            let (g, block) = (task / blocks, task % blocks);
            let k0 = block * WEIGHT_ROW_BLOCK;
            let kb = WEIGHT_ROW_BLOCK.min(k - k0);
            // SAFETY: (for each `matmul(dst(), ..)` below) the block is rows
            // g*og .. g*og + og, columns k0 .. k0 + kb of part `part`'s
            // (out_channels x k) buffer, stride k: grad_weight itself or a
            // partial of its length. k0 < k and k0 + kb <= k keep it inside
            // (last element < (g + 1) * og * k <= grad_weight.len()); the
            // pointer is aligned (from a slice). Tasks are distinct (group,
            // column block, part) triples, so no other task touches the block,
            // and the buffers are not used otherwise while the tasks run.
            let dst = || MatPtr { ptr: unsafe { buffers[part].get().add(g * og * k + k0) }, rows: og, cols: kb, ld: k };
            let image = |n: usize| &input[(n * shape.in_channels() + g * cg) * in_pixels..][..cg * in_pixels];
            let dy = |n: usize| &grad_output[(n * shape.out_channels() + g * og) * pixels..][..og * pixels];
            let mut accumulate = false;
            for step in part_steps(part, parts, steps.count) {
                let (first, len) = steps.columns(step);
                let runs = runs(first, len, pixels);
                for r in &runs {
                    plan.pack(image(r.image), k0..k0 + kb, r.pixel, r.len, &mut cols[r.column..], len);
                }
                // One image: its output gradient read in place; several: their
                // rows side by side, as the columns were packed.
                let a = if let [r] = runs.as_slice() {
                    MatRef::row_major(&dy(r.image)[r.pixel..], og, len, pixels)
                } else {
                    for r in &runs {
                        for o in 0..og {
                            staged[o * len + r.column..][..r.len].copy_from_slice(&dy(r.image)[o * pixels + r.pixel..][..r.len]);
                        }
                    }
                    MatRef::row_major(&staged[..og * len], og, len, len)
                };
                // SAFETY: `dst()` is this task's own block of its part's
                // buffer, in bounds and unshared (see the comment on `dst`).
                unsafe { matmul(dst(), a, MatRef::transposed(&cols[..kb * len], len, kb, len), accumulate) };
                accumulate = true;
            }
        })
    });
    for partial in partials.chunks_exact(grad_weight.len().max(1)) {
        grad_weight.iter_mut().zip(partial).for_each(|(dw, &p)| *dw += p);
    }
    Ok(())
}

/// The steps of the weight gradient's reduction over (image, pixel)
/// columns: tiles of each image's pixels, or, for images smaller than a
/// tile, runs of whole images, so each product reduces over more than one
/// small image (a 7x7 image alone gave the GEMM a reduction of 49, its
/// fixed costs larger than its work). Fixed by the shape alone.
struct WeightSteps {
    /// Images per step (1: steps are tiles within an image).
    images: usize,
    /// Columns per step at most.
    width: usize,
    tiles_per_image: usize,
    batch: usize,
    pixels: usize,
    count: usize,
}

impl WeightSteps {
    fn new(shape: &ConvShape, rows: usize, elem_bytes: usize) -> Self {
        let (batch, pixels) = (shape.batch(), shape.output_pixels().max(1));
        let og = shape.out_channels() / shape.groups();
        let tile = tiling(pixels, rows, usize::MAX, elem_bytes).tile;
        // Whole images per step while the packed columns and the staged
        // output gradient stay within one tile's workspace.
        let fit = tile_cap(rows, elem_bytes) * rows / (rows + og);
        let images = if tile == pixels { (fit / pixels).clamp(1, batch.max(1)) } else { 1 };
        if images > 1 {
            return WeightSteps { images, width: images * pixels, tiles_per_image: 1, batch, pixels, count: batch.div_ceil(images) };
        }
        let tiles_per_image = pixels.div_ceil(tile);
        WeightSteps { images: 1, width: tile, tiles_per_image, batch, pixels, count: batch * tiles_per_image }
    }

    /// Step `s`'s columns: `(first, len)` in (image, pixel) C order.
    fn columns(&self, s: usize) -> (usize, usize) {
        if self.images > 1 {
            let first = s * self.images * self.pixels;
            return (first, (self.batch * self.pixels - first).min(self.width));
        }
        let (n, t) = (s / self.tiles_per_image, s % self.tiles_per_image);
        (n * self.pixels + t * self.width, self.width.min(self.pixels - t * self.width))
    }
}

/// Runs the weight-gradient reduction is cut into: 1 when the row blocks
/// alone make `MIN_WEIGHT_TASKS` tasks, else enough runs for that many (at
/// most one per step, and partial sums of at most `PARTIAL_BYTES` in all).
/// A function of the shape alone, so the sums' order, and their bits, do
/// not depend on the thread count.
fn reduction_parts(row_tasks: usize, steps: usize, weight_bytes: usize) -> usize {
    if row_tasks >= MIN_WEIGHT_TASKS {
        return 1;
    }
    let by_memory = 1 + PARTIAL_BYTES / weight_bytes.max(1);
    MIN_WEIGHT_TASKS.div_ceil(row_tasks.max(1)).min(steps).min(by_memory).max(1)
}

/// Steps `part` of `parts` covers: equal runs, in order.
fn part_steps(part: usize, parts: usize, steps: usize) -> std::ops::Range<usize> {
    part * steps / parts..(part + 1) * steps / parts
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conv::{conv_forward, PaddingMode, Window};

    fn values(len: usize, salt: usize) -> Vec<f64> {
        (0..len).map(|i| (((i * 2654435761 + salt) % 1000) as f64 - 500.0) / 250.0).collect()
    }

    fn dot(a: &[f64], b: &[f64]) -> f64 {
        a.iter().zip(b).map(|(x, y)| x * y).sum()
    }

    /// Small images grouped several to a step (in float64, 5 images of 300
    /// pixels with 200 output channels go 2, 2 and 1 to a step; 9 of 3000
    /// with 8 go 3 to a step), a one-block layer's reduction cut into runs
    /// of steps, and two row blocks of 64: the weight gradient of
    /// a 1x1 layer against its definition, `dw[o, c] = sum dy[n, o, p] x[n, c, p]`,
    /// and the same bits for every thread count.
    #[test]
    fn weight_gradient_over_grouped_images_and_runs_matches_its_definition() {
        for (n, c, o, p) in [(5, 3, 200, 300), (9, 6, 8, 3000), (4, 70, 30, 50)] {
            let w = Window { input: p, kernel: 1, stride: 1, dilation: 1, pad_before: 0, pad_after: 0 };
            let shape = ConvShape::new(n, c, o, 1, &[w], PaddingMode::Zeros).unwrap();
            let (x, dy) = (values(shape.input_len(), 1), values(shape.output_len(), 2));
            let mut want = vec![0.0; o * c];
            for (oc, cc, img) in (0..o).flat_map(|oc| (0..c).flat_map(move |cc| (0..n).map(move |img| (oc, cc, img)))) {
                want[oc * c + cc] += dot(&dy[(img * o + oc) * p..][..p], &x[(img * c + cc) * p..][..p]);
            }
            let mut first: Option<Vec<f64>> = None;
            for threads in [1, 2, 5] {
                let mut dw = vec![f64::NAN; o * c];
                im2col_backward_weight(&shape, &x, &dy, &mut dw, threads).unwrap();
                for (a, b) in dw.iter().zip(&want) {
                    assert!((a - b).abs() <= 1e-9 * b.abs().max(1.0), "{a} vs {b} for {shape:?}");
                }
                let first = first.get_or_insert_with(|| dw.clone());
                assert!(first.iter().zip(&dw).all(|(a, b)| a.to_bits() == b.to_bits()), "bits differ: {shape:?}");
            }
        }
    }

    /// im2col's input gradient lays `W^T` out per call when a block of it is
    /// used more than once (a batch) and reads it in place otherwise (one
    /// image, one pixel tile): both must give each image the same bits, in
    /// float32 and float64 (bands of 32 and 16 rows of the blocks' 72 here),
    /// and the batch's gradient must be the adjoint of the forward pass.
    #[test]
    fn im2col_input_gradient_is_batch_invariant_across_weight_layouts() {
        fn check<T: Real>(cast: fn(f64) -> T, tolerance: f64) {
            let w = |input| Window { input, kernel: 3, stride: 2, dilation: 1, pad_before: 1, pad_after: 1 };
            for mode in [PaddingMode::Zeros, PaddingMode::Reflect] {
                let shape = ConvShape::new(3, 32, 24, 2, &[w(9), w(11)], mode).unwrap();
                let one = shape.with_batch(1).unwrap();
                let cast_all = |v: Vec<f64>| v.into_iter().map(cast).collect::<Vec<T>>();
                let (x, wt, dy) = (cast_all(values(shape.input_len(), 1)), cast_all(values(shape.weight_len(), 2)), cast_all(values(shape.output_len(), 3)));
                let mut dx = vec![T::ZERO; x.len()];
                im2col_backward_input(&shape, &wt, &dy, &mut dx, 2).unwrap();
                let (in_image, out_image) = (one.input_len(), one.output_len());
                for n in 0..3 {
                    let mut alone = vec![T::ZERO; in_image];
                    im2col_backward_input(&one, &wt, &dy[n * out_image..][..out_image], &mut alone, 1).unwrap();
                    assert!(alone.iter().zip(&dx[n * in_image..]).all(|(a, b)| a.to_f64().to_bits() == b.to_f64().to_bits()), "image {n} of {shape:?}");
                }
                let mut y = vec![T::ZERO; dy.len()];
                conv_forward(&shape, &x, &wt, None, &mut y, 1).unwrap();
                let to64 = |v: &[T]| v.iter().map(|a| a.to_f64()).collect::<Vec<f64>>();
                let expected = dot(&to64(&y), &to64(&dy));
                assert!((dot(&to64(&x), &to64(&dx)) - expected).abs() <= tolerance * expected.abs().max(1.0), "{shape:?}");
            }
        }
        check::<f32>(|v| v as f32, 1e-4);
        check::<f64>(|v| v, 1e-9);
    }

    /// The gradients are adjoints: <conv(x, w), dy> = <x, dx(dy)> = <w, dw(x, dy)>.
    #[test]
    fn gradients_are_the_adjoints_of_forward_for_every_thread_count() {
        let w = |input, kernel, stride, dilation, pad: (usize, usize)| Window {
            input, kernel, stride, dilation, pad_before: pad.0, pad_after: pad.1,
        };
        let cases = [
            ConvShape::new(2, 4, 6, 2, &[w(9, 3, 1, 1, (1, 1)), w(11, 3, 2, 2, (2, 1))], PaddingMode::Zeros),
            ConvShape::new(3, 10, 4, 1, &[w(17, 4, 1, 1, (1, 2))], PaddingMode::Reflect),
            ConvShape::new(1, 2, 2, 2, &[w(4, 2, 1, 1, (1, 0)), w(5, 3, 2, 1, (1, 1)), w(6, 1, 1, 1, (0, 0))], PaddingMode::Circular),
            ConvShape::new(2, 70, 3, 1, &[w(7, 3, 1, 1, (1, 1)), w(9, 2, 1, 1, (0, 0))], PaddingMode::Replicate),
            // Its input gradient's dual (2 -> 16 channels, 3x5x5) takes
            // F(2, 3) along the depth where vector tiles run.
            ConvShape::new(1, 16, 2, 1, &[w(5, 3, 1, 1, (1, 1)), w(6, 5, 1, 1, (2, 2)), w(7, 5, 1, 1, (2, 2))], PaddingMode::Zeros),
        ];
        for shape in cases {
            let shape = shape.unwrap();
            let (x, wt, dy) = (values(shape.input_len(), 1), values(shape.weight_len(), 2), values(shape.output_len(), 3));
            let mut y = vec![0.0; shape.output_len()];
            conv_forward(&shape, &x, &wt, None, &mut y, 1).unwrap();
            let mut results = Vec::new();
            for threads in [1, 2, 3, 8] {
                let mut dx = vec![f64::NAN; x.len()];
                let mut dw = vec![f64::NAN; wt.len()];
                conv_backward_input(&shape, &wt, &dy, &mut dx, threads).unwrap();
                conv_backward_weight(&shape, &x, &dy, &mut dw, threads).unwrap();
                let expected = dot(&y, &dy);
                assert!((dot(&x, &dx) - expected).abs() <= 1e-9 * expected.abs().max(1.0), "{shape:?}");
                assert!((dot(&wt, &dw) - expected).abs() <= 1e-9 * expected.abs().max(1.0), "{shape:?}");
                results.push((dx, dw));
            }
            for r in &results[1..] {
                assert!(r.0.iter().zip(&results[0].0).all(|(a, b)| a.to_bits() == b.to_bits()));
                assert!(r.1.iter().zip(&results[0].1).all(|(a, b)| a.to_bits() == b.to_bits()));
            }
        }
    }
}

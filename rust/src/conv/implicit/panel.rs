//! The packed-panel source, for every shape the shifted windows do not
//! suit (strides, narrow rows, small images).
//!
//! A task owns one group's output channels (or a range of them) at a block
//! of output columns: (image, pixel) pairs in C order, so a block may span
//! several small images and fill whole tiles where one image would not.
//! For each block of the reduction it packs those im2col rows for
//! its columns into an L2-sized panel and
//! continues every output's chain through the staged result.

use super::ChannelParts;
use crate::conv::forward::runs;
use crate::conv::geometry::ConvShape;
use crate::conv::im2col::Im2colPlan;
use crate::conv::matmul::Real;
use crate::conv::microkernel::{tile_width, Block, Matrix};
use crate::parallel::{for_each_task, SharedMut};

/// Output columns per task, in full tiles.
const TILES_PER_TASK: usize = 8;
/// im2col rows packed at a time: `PANEL_BYTES` of them stays in L2.
const PANEL_BYTES: usize = 256 << 10;

/// `output = conv(input, weight) + bias` for any shape, every element of
/// the output written once, never read.
///
/// # Safety
/// `out` must point at `shape.output_len()` elements valid for writes
/// that nothing else accesses during the call; the other buffers are checked.
pub(super) unsafe fn forward<T: Real>(
    shape: &ConvShape,
    input: &[T],
    weights: &[Matrix<'_, T>],
    bias: Option<&[T]>,
    out: SharedMut<T>,
    threads: usize,
) {
    let og = shape.out_channels() / shape.groups();
    let total = shape.batch() * shape.output_pixels();
    let width = TILES_PER_TASK * tile_width::<T>();
    let blocks = total.div_ceil(width);
    let parts = ChannelParts::new(og, shape.groups() * blocks, threads);
    let depth_block = (PANEL_BYTES / (width * std::mem::size_of::<T>())).max(1);
    let plan = Im2colPlan::new(shape);
    let job = Job { shape, plan: &plan, input, weights, bias, depth_block, out };
    let workspace = depth_block * width + parts.per_part * width;
    for_each_task(threads, shape.groups() * blocks * parts.parts, |t| {
        let (t, part) = (t / parts.parts, t % parts.parts);
        let (group, block) = (t / blocks, t % blocks);
        let (o0, rows) = parts.range(part, og);
        let first = block * width;
        T::with_scratch(workspace, |scratch| {
            job.run(group, o0, rows, first, width.min(total - first), scratch)
        });
    });
}

/// What every task reads, and the output it writes into.
struct Job<'a, T: Clone> {
    shape: &'a ConvShape,
    plan: &'a Im2colPlan,
    input: &'a [T],
    weights: &'a [Matrix<'a, T>],
    bias: Option<&'a [T]>,
    depth_block: usize,
    out: SharedMut<T>,
}

impl<T: Real> Job<'_, T> {
    /// Output channels `o0..o0+rows` of group `g` at columns `first..first+len`.
    fn run(&self, g: usize, o0: usize, rows: usize, first: usize, len: usize, scratch: &mut [T]) {
        let s = self.shape;
        let (cg, og, k) = (s.in_channels() / s.groups(), s.out_channels() / s.groups(), s.patch_len());
        let (in_pixels, pixels) = (s.input_pixels(), s.output_pixels());
        let image = |n: usize| &self.input[(n * s.in_channels() + g * cg) * in_pixels..][..cg * in_pixels];
        let runs = runs(first, len, pixels);
        let (panel, staging) = scratch.split_at_mut(self.depth_block * len);
        let offsets: Vec<usize> = (0..self.depth_block).map(|r| r * len).collect();
        let channel = g * og + o0;
        for k0 in (0..k).step_by(self.depth_block) {
            let depth = self.depth_block.min(k - k0);
            for r in &runs {
                self.plan.pack(image(r.image), k0..k0 + depth, r.pixel, r.len, &mut panel[r.column..], len);
            }
            let block = Block {
                a: self.weights[g].rows_from(o0, k0),
                b: panel.as_ptr(),
                offsets: offsets.as_ptr(),
                depth,
                c: staging.as_mut_ptr(),
                ldc: len,
                rows,
                cols: len,
                bias: (k0 + depth == k).then(|| self.bias.map(|b| b[channel..].as_ptr())).flatten(),
                accumulate: k0 > 0,
            };
            // SAFETY: A is the group's weight rows o0..o0+rows, steps
            // k0..k0+depth; B row r is panel[r * len..][..len], all
            // packed above (depth * len <= panel length); C is `staging`, this
            // worker's scratch of >= rows * len elements, untouched by others.
            unsafe { T::multiply(&block) };
        }
        for r in &runs {
            for o in 0..rows {
                let offset = (r.image * s.out_channels() + channel + o) * pixels + r.pixel;
                let staged = &staging[o * len + r.column..][..r.len];
                // SAFETY: pixels r.pixel..r.pixel + r.len of output plane
                // (r.image, channel + o): in bounds (checked lengths) and
                // owned by this task alone: tasks are distinct (group, column
                // block, channel part); written whole (the output may be
                // uninitialized memory).
                unsafe { T::copy_rows(staged.as_ptr(), 0, self.out.get().add(offset), 0, r.len, 1) };
            }
        }
    }
}

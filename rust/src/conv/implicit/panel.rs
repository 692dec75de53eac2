//! The packed-panel source, for every shape the shifted windows do not
//! suit (strides, narrow rows, small images).
//!
//! A task owns one group's output channels (or a range of them) at a block
//! of output columns: (image, pixel) pairs in C order, so a block may span
//! several small images and fill whole tiles where one image would not.
//! For each block of the reduction it packs those im2col rows for
//! its columns into an L2-sized panel and
//! continues every output's chain through the staged result. When a
//! block's output channels are cut into parts (few blocks: batch 1 on a
//! small image), the block's im2col rows are packed once, by all threads,
//! and the parts read them from there.

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
/// Bytes of im2col rows packed once and shared by a block's channel parts
/// at most; past this each part packs its own panels.
const SHARED_PANEL_BYTES: usize = 8 << 20;
/// im2col rows per packing task of those shared rows.
const SHARED_PACK_ROWS: usize = 64;

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
    let multiply = |t: usize, packed: Option<&[T]>, ld: usize| {
        let (t, part) = (t / parts.parts, t % parts.parts);
        let (group, block) = (t / blocks, t % blocks);
        let (o0, rows) = parts.range(part, og);
        let first = block * width;
        let columns = Columns { first, len: width.min(total - first), ld };
        T::with_scratch(workspace, |scratch| {
            job.run(group, o0, rows, columns, packed.map(|p| &p[t * shape.patch_len() * ld..]), scratch)
        });
    };
    let shared = shape.groups() * blocks * shape.patch_len() * width.min(total);
    if parts.parts > 1 && shared * std::mem::size_of::<T>() <= SHARED_PANEL_BYTES {
        // (49 columns x 4608 rows for ResNet-18's layer4 at batch 1:
        // four parts on two threads packed them four times.)
        let ld = width.min(total);
        T::with_call_scratch(shared, |packed| {
            job.pack_shared(blocks, width, ld, packed, threads);
            let packed = &*packed;
            for_each_task(threads, shape.groups() * blocks * parts.parts, |t| multiply(t, Some(packed), ld));
        });
        return;
    }
    for_each_task(threads, shape.groups() * blocks * parts.parts, |t| multiply(t, None, width));
}

/// Output columns `first..first+len` of a task, and the distance between
/// the rows of its packed panels.
struct Columns {
    first: usize,
    len: usize,
    ld: usize,
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
    /// Group `g`'s image channels of image `n`.
    fn image(&self, g: usize, n: usize) -> &[T] {
        let s = self.shape;
        let cg = s.in_channels() / s.groups();
        &self.input[(n * s.in_channels() + g * cg) * s.input_pixels()..][..cg * s.input_pixels()]
    }

    /// Every (group, column block)'s im2col rows into `packed`, one after
    /// another, rows `ld` apart (`ld` the widest block), packed in chunks
    /// of `SHARED_PACK_ROWS` rows on all threads.
    fn pack_shared(&self, blocks: usize, width: usize, ld: usize, packed: &mut [T], threads: usize) {
        let (k, pixels) = (self.shape.patch_len(), self.shape.output_pixels());
        let total = self.shape.batch() * pixels;
        let chunks = k.div_ceil(SHARED_PACK_ROWS);
        let panels = SharedMut(packed.as_mut_ptr());
        for_each_task(threads, self.shape.groups() * blocks * chunks, |task| {
            let (panel, chunk) = (task / chunks, task % chunks);
            let (g, first) = (panel / blocks, panel % blocks * width);
            let k0 = chunk * SHARED_PACK_ROWS;
            let depth = SHARED_PACK_ROWS.min(k - k0);
            // SAFETY: rows k0..k0+depth of panel `panel`: elements
            // (panel * k + k0) * ld .. (panel * k + k0 + depth) * ld of
            // `packed` (groups * blocks * k * ld long), borrowed mutably for
            // this call; tasks are distinct (panel, chunk) pairs, whose rows
            // do not overlap.
            let rows = unsafe { std::slice::from_raw_parts_mut(panels.get().add((panel * k + k0) * ld), depth * ld) };
            for r in runs(first, width.min(total - first), pixels) {
                self.plan.pack(self.image(g, r.image), k0..k0 + depth, r.pixel, r.len, &mut rows[r.column..], ld);
            }
        });
    }

    /// Output channels `o0..o0+rows` of group `g` at `columns`, reading its
    /// im2col rows from `packed` (rows `columns.ld` apart) or packing them
    /// into `scratch` a block of the reduction at a time.
    fn run(&self, g: usize, o0: usize, rows: usize, columns: Columns, packed: Option<&[T]>, scratch: &mut [T]) {
        let s = self.shape;
        let (og, k) = (s.out_channels() / s.groups(), s.patch_len());
        let pixels = s.output_pixels();
        let Columns { first, len, ld } = columns;
        let runs = runs(first, len, pixels);
        let (panel, staging) = scratch.split_at_mut(self.depth_block * len);
        let ld = if packed.is_some() { ld } else { len };
        let offsets: Vec<usize> = (0..self.depth_block).map(|r| r * ld).collect();
        let channel = g * og + o0;
        for k0 in (0..k).step_by(self.depth_block) {
            let depth = self.depth_block.min(k - k0);
            let b = match packed {
                Some(packed) => packed[k0 * ld..][..(depth - 1) * ld + len].as_ptr(),
                None => {
                    for r in &runs {
                        self.plan.pack(self.image(g, r.image), k0..k0 + depth, r.pixel, r.len, &mut panel[r.column..], len);
                    }
                    panel.as_ptr()
                }
            };
            let block = Block {
                a: self.weights[g].rows_from(o0, k0),
                b,
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
            // k0..k0+depth; B row r is `len` elements at b + r * ld, all
            // packed (above, depth * len <= panel length, or by
            // `pack_shared`, the slice taken above); C is `staging`, this
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

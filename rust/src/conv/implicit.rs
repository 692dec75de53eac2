//! Implicit GEMM for stride-1 convolutions: no im2col matrix at all.
//!
//! With stride 1, the im2col row of kernel tap `(th, tw)` and channel `c`
//! is the padded input plane of `c` shifted by `th * dilation` rows and
//! `tw * dilation` columns. So once a band of output rows has its input rows
//! copied with their padding ("slab", `Wp = W + pad` columns wide), the
//! product for one tap is a GEMM whose right-hand matrix is the slab itself,
//! read at an offset: rows are channels (stride: one slab plane), columns
//! are slab positions `r * Wp + x`. Summing the `kh * kw` tap products
//! gives the output on the slab's grid, whose columns `x >= OW` of each row
//! are discarded. Compared with im2col this skips writing and re-reading
//! `kh * kw` copies of the input (Chellapilla et al.'s matrix is never
//! formed), at the price of `Wp - OW` wasted columns per row.
//!
//! In 3-D the slab of one output depth slice holds the `(kd - 1) * dilation + 1`
//! input slices it reads, each a band of padded rows, so a tap's shift is
//! `td * dilation * slice + th * dilation * Wp + tw * dilation`, still one
//! offset into the slab.
//!
//! Tasks are (image, group, output depth slice, band of output rows); band
//! height depends on the per-image shape only and the channel sum is cut
//! into chunks fixed by the channel count, so results are thread- and
//! batch-invariant.

use super::forward::k_chunk;
use super::geometry::{check_forward, ConvShape};
use super::matmul::{matmul, MatPtr, MatRef, Real};
use crate::error::KernelResult;
use crate::parallel::{for_each_task, SharedMut};

/// Per-task workspace (slab + output staging) the bands are sized to.
const WORKSPACE_BYTES: usize = 1 << 20;

/// Whether the shifted-GEMM method computes `shape`: stride 1 on every
/// axis (any kernel, dilation, padding, padding mode; 1-D to 3-D).
pub(crate) fn applies(shape: &ConvShape) -> bool {
    shape.axes().iter().all(|a| a.stride == 1)
}

/// How one image's output rows are cut into bands.
#[derive(Clone, Copy, Debug)]
struct Bands {
    out_h: usize,
    out_w: usize,
    /// Padded input width: the slab's row length.
    padded_w: usize,
    /// Input rows a band of `rows` output rows reads: rows + (kh - 1) * dilation.
    halo: usize,
    /// Input depth slices one output slice reads: (kd - 1) * dilation + 1.
    depth_span: usize,
    rows_per_band: usize,
    bands: usize,
}

impl Bands {
    fn new<T>(shape: &ConvShape) -> Self {
        let [depth, rows, cols] = *shape.axes();
        let [_, out_h, out_w] = shape.output_dims();
        let padded_w = cols.input + cols.pad_before + cols.pad_after;
        let halo = (rows.kernel - 1) * rows.dilation;
        let depth_span = (depth.kernel - 1) * depth.dilation + 1;
        let group_c = shape.in_channels() / shape.groups();
        let group_o = shape.out_channels() / shape.groups();
        let per_row = (group_c * depth_span + group_o) * padded_w * std::mem::size_of::<T>();
        let rows_per_band = (WORKSPACE_BYTES / per_row.max(1)).clamp(1, out_h.max(1));
        Bands { out_h, out_w, padded_w, halo, depth_span, rows_per_band, bands: out_h.div_ceil(rows_per_band) }
    }

    /// Output rows `first..first + count` of band `b`.
    fn rows(&self, b: usize) -> (usize, usize) {
        let first = b * self.rows_per_band;
        (first, self.rows_per_band.min(self.out_h - first))
    }

    /// Elements of one input slice of a slab for `rows` output rows.
    fn slice_len(&self, rows: usize) -> usize {
        (rows + self.halo) * self.padded_w
    }

    /// Elements of a slab for `rows` output rows of `channels` channels.
    fn slab_len(&self, channels: usize, rows: usize) -> usize {
        channels * self.depth_span * self.slice_len(rows)
    }
}

/// `output = conv(input, weight) + bias` by shifted GEMMs; shapes as `conv_forward`.
pub(crate) fn forward<T: Real>(
    shape: &ConvShape,
    input: &[T],
    weight: &[T],
    bias: Option<&[T]>,
    output: &mut [T],
    threads: usize,
) -> KernelResult<()> {
    debug_assert!(applies(shape));
    if !check_forward(shape, input, weight, bias, output)? {
        return Ok(());
    }
    let bands = Bands::new::<T>(shape);
    let (cg, og) = (shape.in_channels() / shape.groups(), shape.out_channels() / shape.groups());
    let workspace = bands.slab_len(cg, bands.rows_per_band) + og * bands.rows_per_band * bands.padded_w;
    let task = Band { shape, input, weight, bias, bands, out: SharedMut(output.as_mut_ptr()) };
    let out_d = shape.output_dims()[0];
    let per_image = shape.groups() * out_d * bands.bands;
    for_each_task(threads, shape.batch() * per_image, |t| {
        let (image, rest) = (t / per_image, t % per_image);
        let (group, rest) = (rest / (out_d * bands.bands), rest % (out_d * bands.bands));
        let place = Place { image, group, depth: rest / bands.bands, band: rest % bands.bands };
        T::with_scratch(workspace, |scratch| task.run(place, scratch));
    });
    Ok(())
}

/// Which band a task computes.
#[derive(Clone, Copy)]
struct Place {
    image: usize,
    group: usize,
    /// Output depth slice (0 in 1-D and 2-D).
    depth: usize,
    band: usize,
}

/// What every band task reads, and the output it writes into.
struct Band<'a, T> {
    shape: &'a ConvShape,
    input: &'a [T],
    weight: &'a [T],
    bias: Option<&'a [T]>,
    bands: Bands,
    out: SharedMut<T>,
}

impl<T: Real> Band<'_, T> {
    fn run(&self, at: Place, scratch: &mut [T]) {
        let s = self.shape;
        let [depth, rows, cols] = *s.axes();
        let (cg, og, taps) = (s.in_channels() / s.groups(), s.out_channels() / s.groups(), s.kernel_taps());
        let (first, count) = self.bands.rows(at.band);
        let wp = self.bands.padded_w;
        let slice = self.bands.slice_len(count);
        let plane = self.bands.depth_span * slice;
        let (slab, staging) = scratch.split_at_mut(self.bands.slab_len(cg, count));
        let in_plane = rows.input * cols.input;
        for c in 0..cg {
            let volume = &self.input[(at.image * s.in_channels() + at.group * cg + c) * s.input_pixels()..][..s.input_pixels()];
            for dz in 0..self.bands.depth_span {
                let slab_slice = &mut slab[c * plane + dz * slice..][..slice];
                let z = s.padding_mode().source((at.depth + dz) as isize - depth.pad_before as isize, depth.input);
                let Some(z) = z else {
                    slab_slice.fill(T::ZERO);
                    continue;
                };
                for (r, line) in slab_slice.chunks_exact_mut(wp).enumerate() {
                    self.padded_row(&volume[z * in_plane..][..in_plane], first + r, line);
                }
            }
        }
        // Output on the slab grid: position r * wp + x for output (first + r, x);
        // the last row stops at out_w, so no tap reads past the slab.
        let columns = (count - 1) * wp + self.bands.out_w;
        let chunk = k_chunk(cg);
        let mut accumulate = false;
        for td in 0..depth.kernel {
            for th in 0..rows.kernel {
                for tw in 0..cols.kernel {
                    let tap = (td * rows.kernel + th) * cols.kernel + tw;
                    let shift = td * depth.dilation * slice + th * rows.dilation * wp + tw * cols.dilation;
                    for c0 in (0..cg).step_by(chunk) {
                        let cc = chunk.min(cg - c0);
                        // The tap's weights straight from (O, C/groups, *kernel):
                        // gemm packs its left side anyway, so the stride costs nothing.
                        let a = MatRef {
                            data: &self.weight[(at.group * og * cg + c0) * taps + tap..],
                            rows: og,
                            cols: cc,
                            rs: cg * taps,
                            cs: taps,
                        };
                        let b = MatRef::row_major(&slab[c0 * plane + shift..], cc, columns, plane);
                        let dst = MatPtr { ptr: staging.as_mut_ptr(), rows: og, cols: columns, ld: columns };
                        // SAFETY: `dst` is `staging`, this worker's private scratch
                        // of og * rows_per_band * wp >= og * columns elements
                        // (ld = columns); nothing else reads or writes it meanwhile.
                        unsafe { matmul(dst, a, b, accumulate) };
                        accumulate = true;
                    }
                }
            }
        }
        self.write_rows(staging, columns, at, first, count);
    }

    /// Copies the valid columns of the staged band (plus the bias) into the output.
    fn write_rows(&self, staging: &[T], columns: usize, at: Place, first: usize, count: usize) {
        let s = self.shape;
        let og = s.out_channels() / s.groups();
        let (out_h, out_w, wp, pixels) = (self.bands.out_h, self.bands.out_w, self.bands.padded_w, s.output_pixels());
        for o in 0..og {
            let channel = at.group * og + o;
            let b = self.bias.map_or(T::ZERO, |b| b[channel]);
            let offset = (at.image * s.out_channels() + channel) * pixels + (at.depth * out_h + first) * out_w;
            // SAFETY: output rows first .. first + count of depth slice
            // at.depth of plane (image, channel): count * out_w elements from
            // `offset`, inside the output (image < N, channel < O, depth < OD,
            // first + count <= out_h), aligned (from a `&mut [T]`). Tasks are
            // distinct (image, group, depth, band) and bands own disjoint
            // rows, so no other task touches them; `output` itself is not
            // used while the tasks run.
            let rows = unsafe { std::slice::from_raw_parts_mut(self.out.get().add(offset), count * out_w) };
            for (r, row) in rows.chunks_exact_mut(out_w).enumerate() {
                let staged = &staging[o * columns + r * wp..][..out_w];
                for (y, &v) in row.iter_mut().zip(staged) {
                    *y = v + b;
                }
            }
        }
    }

    /// Row `py` of the padded input (padded coordinates) into `line`.
    fn padded_row(&self, plane: &[T], py: usize, line: &mut [T]) {
        let [_, rows, cols] = self.shape.axes();
        let mode = self.shape.padding_mode();
        let Some(y) = mode.source(py as isize - rows.pad_before as isize, rows.input) else {
            line.fill(T::ZERO);
            return;
        };
        let src = &plane[y * cols.input..][..cols.input];
        line[cols.pad_before..cols.pad_before + cols.input].copy_from_slice(src);
        for x in (0..cols.pad_before).chain(cols.pad_before + cols.input..line.len()) {
            line[x] = mode.source(x as isize - cols.pad_before as isize, cols.input).map_or(T::ZERO, |i| src[i]);
        }
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

    fn w(input: usize, kernel: usize, dilation: usize, pad: (usize, usize)) -> Window {
        Window { input, kernel, stride: 1, dilation, pad_before: pad.0, pad_after: pad.1 }
    }

    #[test]
    fn matches_im2col_for_kernels_dilations_groups_and_padding_modes() {
        let modes = [PaddingMode::Zeros, PaddingMode::Reflect, PaddingMode::Replicate, PaddingMode::Circular];
        let cases = [
            (2, 3, 5, 1, vec![w(7, 3, 1, (1, 1)), w(9, 3, 1, (1, 1))]),
            (1, 4, 6, 2, vec![w(6, 2, 2, (1, 2)), w(5, 3, 1, (0, 1))]),
            (3, 600, 4, 1, vec![w(5, 3, 1, (1, 1)), w(6, 3, 1, (1, 1))]),
            (2, 3, 2, 1, vec![w(30, 5, 2, (4, 4))]),
            (1, 2, 2, 1, vec![w(40, 7, 1, (3, 3)), w(3, 1, 1, (0, 0))]),
            (2, 3, 4, 1, vec![w(5, 3, 1, (1, 1)), w(6, 3, 1, (1, 1)), w(7, 3, 1, (1, 1))]),
            (1, 4, 2, 2, vec![w(6, 2, 2, (1, 0)), w(4, 1, 1, (0, 0)), w(5, 3, 1, (2, 2))]),
        ];
        for mode in modes {
            for (n, c, o, g, axes) in &cases {
                let Ok(shape) = ConvShape::new(*n, *c, *o, *g, axes, mode) else { continue };
                let (x, wt, b) = (values(shape.input_len(), 1), values(shape.weight_len(), 2), values(*o, 3));
                let mut got = vec![f64::NAN; shape.output_len()];
                let mut want = vec![f64::NAN; shape.output_len()];
                forward(&shape, &x, &wt, Some(&b), &mut got, 3).unwrap();
                conv_forward_im2col(&shape, &x, &wt, Some(&b), &mut want, 1).unwrap();
                let scale = want.iter().fold(1.0f64, |m, v| m.max(v.abs()));
                for (a, b) in got.iter().zip(&want) {
                    assert!((a - b).abs() <= 1e-12 * scale, "{a} vs {b} for {shape:?}");
                }
            }
        }
    }
}

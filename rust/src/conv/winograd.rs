//! Winograd's minimal filtering F(2x2, 3x3) for 3x3, stride-1, undilated
//! 2-D convolutions (Lavin & Gray, "Fast Algorithms for Convolutional
//! Neural Networks", 2016).
//!
//! Each 2x2 block of outputs ("tile") is `A^T [ sum_c (G g_c G^T) . (B^T d_c B) ] A`
//! for the 4x4 input patch `d_c` of channel `c` and the 3x3 kernel `g_c`:
//! 16 products per tile and channel instead of 36, so 2.25x fewer
//! multiplications. The sum over channels at each of the 16 positions `xi`
//! is a matrix product `M_xi (O x tiles) = U_xi (O x C) . V_xi (C x tiles)`.
//!
//! Work is cut into (image, band of tile rows) tasks whose size depends on
//! the per-image shape only, and the channel sum is split into fixed chunks
//! of at most `CHANNEL_CHUNK`, so every output element is computed by the
//! same operations in the same order whatever the batch size or the thread
//! count: results are thread- and batch-invariant.
//!
//! Rounding: the transforms only add, subtract and halve, so the error stays
//! within a small multiple of the direct method's (measured by the tests
//! and by `convinit verify`).

use super::geometry::{check_forward, ConvShape, Window};
use super::matmul::{matmul, MatPtr, MatRef, Real};
use crate::error::KernelResult;
use crate::parallel::{for_each_chunk_mut, for_each_task, SharedMut};

/// Transformed positions per tile (a 4x4 patch).
const XI: usize = 16;
/// Channels per matrix product: the `gemm` crate then always reduces in a
/// single block, whatever the number of tiles, which keeps every output
/// element's summation order independent of the batch.
const CHANNEL_CHUNK: usize = 256;
/// Per-task workspace: transformed inputs and products of one band.
const WORKSPACE_BYTES: usize = 1 << 19;

/// Whether F(2x2, 3x3) computes `shape`: one group, a 2-D 3x3 kernel with
/// stride 1 and no dilation (any padding and padding mode).
pub(crate) fn applies(shape: &ConvShape) -> bool {
    let [depth, rows, cols] = shape.axes();
    let is_3x3 = |a: &Window| a.kernel == 3 && a.stride == 1 && a.dilation == 1;
    shape.groups() == 1 && *depth == Window::UNIT && is_3x3(rows) && is_3x3(cols)
}

/// The layout of one image's tiles and of the work split over them.
#[derive(Clone, Copy, Debug)]
struct Bands {
    /// Output rows and columns.
    out_h: usize,
    out_w: usize,
    /// Tiles per row and tile rows per image.
    tiles_x: usize,
    tiles_y: usize,
    /// Tile rows per task, and tasks per image.
    rows_per_band: usize,
    bands: usize,
}

impl Bands {
    fn new<T>(shape: &ConvShape) -> Self {
        let [_, out_h, out_w] = shape.output_dims();
        let (tiles_x, tiles_y) = (out_w.div_ceil(2), out_h.div_ceil(2));
        let chunk = shape.in_channels().min(CHANNEL_CHUNK);
        let per_tile = XI * (chunk + shape.out_channels()) * std::mem::size_of::<T>();
        let tiles = (WORKSPACE_BYTES / per_tile).max(1);
        let rows_per_band = (tiles / tiles_x).clamp(1, tiles_y);
        Bands { out_h, out_w, tiles_x, tiles_y, rows_per_band, bands: tiles_y.div_ceil(rows_per_band) }
    }

    /// Tile rows `first..first + count` of band `b`.
    fn rows(&self, b: usize) -> (usize, usize) {
        let first = b * self.rows_per_band;
        (first, self.rows_per_band.min(self.tiles_y - first))
    }
}

/// `U = G g G^T` for every (output, input) channel pair, as `XI` matrices
/// of `out_channels x in_channels` (`u[xi][o][c]`), computed in f64 and
/// rounded once.
fn transform_weights<T: Real>(shape: &ConvShape, weight: &[T], threads: usize) -> Vec<T> {
    let (o_n, c_n) = (shape.out_channels(), shape.in_channels());
    let mut u = vec![T::ZERO; XI * o_n * c_n];
    // One task per output channel writes u[xi][o][..] for all xi: chunks of
    // the transposed layout `[o][xi][c]`, reordered afterwards.
    let mut per_o = vec![T::ZERO; o_n * XI * c_n];
    for_each_chunk_mut(threads, &mut per_o, XI * c_n, |o, block| {
        for c in 0..c_n {
            let g: [f64; 9] = std::array::from_fn(|i| weight[(o * c_n + c) * 9 + i].to_f64());
            // G g: rows g0, (g0+g1+g2)/2, (g0-g1+g2)/2, g2 of the kernel's rows.
            let row = |r: usize| [g[3 * r], g[3 * r + 1], g[3 * r + 2]];
            let gg = [
                row(0),
                std::array::from_fn::<f64, 3, _>(|j| 0.5 * (g[j] + g[3 + j] + g[6 + j])),
                std::array::from_fn::<f64, 3, _>(|j| 0.5 * (g[j] - g[3 + j] + g[6 + j])),
                row(2),
            ];
            for (i, [a, b, cc]) in gg.into_iter().enumerate() {
                let cols = [a, 0.5 * (a + b + cc), 0.5 * (a - b + cc), cc];
                for (j, v) in cols.into_iter().enumerate() {
                    block[(4 * i + j) * c_n + c] = T::from_f64(v);
                }
            }
        }
    });
    for o in 0..o_n {
        for xi in 0..XI {
            u[(xi * o_n + o) * c_n..][..c_n].copy_from_slice(&per_o[(o * XI + xi) * c_n..][..c_n]);
        }
    }
    u
}

/// `output = conv(input, weight) + bias` by F(2x2, 3x3); shapes as `conv_forward`.
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
    let u = transform_weights(shape, weight, threads);
    let bands = Bands::new::<T>(shape);
    let chunk = shape.in_channels().min(CHANNEL_CHUNK);
    let band_tiles = bands.rows_per_band * bands.tiles_x;
    let workspace = XI * (chunk + shape.out_channels()) * band_tiles + (10 + XI) * (bands.tiles_x + 1);
    let out = SharedMut(output.as_mut_ptr());
    let task = Band { shape, input, u: &u, bias, bands, chunk, out };
    for_each_task(threads, shape.batch() * bands.bands, |t| {
        T::with_scratch(workspace, |scratch| task.run(t / bands.bands, t % bands.bands, scratch));
    });
    Ok(())
}

/// What every band task reads, and the output it writes into.
struct Band<'a, T> {
    shape: &'a ConvShape,
    input: &'a [T],
    u: &'a [T],
    bias: Option<&'a [T]>,
    bands: Bands,
    chunk: usize,
    out: SharedMut<T>,
}

impl<T: Real> Band<'_, T> {
    /// Computes band `band` of image `image`: with AVX-512 code when the CPU
    /// has it (the crate itself targets baseline x86-64), the same
    /// operations in the same order either way.
    fn run(&self, image: usize, band: usize, scratch: &mut [T]) {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU supports AVX-512F (checked just above), the only
            // requirement of a `target_feature` function.
            return unsafe { self.run_avx512(image, band, scratch) };
        }
        self.run_portable(image, band, scratch)
    }

    /// `run_portable` compiled for AVX-512.
    ///
    /// # Safety
    /// The CPU must support AVX-512F.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    unsafe fn run_avx512(&self, image: usize, band: usize, scratch: &mut [T]) {
        self.run_portable(image, band, scratch)
    }

    #[inline(always)]
    fn run_portable(&self, image: usize, band: usize, scratch: &mut [T]) {
        let s = self.shape;
        let (c_n, o_n) = (s.in_channels(), s.out_channels());
        let (first_row, rows) = self.bands.rows(band);
        let tiles = rows * self.bands.tiles_x;
        let (v, rest) = scratch.split_at_mut(XI * self.chunk * tiles);
        let (m, rows_buf) = rest.split_at_mut(XI * o_n * tiles);
        let plane_len = s.input_pixels();
        for c0 in (0..c_n).step_by(self.chunk) {
            let cc = self.chunk.min(c_n - c0);
            for c in 0..cc {
                let plane = &self.input[(image * c_n + c0 + c) * plane_len..][..plane_len];
                for r in 0..rows {
                    self.transform_input_row(plane, first_row + r, rows_buf, v, c * tiles + r * self.bands.tiles_x, self.chunk * tiles);
                }
            }
            for xi in 0..XI {
                let a = MatRef::row_major(&self.u[(xi * o_n) * c_n + c0..], o_n, cc, c_n);
                let b = MatRef::row_major(&v[xi * self.chunk * tiles..], cc, tiles, tiles);
                let dst = MatPtr { ptr: m[xi * o_n * tiles..].as_mut_ptr(), rows: o_n, cols: tiles, ld: tiles };
                // SAFETY: `dst` is the xi-th o_n x tiles block of `m`, this
                // worker's private scratch (XI * o_n * tiles elements), with
                // no other reference to it during the call.
                unsafe { matmul(dst, a, b, c0 > 0) };
            }
        }
        for o in 0..o_n {
            let b = self.bias.map_or(T::ZERO, |b| b[o]);
            for r in 0..rows {
                self.transform_output_row(m, o * tiles + r * self.bands.tiles_x, o_n * tiles, image, o, first_row + r, b, rows_buf);
            }
        }
    }

    /// `V = B^T d B` for the tiles of tile row `ty` of one channel plane,
    /// written to `v[xi * xi_stride + at + t]`.
    #[inline(always)]
    fn transform_input_row(&self, plane: &[T], ty: usize, buf: &mut [T], v: &mut [T], at: usize, xi_stride: usize) {
        let tx = self.bands.tiles_x;
        let (line, rest) = buf.split_at_mut(2 * (tx + 1));
        let (even, rest) = rest.split_at_mut(4 * (tx + 1));
        let (odd, rest) = rest.split_at_mut(4 * (tx + 1));
        let rows_t = &mut rest[..XI * tx];
        // Each of the 4 input rows split into even and odd padded columns, so
        // that every tap of every tile below is a contiguous slice.
        for i in 0..4 {
            self.padded_row(plane, 2 * ty + i, line);
            let (e, o) = (&mut even[i * (tx + 1)..][..tx + 1], &mut odd[i * (tx + 1)..][..tx + 1]);
            for ((pair, e), o) in line.chunks_exact(2).zip(e.iter_mut()).zip(o.iter_mut()) {
                *e = pair[0];
                *o = pair[1];
            }
        }
        // Row transform d B of row i: (d0 - d2, d1 + d2, d2 - d1, d1 - d3)
        // for tile t, whose columns are even[t], odd[t], even[t+1], odd[t+1].
        for i in 0..4 {
            let (e0, e1) = (&even[i * (tx + 1)..][..tx], &even[i * (tx + 1) + 1..][..tx]);
            let (o0, o1) = (&odd[i * (tx + 1)..][..tx], &odd[i * (tx + 1) + 1..][..tx]);
            let r = &mut rows_t[4 * i * tx..][..4 * tx];
            let (r0, r) = r.split_at_mut(tx);
            let (r1, r) = r.split_at_mut(tx);
            let (r2, r3) = r.split_at_mut(tx);
            combine(r0, e0, e1, |a, b| a - b);
            combine(r1, o0, e1, |a, b| a + b);
            combine(r2, e1, o0, |a, b| a - b);
            combine(r3, o0, o1, |a, b| a - b);
        }
        // Column transform B^T: (r0 - r2, r1 + r2, r2 - r1, r1 - r3).
        let row = |i: usize, k: usize| &rows_t[(4 * i + k) * tx..][..tx];
        for k in 0..4 {
            let (r0, r1, r2, r3) = (row(0, k), row(1, k), row(2, k), row(3, k));
            combine(&mut v[k * xi_stride + at..][..tx], r0, r2, |a, b| a - b);
            combine(&mut v[(4 + k) * xi_stride + at..][..tx], r1, r2, |a, b| a + b);
            combine(&mut v[(8 + k) * xi_stride + at..][..tx], r2, r1, |a, b| a - b);
            combine(&mut v[(12 + k) * xi_stride + at..][..tx], r1, r3, |a, b| a - b);
        }
    }

    /// Padded input row `py` (padded coordinates) of a plane into `line`
    /// (2 * (tiles_x + 1) columns); coordinates past the padded input, read
    /// only by the discarded outputs of odd-sized tiles, are 0.
    #[inline(always)]
    fn padded_row(&self, plane: &[T], py: usize, line: &mut [T]) {
        let [_, rows, cols] = self.shape.axes();
        let mode = self.shape.padding_mode();
        let source = |pos: usize, axis: &Window| -> Option<usize> {
            if pos >= axis.input + axis.pad_before + axis.pad_after {
                return None;
            }
            mode.source(pos as isize - axis.pad_before as isize, axis.input)
        };
        let Some(y) = source(py, rows) else {
            line.fill(T::ZERO);
            return;
        };
        let src = &plane[y * cols.input..][..cols.input];
        let (before, after) = (cols.pad_before.min(line.len()), (cols.pad_before + cols.input).min(line.len()));
        line[before..after].copy_from_slice(&src[..after - before]);
        for px in (0..before).chain(after..line.len()) {
            line[px] = source(px, cols).map_or(T::ZERO, |x| src[x]);
        }
    }

    /// `Y = A^T M A` plus the bias for the tiles of tile row `ty`, output
    /// channel `o`; `m[xi * xi_stride + at + t]` holds tile t's products.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn transform_output_row(&self, m: &[T], at: usize, xi_stride: usize, image: usize, o: usize, ty: usize, bias: T, buf: &mut [T]) {
        let (out_h, out_w, tx) = (self.bands.out_h, self.bands.out_w, self.bands.tiles_x);
        let mm = |xi: usize| &m[xi * xi_stride + at..][..tx];
        let (sums, rest) = buf.split_at_mut(4 * tx);
        let (y_even, rest) = rest.split_at_mut(tx);
        let y_odd = &mut rest[..tx];
        let plane = (image * self.shape.out_channels() + o) * out_h * out_w;
        for dy in 0..2 {
            let y = 2 * ty + dy;
            if y >= out_h {
                break;
            }
            // A^T over rows: m0 + m1 + m2 (output row 0), m1 - m2 - m3 (row 1),
            // for each column k of the 4x4 products.
            for k in 0..4 {
                let s = &mut sums[k * tx..][..tx];
                if dy == 0 {
                    combine(s, mm(k), mm(4 + k), |a, b| a + b);
                    accumulate(s, mm(8 + k), |a, b| a + b);
                } else {
                    combine(s, mm(4 + k), mm(8 + k), |a, b| a - b);
                    accumulate(s, mm(12 + k), |a, b| a - b);
                }
            }
            // ... then over columns, the same way.
            let s = |k: usize| &sums[k * tx..][..tx];
            combine(y_even, s(0), s(1), |a, b| a + b);
            accumulate(y_even, s(2), |a, b| a + b);
            combine(y_odd, s(1), s(2), |a, b| a - b);
            accumulate(y_odd, s(3), |a, b| a - b);
            // SAFETY: row y < out_h of output plane (image, o): elements
            // plane + y*out_w .. + out_w lie inside the output (image < N,
            // o < O), aligned (from a `&mut [T]`). Tasks are distinct
            // (image, band) pairs and bands own disjoint tile rows, so no
            // other task touches this row, and `output` itself is not used
            // while the tasks run.
            let row = unsafe { std::slice::from_raw_parts_mut(self.out.get().add(plane + y * out_w), out_w) };
            for (pair, (&a, &b)) in row.chunks_exact_mut(2).zip(y_even.iter().zip(y_odd.iter())) {
                pair[0] = a + bias;
                pair[1] = b + bias;
            }
            if out_w % 2 == 1 {
                row[out_w - 1] = y_even[tx - 1] + bias;
            }
        }
    }
}

/// `out[i] = f(a[i], b[i])`.
#[inline(always)]
fn combine<T: Copy>(out: &mut [T], a: &[T], b: &[T], f: impl Fn(T, T) -> T) {
    for ((o, &x), &y) in out.iter_mut().zip(a).zip(b) {
        *o = f(x, y);
    }
}

/// `out[i] = f(out[i], a[i])`.
#[inline(always)]
fn accumulate<T: Copy>(out: &mut [T], a: &[T], f: impl Fn(T, T) -> T) {
    for (o, &x) in out.iter_mut().zip(a) {
        *o = f(*o, x);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conv::forward::conv_forward_im2col;
    use crate::conv::PaddingMode;

    fn values(len: usize, salt: usize) -> Vec<f64> {
        (0..len).map(|i| (((i * 2654435761 + salt) % 1000) as f64 - 500.0) / 250.0).collect()
    }

    fn axis(input: usize, pad: (usize, usize)) -> Window {
        Window { input, kernel: 3, stride: 1, dilation: 1, pad_before: pad.0, pad_after: pad.1 }
    }

    fn both(shape: &ConvShape, threads: usize) -> (Vec<f64>, Vec<f64>) {
        let x = values(shape.input_len(), 1);
        let w = values(shape.weight_len(), 2);
        let b = values(shape.out_channels(), 3);
        let mut fast = vec![f64::NAN; shape.output_len()];
        let mut reference = vec![f64::NAN; shape.output_len()];
        forward(shape, &x, &w, Some(&b), &mut fast, threads).unwrap();
        conv_forward_im2col(shape, &x, &w, Some(&b), &mut reference, threads).unwrap();
        (fast, reference)
    }

    #[test]
    fn matches_im2col_for_every_padding_mode_and_odd_sizes() {
        let modes = [PaddingMode::Zeros, PaddingMode::Reflect, PaddingMode::Replicate, PaddingMode::Circular];
        for mode in modes {
            for (n, c, o, h, w, pad) in [(2, 3, 5, 7, 9, (1, 1)), (1, 4, 2, 6, 5, (0, 0)), (3, 300, 7, 5, 6, (1, 2)), (1, 1, 1, 3, 3, (2, 0))] {
                if mode != PaddingMode::Zeros && (pad.0.max(pad.1) >= h.min(w)) {
                    continue;
                }
                let shape = ConvShape::new(n, c, o, 1, &[axis(h, pad), axis(w, pad)], mode).unwrap();
                let (fast, reference) = both(&shape, 2);
                let scale = reference.iter().fold(0.0f64, |m, v| m.max(v.abs()));
                for (a, b) in fast.iter().zip(&reference) {
                    assert!((a - b).abs() <= 1e-12 * scale, "{a} vs {b} for {shape:?}");
                }
            }
        }
    }

    #[test]
    fn thread_and_batch_invariant() {
        let shape = ConvShape::new(5, 20, 6, 1, &[axis(23, (1, 1)), axis(30, (1, 1))], PaddingMode::Zeros).unwrap();
        let x: Vec<f32> = values(shape.input_len(), 1).iter().map(|&v| v as f32).collect();
        let w: Vec<f32> = values(shape.weight_len(), 2).iter().map(|&v| v as f32).collect();
        let run = |shape: &ConvShape, x: &[f32], threads| {
            let mut out = vec![0f32; shape.output_len()];
            forward(shape, x, &w, None, &mut out, threads).unwrap();
            out
        };
        let all = run(&shape, &x, 1);
        for threads in [2, 3, 8] {
            assert_eq!(run(&shape, &x, threads), all);
        }
        let per_image = shape.output_len() / shape.batch();
        let one = shape.with_batch(1).unwrap();
        for i in 0..shape.batch() {
            let xi = &x[i * one.input_len()..][..one.input_len()];
            assert_eq!(run(&one, xi, 2), all[i * per_image..][..per_image]);
        }
    }
}

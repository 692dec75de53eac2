//! im2col: gathering the receptive fields of output pixels into the columns
//! of a matrix, one row per (channel, kernel tap), so that a convolution
//! becomes one matrix product (Chellapilla et al., 2006).

use super::geometry::{ConvShape, PaddingMode, Window, MAX_SPATIAL_DIMS};
use super::matmul::Real;

/// For one axis: which input coordinate each (output position, kernel tap)
/// reads, with the padding mode applied (-1 reads a zero). Computed on
/// demand rather than tabulated: a table would hold outputs x kernel
/// entries, gigabytes for a long 1-D signal with a long kernel.
pub(crate) struct AxisTaps {
    input: usize,
    stride: usize,
    dilation: usize,
    pad_before: usize,
    mode: PaddingMode,
}

impl AxisTaps {
    fn new(axis: &Window, mode: PaddingMode) -> Self {
        AxisTaps {
            input: axis.input,
            stride: axis.stride,
            dilation: axis.dilation,
            pad_before: axis.pad_before,
            mode,
        }
    }

    /// The input coordinate output `out` reads for `tap`, or -1 for a zero.
    /// (`ConvShape` validation keeps every padded coordinate within isize.)
    #[inline]
    pub(crate) fn source(&self, out: usize, tap: usize) -> isize {
        let pos = (out * self.stride) as isize + self.offset(tap);
        self.mode.source(pos, self.input).map_or(-1, |s| s as isize)
    }

    /// Input offset of output position 0 for `tap`: the position of output
    /// `o` is `o * stride + offset`.
    #[inline]
    fn offset(&self, tap: usize) -> isize {
        (tap * self.dilation) as isize - self.pad_before as isize
    }

    /// The output positions of `tap` that read inside the input
    /// (`0 <= o*stride + offset < input`), where no padding rule applies.
    fn interior(&self, tap: usize, outputs: usize) -> (usize, usize) {
        let (offset, input) = (self.offset(tap), self.input);
        let s = self.stride as isize;
        let lo = if offset >= 0 { 0 } else { ((-offset) + s - 1) / s };
        let hi = if (input as isize) <= offset { 0 } else { (input as isize - offset + s - 1) / s };
        let lo = (lo as usize).min(outputs);
        (lo, (hi as usize).clamp(lo, outputs))
    }
}

/// Output rows at most this wide are packed through a table of source
/// offsets (`pack_gathered`); longer rows are copies whose bookkeeping the
/// length pays for. (At stride 1 too: im2col + GEMM on 512 channels at
/// 7x7 and 256 at 14x14 ran 7-12% faster on a Zen 2 with the table.)
const MAX_GATHERED_WIDTH: usize = 16;
/// Entries (kernel taps x pixels) of that table at most, per call; a
/// table for a whole image up to this size is made once per plan.
const MAX_GATHER_TABLE: usize = 1 << 16;

/// Everything needed to build im2col rows of any image of a shape.
pub(crate) struct Im2colPlan {
    pub(crate) axes: [Window; MAX_SPATIAL_DIMS],
    pub(crate) taps: [AxisTaps; MAX_SPATIAL_DIMS],
    out_dims: [usize; MAX_SPATIAL_DIMS],
    /// Interior output range along the last axis, one per kernel tap on it.
    interior_w: Vec<(usize, usize)>,
    mode: PaddingMode,
    /// `gather_reads` for all of an image's output pixels, when rows are
    /// gathered and the table is small: made once, rather than once per
    /// `pack` (the weight gradient packs each pixel tile once per block of
    /// 64 rows; rebuilding the table there took a third of r3d-18's
    /// `layer3.0.conv1` weight gradient on a Zen 2).
    image_reads: Vec<usize>,
}

/// Consecutive segments whose input rows follow each other in the plane
/// (`start` is the first one's offset, None for a zero-padded row).
struct Chain {
    segments: std::ops::Range<usize>,
    start: Option<usize>,
}

/// A run of output pixels that share their leading coordinates.
struct Segment {
    od: usize,
    oh: usize,
    ow_start: usize,
    ow_end: usize,
    /// Column of the first pixel in the destination matrix.
    column: usize,
}

impl Im2colPlan {
    pub(crate) fn new(shape: &ConvShape) -> Self {
        Self::from_axes(*shape.axes(), shape.padding_mode())
    }

    pub(crate) fn from_axes(axes: [Window; MAX_SPATIAL_DIMS], mode: PaddingMode) -> Self {
        let taps = [0, 1, 2].map(|d| AxisTaps::new(&axes[d], mode));
        let out_dims = axes.map(|a| a.output());
        let interior_w = (0..axes[2].kernel)
            .map(|l| taps[2].interior(l, out_dims[2]))
            .collect();
        let mut plan = Im2colPlan { axes, taps, out_dims, interior_w, mode, image_reads: Vec::new() };
        let out_pixels: usize = out_dims.iter().product();
        if plan.gathers(out_pixels) {
            plan.image_reads = plan.gather_reads(0, out_pixels);
        }
        plan
    }

    /// Whether `pack` gathers `len` columns through a table (see `pack_gathered`).
    fn gathers(&self, len: usize) -> bool {
        self.out_dims[2] <= MAX_GATHERED_WIDTH && self.kernel_taps().saturating_mul(len) <= MAX_GATHER_TABLE
    }

    pub(crate) fn kernel_taps(&self) -> usize {
        self.axes.iter().map(|a| a.kernel).product()
    }

    fn input_pixels(&self) -> usize {
        self.axes.iter().map(|a| a.input).product()
    }

    /// Splits output pixels `first..first+len` (C order) into runs along the last axis.
    fn segments(&self, first: usize, len: usize) -> Vec<Segment> {
        let [_, oh_n, ow_n] = self.out_dims;
        let mut segments = Vec::new();
        let mut p = first;
        while p < first + len {
            let ow = p % ow_n;
            let rest = p / ow_n;
            let run = (ow_n - ow).min(first + len - p);
            segments.push(Segment {
                od: rest / oh_n,
                oh: rest % oh_n,
                ow_start: ow,
                ow_end: ow + run,
                column: p - first,
            });
            p += run;
        }
        segments
    }

    /// Writes im2col rows `rows` of output pixels `first..first+len` into
    /// `cols` (row `r` of the range at `cols[(r - rows.start) * ld..]`).
    /// `image` holds the channels of one group, each `input_pixels` long.
    /// Row r stands for channel r / taps and kernel tap r % taps (C order).
    pub(crate) fn pack<T: Real>(
        &self,
        image: &[T],
        rows: std::ops::Range<usize>,
        first: usize,
        len: usize,
        cols: &mut [T],
        ld: usize,
    ) {
        let pixels = self.input_pixels();
        if self.axes.iter().all(Window::is_pointwise) {
            // Row r is channel r's pixels as they lie: one copy per row, none
            // of the segment and chain bookkeeping (a quarter of the time of
            // a 1x1 layer on 7x7 images, batch 8, whose many short runs
            // each paid for it).
            for (row_index, r) in rows.enumerate() {
                cols[row_index * ld..][..len].copy_from_slice(&image[r * pixels + first..][..len]);
            }
            return;
        }
        if self.gathers(len) {
            self.pack_gathered(image, rows, first, len, cols, ld);
            return;
        }
        let segments = self.segments(first, len);
        let chains = self.chains(&segments);
        let kh = self.axes[1].kernel;
        for (row_index, r) in rows.enumerate() {
            let (channel, [i, j, l]) = self.row_taps(r);
            let plane = &image[channel * pixels..][..pixels];
            let dst = &mut cols[row_index * ld..];
            for chain in &chains[i * kh + j] {
                self.pack_chain(plane, chain.start, &segments[chain.segments.clone()], l, dst);
            }
        }
    }

    /// `pack` through a table of the plane offset each output pixel reads
    /// for each kernel tap (`usize::MAX` for a zero): for short output rows,
    /// each a gather of a few elements (7 at 14x14 -> 7x7, stride 2) where
    /// the per-row bookkeeping of `pack_chain` cost more than the copying
    /// (30% of ResNet-18's `layer4.0.conv1` at batch 16).
    fn pack_gathered<T: Real>(&self, image: &[T], rows: std::ops::Range<usize>, first: usize, len: usize, cols: &mut [T], ld: usize) {
        let (pixels, taps) = (self.input_pixels(), self.kernel_taps());
        let own;
        let (reads, stride, offset) = if self.image_reads.is_empty() {
            own = self.gather_reads(first, len);
            (own.as_slice(), len, 0)
        } else {
            (self.image_reads.as_slice(), self.image_reads.len() / taps, first)
        };
        for (row_index, r) in rows.enumerate() {
            let (channel, tap) = (r / taps, r % taps);
            let plane = &image[channel * pixels..][..pixels];
            let dst = &mut cols[row_index * ld..][..len];
            for (d, &at) in dst.iter_mut().zip(&reads[tap * stride + offset..][..len]) {
                *d = plane.get(at).copied().unwrap_or(T::ZERO);
            }
        }
    }

    /// For each kernel tap (rows of `len`), the plane offset output pixels
    /// `first..first+len` read, or `usize::MAX` for a zero.
    fn gather_reads(&self, first: usize, len: usize) -> Vec<usize> {
        let [_, in_h, in_w] = self.axes.map(|a| a.input);
        let [_, oh_n, ow_n] = self.out_dims;
        (0..self.kernel_taps())
            .flat_map(|t| {
                // Row t is channel 0's tap t.
                let (_, [i, j, l]) = self.row_taps(t);
                (first..first + len).map(move |p| {
                    let (rest, ow) = (p / ow_n, p % ow_n);
                    let sources = [self.taps[0].source(rest / oh_n, i), self.taps[1].source(rest % oh_n, j), self.taps[2].source(ow, l)];
                    match sources.map(usize::try_from) {
                        [Ok(d), Ok(h), Ok(w)] => (d * in_h + h) * in_w + w,
                        _ => usize::MAX,
                    }
                })
            })
            .collect()
    }

    /// For every kernel tap pair (D, H), the segments cut into chains that
    /// one copy per im2col row can serve. Only the tap along W and the
    /// channel vary between the rows sharing a pair, so this is done once.
    fn chains(&self, segments: &[Segment]) -> Vec<Vec<Chain>> {
        let [kd, kh, _] = self.axes.map(|a| a.kernel);
        let chains_of = |i: usize, j: usize| {
            let mut chains = Vec::new();
            let mut k = 0;
            while k < segments.len() {
                let start = self.row_start(&segments[k], i, j);
                let n = start.map_or(1, |s| self.chain_len(&segments[k..], s, i, j));
                chains.push(Chain { segments: k..k + n, start });
                k += n;
            }
            chains
        };
        (0..kd * kh).map(|ij| chains_of(ij / kh, ij % kh)).collect()
    }

    /// Channel and kernel tap (along D, H, W) of im2col row `r`.
    fn row_taps(&self, r: usize) -> (usize, [usize; 3]) {
        let [_, kh, kw] = self.axes.map(|a| a.kernel);
        let taps = self.kernel_taps();
        let (channel, tap) = (r / taps, r % taps);
        (channel, [tap / (kh * kw), tap / kw % kh, tap % kw])
    }

    /// Offset in a channel plane of the input row read by `seg` for taps
    /// `i` (D) and `j` (H), or None when that row is a zero pad.
    fn row_start(&self, seg: &Segment, i: usize, j: usize) -> Option<usize> {
        let [_, in_h, in_w] = self.axes.map(|a| a.input);
        let sd = self.taps[0].source(seg.od, i);
        let sh = self.taps[1].source(seg.oh, j);
        (sd >= 0 && sh >= 0).then(|| (sd as usize * in_h + sh as usize) * in_w)
    }

    /// How many segments from the first one read consecutive stretches of
    /// the plane, so that one copy serves them all. With stride 1 along W
    /// and as many outputs as inputs per row ("same" padding), the row after
    /// a full output row starts where the previous one's source ended.
    fn chain_len(&self, segments: &[Segment], start: usize, i: usize, j: usize) -> usize {
        let w = &self.axes[2];
        if w.stride != 1 || self.out_dims[2] != w.input {
            return 1;
        }
        let next_row = |m: usize| Some(start + m * w.input);
        (1..segments.len()).find(|&m| self.row_start(&segments[m], i, j) != next_row(m)).unwrap_or(segments.len())
    }

    /// Writes the segments of one chain for kernel tap `l` along W; `start`
    /// is the plane offset of the first segment's input row.
    fn pack_chain<T: Real>(&self, plane: &[T], start: Option<usize>, chain: &[Segment], l: usize, dst: &mut [T]) {
        let (head, tail) = (&chain[0], &chain[chain.len() - 1]);
        let dst = &mut dst[head.column..tail.column + tail.ow_end - tail.ow_start];
        let Some(start) = start else {
            dst.fill(T::ZERO);
            return;
        };
        let in_w = self.axes[2].input;
        if self.axes[2].stride != 1 {
            self.gather_w(&plane[start..start + in_w], l, head.ow_start, head.ow_end, dst);
            return;
        }
        // One copy of the whole stretch; the columns that fall outside the
        // input row (padding) then get their values from the padding rule.
        let from = start as isize + head.ow_start as isize + self.taps[2].offset(l);
        copy_clamped(plane, from, dst);
        let (lo, hi) = self.interior_w[l];
        let zeros = self.mode == PaddingMode::Zeros;
        // Opaque to the optimizer, so the one- or two-element edge stores
        // below stay stores instead of becoming memset calls.
        let zero = std::hint::black_box(T::ZERO);
        for (m, seg) in chain.iter().enumerate() {
            let out = &mut dst[seg.column - head.column..][..seg.ow_end - seg.ow_start];
            let a = lo.clamp(seg.ow_start, seg.ow_end) - seg.ow_start;
            let b = hi.clamp(seg.ow_start, seg.ow_end) - seg.ow_start;
            if zeros {
                let (left, rest) = out.split_at_mut(a);
                left.iter_mut().chain(&mut rest[b - a..]).for_each(|v| *v = zero);
            } else {
                let row = &plane[start + m * in_w..][..in_w];
                for k in (0..a).chain(b..out.len()) {
                    out[k] = self.padded_w(row, seg.ow_start + k, l);
                }
            }
        }
    }

    /// The adjoint of `pack` (col2im): adds each value of `cols` to the input
    /// element `pack` would have read it from. Every input element receives
    /// its contributions in a fixed order: rows, then runs of pixels
    /// ascending, and within a run the interior before the padded edges.
    pub(crate) fn unpack_add<T: Real>(
        &self,
        image: &mut [T],
        rows: std::ops::Range<usize>,
        first: usize,
        len: usize,
        cols: &[T],
        ld: usize,
    ) {
        let pixels = self.input_pixels();
        let in_w = self.axes[2].input;
        let taps_w = &self.taps[2];
        self.for_each_run(rows, first, len, |channel, tap_w, src_row, seg, row_index| {
            let Some(start) = src_row else { return };
            let plane = &mut image[channel * pixels..][..pixels];
            let dst = &mut plane[start..start + in_w];
            let src = &cols[row_index * ld + seg.column..][..seg.ow_end - seg.ow_start];
            let (lo, hi) = self.interior_w[tap_w];
            let (lo, hi) = (lo.clamp(seg.ow_start, seg.ow_end), hi.clamp(seg.ow_start, seg.ow_end));
            if lo < hi {
                // Inside the input: a (strided) run, added as one vector loop.
                let at = ((lo * taps_w.stride) as isize + taps_w.offset(tap_w)) as usize;
                let inner = &src[lo - seg.ow_start..hi - seg.ow_start];
                if taps_w.stride == 1 {
                    dst[at..at + inner.len()].iter_mut().zip(inner).for_each(|(d, &v)| *d += v);
                } else {
                    let span = &mut dst[at..=at + (inner.len() - 1) * taps_w.stride];
                    span.iter_mut().step_by(taps_w.stride).zip(inner).for_each(|(d, &v)| *d += v);
                }
            }
            for ow in (seg.ow_start..lo).chain(hi..seg.ow_end) {
                let s = taps_w.source(ow, tap_w);
                if s >= 0 {
                    dst[s as usize] += src[ow - seg.ow_start];
                }
            }
        });
    }

    /// Calls `visit(channel, tap along W, input row start or None for a
    /// padded row, run, row index within the range)` for every im2col row in
    /// `rows` and every run of output pixels `first..first+len` along W.
    fn for_each_run(
        &self,
        rows: std::ops::Range<usize>,
        first: usize,
        len: usize,
        mut visit: impl FnMut(usize, usize, Option<usize>, &Segment, usize),
    ) {
        let segments = self.segments(first, len);
        for (row_index, r) in rows.enumerate() {
            let (channel, [i, j, l]) = self.row_taps(r);
            for seg in &segments {
                visit(channel, l, self.row_start(seg, i, j), seg, row_index);
            }
        }
    }

    /// Value of output position `ow` for tap `l` along W, read from one input row.
    #[inline]
    fn padded_w<T: Real>(&self, row: &[T], ow: usize, l: usize) -> T {
        let s = self.taps[2].source(ow, l);
        if s < 0 {
            T::ZERO
        } else {
            row[s as usize]
        }
    }

    /// One run along the last axis with any stride: a strided copy inside
    /// the input, the padding rule outside it.
    fn gather_w<T: Real>(&self, row: &[T], l: usize, ow_start: usize, ow_end: usize, dst: &mut [T]) {
        let axis = &self.taps[2];
        let (lo, hi) = self.interior_w[l];
        let (lo, hi) = (lo.clamp(ow_start, ow_end), hi.clamp(ow_start, ow_end));
        for ow in (ow_start..lo).chain(hi..ow_end) {
            dst[ow - ow_start] = self.padded_w(row, ow, l);
        }
        if lo < hi {
            let first = ((lo * axis.stride) as isize + axis.offset(l)) as usize;
            let out = &mut dst[lo - ow_start..hi - ow_start];
            let src = &row[first..=first + (out.len() - 1) * axis.stride];
            strided_copy(src, axis.stride, out);
        }
    }
}

/// `dst[k] = src[k * stride]`, with the common stride 2 spelled out so the
/// compiler turns it into vector shuffles.
fn strided_copy<T: Copy>(src: &[T], stride: usize, dst: &mut [T]) {
    if stride == 2 {
        let pairs = src.chunks_exact(2);
        let last = pairs.remainder().first().copied();
        let n = pairs.len();
        dst[..n].iter_mut().zip(pairs).for_each(|(d, pair)| *d = pair[0]);
        if let Some(x) = last {
            dst[n] = x;
        }
    } else {
        dst.iter_mut().zip(src.iter().step_by(stride)).for_each(|(d, &x)| *d = x);
    }
}

/// `dst[k] = src[from + k]` wherever `from + k` lies inside `src`; the
/// other elements of `dst` are left for the caller to fill.
fn copy_clamped<T: Copy>(src: &[T], from: isize, dst: &mut [T]) {
    let skip = (-from).clamp(0, dst.len() as isize) as usize;
    let begin = ((from + skip as isize) as usize).min(src.len());
    let n = (dst.len() - skip).min(src.len() - begin);
    dst[skip..skip + n].copy_from_slice(&src[begin..begin + n]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conv::geometry::props::{any_mode, window_below};

    /// im2col written out directly from the definition, for comparison.
    fn naive_rows(shape: &ConvShape, image: &[f64]) -> Vec<f64> {
        let [d, h, w] = *shape.axes();
        let out = shape.output_dims();
        let mut rows = Vec::new();
        for c in 0..shape.in_channels() {
            for i in 0..d.kernel {
                for j in 0..h.kernel {
                    for l in 0..w.kernel {
                        for od in 0..out[0] {
                            for oh in 0..out[1] {
                                for ow in 0..out[2] {
                                    let pos = |a: &Window, o: usize, k: usize| {
                                        (o * a.stride + k * a.dilation) as isize - a.pad_before as isize
                                    };
                                    let m = shape.padding_mode();
                                    let v = match (
                                        m.source(pos(&d, od, i), d.input),
                                        m.source(pos(&h, oh, j), h.input),
                                        m.source(pos(&w, ow, l), w.input),
                                    ) {
                                        (Some(x), Some(y), Some(z)) => {
                                            image[((c * d.input + x) * h.input + y) * w.input + z]
                                        }
                                        _ => 0.0,
                                    };
                                    rows.push(v);
                                }
                            }
                        }
                    }
                }
            }
        }
        rows
    }

    fn check(shape: &ConvShape) {
        let plan = Im2colPlan::new(shape);
        let image: Vec<f64> =
            (0..shape.in_channels() * shape.input_pixels()).map(|v| v as f64 + 1.0).collect();
        let expected = naive_rows(shape, &image);
        let pixels = shape.output_pixels();
        let rows = shape.in_channels() * shape.kernel_taps();
        // Pack in uneven tiles and row blocks to exercise every boundary.
        let mut got = vec![f64::NAN; rows * pixels];
        let mut first = 0;
        let mut tile = 1;
        while first < pixels {
            let len = tile.min(pixels - first);
            let mut buf = vec![f64::NAN; rows * len];
            let split = rows / 2;
            plan.pack(&image, 0..split, first, len, &mut buf, len);
            plan.pack(&image, split..rows, first, len, &mut buf[split * len..], len);
            for r in 0..rows {
                got[r * pixels + first..r * pixels + first + len].copy_from_slice(&buf[r * len..(r + 1) * len]);
            }
            first += len;
            tile += 3;
        }
        assert_eq!(got, expected, "{shape:?}");
    }

    #[test]
    fn unpack_add_is_the_adjoint_of_pack_for_every_padding_mode() {
        // <pack(x), y> == <x, unpack_add(y)> for any x, y.
        for mode in [PaddingMode::Zeros, PaddingMode::Reflect, PaddingMode::Replicate, PaddingMode::Circular] {
            let w = Window { input: 7, kernel: 3, stride: 2, dilation: 2, pad_before: 2, pad_after: 1 };
            let h = Window { input: 5, kernel: 2, stride: 1, dilation: 1, pad_before: 1, pad_after: 1 };
            let shape = ConvShape::new(1, 2, 1, 1, &[h, w], mode).unwrap();
            let plan = Im2colPlan::new(&shape);
            let rows = shape.in_channels() * shape.kernel_taps();
            let pixels = shape.output_pixels();
            let x: Vec<f64> = (0..2 * shape.input_pixels()).map(|i| ((i * 37) % 17) as f64 - 8.0).collect();
            let y: Vec<f64> = (0..rows * pixels).map(|i| ((i * 11) % 13) as f64 - 6.0).collect();
            let mut px = vec![0.0; rows * pixels];
            plan.pack(&x, 0..rows, 0, pixels, &mut px, pixels);
            let mut uy = vec![0.0; x.len()];
            plan.unpack_add(&mut uy, 0..rows, 0, pixels, &y, pixels);
            let lhs: f64 = px.iter().zip(&y).map(|(a, b)| a * b).sum();
            let rhs: f64 = x.iter().zip(&uy).map(|(a, b)| a * b).sum();
            assert_eq!(lhs, rhs, "{mode:?}");
        }
    }

    #[test]
    fn matches_the_definition_for_every_padding_mode() {
        for mode in [PaddingMode::Zeros, PaddingMode::Reflect, PaddingMode::Replicate, PaddingMode::Circular] {
            for (stride, dilation, pad_before, pad_after) in [(1, 1, 1, 1), (2, 1, 2, 1), (1, 2, 0, 2), (3, 2, 2, 2)] {
                let w = Window { input: 7, kernel: 3, stride, dilation, pad_before, pad_after };
                let h = Window { input: 5, kernel: 2, stride: 1, dilation: 1, pad_before: 1, pad_after: 0 };
                let shape = ConvShape::new(1, 2, 1, 1, &[h, w], mode).unwrap();
                check(&shape);
                let d = Window { input: 4, kernel: 2, stride: 2, dilation: 1, pad_before: 1, pad_after: 1 };
                check(&ConvShape::new(1, 1, 1, 1, &[d, h, w], mode).unwrap());
                check(&ConvShape::new(1, 3, 1, 1, &[w], mode).unwrap());
                // Output rows wider than `MAX_GATHERED_WIDTH`: the strided
                // copies rather than the table of source offsets.
                let wide = Window { input: 60, ..w };
                assert!(wide.output() > MAX_GATHERED_WIDTH);
                check(&ConvShape::new(1, 2, 1, 1, &[h, wide], mode).unwrap());
            }
        }
    }

    #[test]
    fn gathered_rows_match_the_definition_with_and_without_a_whole_image_table() {
        let w = Window { input: 9, kernel: 3, stride: 2, dilation: 1, pad_before: 1, pad_after: 1 };
        for (height, whole_image_table) in [(40, true), (6000, false)] {
            let h = Window { input: height, kernel: 2, stride: 1, dilation: 1, pad_before: 1, pad_after: 0 };
            let shape = ConvShape::new(1, 1, 1, 1, &[h, w], PaddingMode::Zeros).unwrap();
            assert!(Im2colPlan::new(&shape).gathers(1));
            assert_eq!(!Im2colPlan::new(&shape).image_reads.is_empty(), whole_image_table);
            check(&shape);
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig {
            cases: 1000, max_global_rejects: 1 << 20, ..Default::default()
        })]

        /// Random shapes, every padding mode, tiles of every width: pack
        /// equals the definition (the fast paths for chains of rows and
        /// strided gathers included).
        #[test]
        fn pack_matches_the_definition_for_random_shapes(
            axes in proptest::collection::vec(window_below(10, 5, 4, 3, 5), 1..4),
            channels in 1..3usize,
            mode in any_mode(),
        ) {
            let shape = ConvShape::new(1, channels, 1, 1, &axes, mode);
            proptest::prop_assume!(shape.is_ok());
            check(&shape.unwrap());
        }
    }
}

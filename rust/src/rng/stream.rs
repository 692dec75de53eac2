//! Filling a flat range `[start, start + out.len())` of one Philox stream's
//! values, in parallel. Value `i` comes from batch `i / per_batch`
//! (`BATCH_BLOCKS` = 64 blocks) alone, so neither the chunking nor the
//! thread count can change it.

use super::simd::{Backend, BATCH_BLOCKS, BATCH_WORDS};
use super::{philox, Isa, WithBackend};
use crate::error::KernelResult;
use crate::parallel::for_each_chunk_mut;

/// A (seed, stream) pair: Philox key (seed lo, seed hi) and the counter's
/// upper half (stream lo, stream hi).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stream {
    pub key: [u32; 2],
    pub stream: u64,
}

impl Stream {
    pub fn new(seed: u64, stream: u64) -> Self {
        Stream { key: philox::key_of(seed), stream }
    }
}

/// A map from the words of one batch (`BATCH_BLOCKS` consecutive blocks) to
/// that batch's `VALUES_PER_BATCH` values: value `i` of a stream comes from
/// batch `i / VALUES_PER_BATCH`.
pub trait Transform: Sync {
    type Out: Copy + Default + Send + Sync;
    const VALUES_PER_BATCH: usize;
    fn batch<B: Backend>(&self, backend: B, words: &B::Words, out: &mut [Self::Out]);

    /// Values `skip .. skip + out.len()` of a batch. This default computes
    /// the whole batch into `scratch` and copies; transforms whose values
    /// come in independent pieces override it to compute only those `out`
    /// needs (the rows of a region fill mostly start and end mid-batch).
    #[inline(always)]
    fn batch_part<B: Backend>(&self, backend: B, words: &B::Words, skip: usize, out: &mut [Self::Out], scratch: &mut [Self::Out]) {
        self.batch(backend, words, &mut scratch[..Self::VALUES_PER_BATCH]);
        out.copy_from_slice(&scratch[skip..skip + out.len()]);
    }

    /// The 32-word groups of a batch's words that values `skip .. skip +
    /// len` depend on (default: all of them).
    #[inline(always)]
    fn word_groups(skip: usize, len: usize) -> std::ops::Range<usize> {
        let _ = (skip, len);
        0..BATCH_WORDS / 32
    }
}

/// The 32-word groups holding words `first .. last` of a batch.
#[inline(always)]
pub fn groups_of_words(first: usize, last: usize) -> std::ops::Range<usize> {
    if last <= first {
        return 0..0;
    }
    first / 32..(last - 1) / 32 + 1
}

/// One piece of a batch in `batch_part`, for a transform whose batch is
/// independent pieces of equal size: `index`, and where it goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Piece {
    pub index: usize,
    /// `Some(at)`: the whole piece lies in the output, from `out[at]`.
    /// `None`: only part of it does; compute it at `scratch[0..]` and `copy`.
    pub at: Option<usize>,
    skip: usize,
    take: usize,
    to: usize,
}

impl Piece {
    /// Copies the wanted part of a piece computed at `scratch[0..]`.
    #[inline(always)]
    pub fn copy<T: Copy>(&self, scratch: &[T], out: &mut [T]) {
        out[self.to..self.to + self.take].copy_from_slice(&scratch[self.skip..self.skip + self.take]);
    }
}

/// The pieces of `size` values that values `skip .. skip + len` of a batch
/// lie in. (Transforms loop over them themselves: a closure would not
/// inherit the backend's target features, so its vector code would not inline.)
#[inline(always)]
pub fn pieces_of(size: usize, skip: usize, len: usize) -> impl Iterator<Item = Piece> {
    piece_range(size, skip, len).map(move |index| piece_at(size, skip, len, index))
}

/// The indices of the pieces `pieces_of` lists.
#[inline(always)]
pub fn piece_range(size: usize, skip: usize, len: usize) -> std::ops::Range<usize> {
    if len == 0 {
        0..0
    } else {
        skip / size..(skip + len - 1) / size + 1
    }
}

/// Piece `index` of those values `skip .. skip + len` of a batch lie in.
#[inline(always)]
pub fn piece_at(size: usize, skip: usize, len: usize, index: usize) -> Piece {
    let (first, last) = ((index * size).max(skip), ((index + 1) * size).min(skip + len));
    let whole = first == index * size && last == (index + 1) * size;
    Piece { index, at: whole.then(|| first - skip), skip: first - index * size, take: last - first, to: first - skip }
}

/// A float32 transform whose value vector `j` (values `WIDTH j ..`) is a
/// function of the batch's words alone.
pub trait VectorValues {
    fn vector<B: Backend>(&self, b: B, words: &B::Words, j: usize) -> B::F;
}

/// Independent vectors computed side by side in `batch_part_by_vectors`.
const INTERLEAVE: usize = 4;

/// `Transform::batch_part` for a `VectorValues` transform: the vectors the
/// values lie in, `INTERLEAVE` at a time so that their dependency chains
/// overlap (one at a time, a polynomial's latency would dominate).
#[inline(always)]
pub fn batch_part_by_vectors<X: VectorValues, B: Backend>(x: &X, b: B, words: &B::Words, skip: usize, out: &mut [f32], scratch: &mut [f32]) {
    let range = piece_range(B::WIDTH, skip, out.len());
    let mut first = range.start;
    while first < range.end {
        let mut v = [b.splat(0.0); INTERLEAVE];
        for (k, v) in v.iter_mut().enumerate() {
            *v = x.vector(b, words, (first + k).min(range.end - 1)); // past the end: the last again
        }
        for (k, &v) in v.iter().enumerate().take(range.end - first) {
            let piece = piece_at(B::WIDTH, skip, out.len(), first + k);
            match piece.at {
                Some(at) => b.store_f(out, at, v),
                None => {
                    b.store_f(scratch, 0, v);
                    piece.copy(scratch, out);
                }
            }
        }
        first += INTERLEAVE;
    }
}

/// Values per parallel task; any size gives the same values.
const CHUNK: usize = 1 << 15;
/// The largest batch (in values) a transform may have.
const MAX_BATCH: usize = 2 * BATCH_WORDS;

#[inline(always)]
fn fill_chunk<X: Transform, B: Backend>(x: &X, backend: B, s: Stream, start: u64, out: &mut [X::Out]) {
    let mut partial = [X::Out::default(); MAX_BATCH];
    fill_chunk_via(x, backend, s, start, out, &mut partial)
}

/// `fill_chunk` with a scratch batch from the caller (so that a task of
/// many short rows initializes it once).
#[inline(always)]
fn fill_chunk_via<X: Transform, B: Backend>(x: &X, backend: B, s: Stream, start: u64, out: &mut [X::Out], partial: &mut [X::Out; MAX_BATCH]) {
    let per_batch = X::VALUES_PER_BATCH;
    debug_assert!(per_batch <= MAX_BATCH);
    let (mut done, mut index) = (0usize, start);
    while done < out.len() {
        let batch = index / per_batch as u64;
        let skip = (index % per_batch as u64) as usize;
        let take = (per_batch - skip).min(out.len() - done);
        let first_block = batch.wrapping_mul(BATCH_BLOCKS);
        let dst = &mut out[done..done + take];
        if take == per_batch {
            x.batch(backend, &backend.blocks(s.key, s.stream, first_block), dst);
        } else if 2 * take >= per_batch {
            // Most of the batch: the whole batch's unrolled code (independent
            // pieces interleaved) beats computing the pieces one by one.
            x.batch(backend, &backend.blocks(s.key, s.stream, first_block), &mut partial[..per_batch]);
            dst.copy_from_slice(&partial[skip..skip + take]);
        } else {
            let words = backend.blocks_in(s.key, s.stream, first_block, X::word_groups(skip, take));
            x.batch_part(backend, &words, skip, dst, &mut partial[..]);
        }
        done += take;
        index += take as u64;
    }
}

struct Chunk<'a, X: Transform> {
    x: &'a X,
    s: Stream,
    start: u64,
    out: &'a mut [X::Out],
}

impl<X: Transform> WithBackend for Chunk<'_, X> {
    type Output = ();
    #[inline(always)]
    fn run<B: Backend>(self, backend: B) {
        fill_chunk(self.x, backend, self.s, self.start, self.out)
    }
}

fn fill_chunk_on<X: Transform>(isa: Isa, x: &X, s: Stream, start: u64, out: &mut [X::Out]) {
    isa.dispatch(Chunk { x, s, start, out })
}

/// Writes values `start .. start + out.len()` of stream `s` under `x`.
pub fn fill_stream<X: Transform>(x: &X, s: Stream, start: u64, out: &mut [X::Out], isa: Isa, threads: usize) -> KernelResult<()> {
    if out.len() <= CHUNK {
        fill_chunk_on(isa, x, s, start, out);
        return Ok(());
    }
    for_each_chunk_mut(threads, out, CHUNK, |c, chunk| {
        fill_chunk_on(isa, x, s, start + (c * CHUNK) as u64, chunk);
    });
    Ok(())
}

/// Where the rows of a block of a C-order tensor start: row `r` of the
/// block is the counter range `start_of(r) .. start_of(r) + row_len`.
pub trait RowStarts: Sync {
    fn start_of(&self, row: usize) -> u64;
}

/// Positions `first .. first + out.len()` of a block (row-major), each row
/// one call of `fill_chunk`: one dispatch per task, whatever the row length.
struct RowSpan<'a, X: Transform, R: RowStarts> {
    x: &'a X,
    s: Stream,
    rows: &'a R,
    row_len: usize,
    first: usize,
    out: &'a mut [X::Out],
}

impl<X: Transform, R: RowStarts> WithBackend for RowSpan<'_, X, R> {
    type Output = ();
    #[inline(always)]
    fn run<B: Backend>(self, backend: B) {
        let mut partial = [X::Out::default(); MAX_BATCH];
        let mut done = 0;
        while done < self.out.len() {
            let position = self.first + done;
            let (row, column) = (position / self.row_len, position % self.row_len);
            let take = (self.row_len - column).min(self.out.len() - done);
            let start = self.rows.start_of(row) + column as u64;
            fill_chunk_via(self.x, backend, self.s, start, &mut self.out[done..done + take], &mut partial);
            done += take;
        }
    }
}

/// Writes the block whose rows `rows` describes (rows of `row_len` values,
/// `out.len()` a multiple of it) into `out`, row after row. Tasks are fixed
/// slices of `out`, so the thread count cannot change a value.
pub fn fill_rows<X: Transform, R: RowStarts>(
    x: &X,
    s: Stream,
    rows: &R,
    row_len: usize,
    out: &mut [X::Out],
    isa: Isa,
    threads: usize,
) -> KernelResult<()> {
    if out.is_empty() {
        return Ok(());
    }
    let span = |first: usize, out: &mut [X::Out]| isa.dispatch(RowSpan { x, s, rows, row_len, first, out });
    if out.len() <= CHUNK {
        span(0, out);
        return Ok(());
    }
    for_each_chunk_mut(threads, out, CHUNK, |c, chunk| span(c * CHUNK, chunk));
    Ok(())
}

/// The identity transform: raw words in counter order.
struct Raw;

impl Transform for Raw {
    type Out = u32;
    const VALUES_PER_BATCH: usize = BATCH_WORDS;
    #[inline(always)]
    fn batch<B: Backend>(&self, b: B, words: &B::Words, out: &mut [u32]) {
        for i in 0..BATCH_WORDS / B::WIDTH {
            b.store_u(out, i * B::WIDTH, b.word_vec(words, i));
        }
    }
}

/// Words `start .. start + out.len()` of stream `s` (word `i` is word
/// `i % 4` of block `i / 4`).
pub fn random_raw(s: Stream, start: u64, out: &mut [u32], isa: Isa, threads: usize) -> KernelResult<()> {
    fill_stream(&Raw, s, start, out, isa, threads)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_isa_gives_the_scalar_words() {
        let s = Stream::new(0x0123_4567_89ab_cdef, 0xfeed_0000_0001);
        let start = u64::from(u32::MAX) * 4 - 37; // crosses the 32-bit block boundary
        let mut expected = vec![0u32; 1000];
        for (i, w) in expected.iter_mut().enumerate() {
            let word = start + i as u64;
            *w = philox::philox4x32_10(philox::counter(word / 4, s.stream), s.key)[(word % 4) as usize];
        }
        for isa in Isa::available() {
            let mut out = vec![0u32; 1000];
            random_raw(s, start, &mut out, isa, 1).unwrap();
            assert_eq!(out, expected, "{}", isa.name());
        }
    }

    #[test]
    fn thread_count_and_offset_do_not_change_words() {
        let s = Stream::new(7, 3);
        let mut whole = vec![0u32; 3 * CHUNK + 11];
        random_raw(s, 0, &mut whole, Isa::best(), 1).unwrap();
        for threads in [2, 3, 8] {
            let mut part = vec![0u32; whole.len() - 5];
            random_raw(s, 5, &mut part, Isa::best(), threads).unwrap();
            assert_eq!(part[..], whole[5..]);
        }
    }
}

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

/// A transform whose batch is independent pieces of `piece_len` values:
/// piece `k` holds values `k * piece_len .. (k + 1) * piece_len` and is a
/// function of the batch's words alone.
pub trait Pieces {
    type Out: Copy;
    fn piece_len<B: Backend>() -> usize;
    /// Writes piece `index` to `out[at .. at + piece_len]`.
    fn piece<B: Backend>(&self, b: B, words: &B::Words, index: usize, out: &mut [Self::Out], at: usize);
}

/// `Transform::batch_part` for a transform made of `Pieces`: every piece
/// that lies wholly inside values `skip .. skip + out.len()` is written
/// straight into `out`; only the (at most two) pieces cut by the ends go
/// through `scratch`.
#[inline(always)]
pub fn batch_part_by_pieces<X: Pieces, B: Backend>(x: &X, b: B, words: &B::Words, skip: usize, out: &mut [X::Out], scratch: &mut [X::Out]) {
    if out.is_empty() {
        return;
    }
    let (size, end) = (X::piece_len::<B>(), skip + out.len());
    let (first, last) = (skip / size, (end - 1) / size);
    let cut = |k: usize| k * size < skip || (k + 1) * size > end;
    let mut k = first;
    if cut(first) {
        cut_piece(x, b, words, first, skip, out, scratch);
        k += 1;
    }
    if k > last {
        return;
    }
    let whole_end = if cut(last) { last } else { last + 1 };
    // Two pieces per step: their independent dependency chains overlap
    // (one at a time, the latency of a square root or a polynomial shows).
    while k + 2 <= whole_end {
        x.piece(b, words, k, out, k * size - skip);
        x.piece(b, words, k + 1, out, (k + 1) * size - skip);
        k += 2;
    }
    if k < whole_end {
        x.piece(b, words, k, out, k * size - skip);
    }
    if whole_end == last {
        cut_piece(x, b, words, last, skip, out, scratch);
    }
}

/// The part of piece `k` inside values `skip .. skip + out.len()`, via `scratch`.
#[inline(always)]
fn cut_piece<X: Pieces, B: Backend>(x: &X, b: B, words: &B::Words, k: usize, skip: usize, out: &mut [X::Out], scratch: &mut [X::Out]) {
    let size = X::piece_len::<B>();
    x.piece(b, words, k, scratch, 0);
    let (lo, hi) = ((k * size).max(skip), ((k + 1) * size).min(skip + out.len()));
    out[lo - skip..hi - skip].copy_from_slice(&scratch[lo - k * size..hi - k * size]);
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
        } else {
            // A row of a region starting or ending mid-batch: Philox for the
            // word groups these values use, then only the pieces they lie in.
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
        let (mut row, mut column) = (self.first / self.row_len, self.first % self.row_len);
        let mut done = 0;
        while done < self.out.len() {
            let take = (self.row_len - column).min(self.out.len() - done);
            let start = self.rows.start_of(row) + column as u64;
            fill_chunk_via(self.x, backend, self.s, start, &mut self.out[done..done + take], &mut partial);
            done += take;
            (row, column) = (row + 1, 0);
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

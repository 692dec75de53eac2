//! The vocabulary the fill kernels are written in: Philox blocks plus
//! 32-bit float/integer lane operations, implemented once per instruction
//! set (scalar, AVX2, AVX-512). A transform written against `Backend` runs
//! the same operations in the same order on every backend, and each
//! operation is exactly rounded IEEE arithmetic (add, mul, fused
//! multiply-add, sqrt, integer-to-float conversion) or a bit operation, so
//! every backend gives the same bits.

/// Words per batch: `BATCH_BLOCKS` = 64 Philox blocks of 4 words each
/// (enough independent blocks to hide the multiply latency).
pub const BATCH_WORDS: usize = 256;
pub const BATCH_BLOCKS: u64 = 64;

/// One instruction set. Values of implementing types are tokens: they exist
/// only when the CPU supports the instructions, which makes the methods safe.
pub trait Backend: Copy + Send + Sync {
    /// Lanes per vector.
    const WIDTH: usize;
    /// `WIDTH` f32 values.
    type F: Copy;
    /// `WIDTH` u32 values (also read as i32 where noted).
    type U: Copy;
    /// A per-lane condition.
    type M: Copy;

    /// One batch of words, kept in registers: `BATCH_WORDS / WIDTH` vectors.
    type Words: Copy;

    /// The words of blocks `first_block .. first_block + BATCH_BLOCKS` of `stream`.
    fn blocks(self, key: [u32; 2], stream: u64, first_block: u64) -> Self::Words;
    /// The same words, of which only the 32-word groups `groups` (blocks
    /// `8 g .. 8 g + 8`) are needed: backends may leave the others unset.
    #[inline(always)]
    fn blocks_in(self, key: [u32; 2], stream: u64, first_block: u64, groups: std::ops::Range<usize>) -> Self::Words {
        let _ = groups;
        self.blocks(key, stream, first_block)
    }
    /// Words `WIDTH * i .. WIDTH * (i + 1)` of a batch.
    fn word_vec(self, words: &Self::Words, i: usize) -> Self::U;
    /// A batch's words in memory, for scalar transforms.
    fn to_array(self, words: &Self::Words) -> [u32; BATCH_WORDS];
    /// `WIDTH` words starting at `src[at]`.
    fn load_u(self, src: &[u32], at: usize) -> Self::U;
    /// Stores `WIDTH` words at `dst[at..]`.
    fn store_u(self, dst: &mut [u32], at: usize, v: Self::U);
    /// Stores `WIDTH` values at `dst[at..]`.
    fn store_f(self, dst: &mut [f32], at: usize, v: Self::F);

    fn splat(self, x: f32) -> Self::F;
    fn splat_u(self, x: u32) -> Self::U;
    fn add(self, a: Self::F, b: Self::F) -> Self::F;
    fn sub(self, a: Self::F, b: Self::F) -> Self::F;
    fn mul(self, a: Self::F, b: Self::F) -> Self::F;
    /// `a * b + c`, rounded once.
    fn fma(self, a: Self::F, b: Self::F, c: Self::F) -> Self::F;
    fn sqrt(self, a: Self::F) -> Self::F;
    /// `a < b ? a : b` (x86 `minps`: `b` when either is NaN).
    fn min(self, a: Self::F, b: Self::F) -> Self::F;
    /// `a > b ? a : b` (x86 `maxps`: `b` when either is NaN).
    fn max(self, a: Self::F, b: Self::F) -> Self::F;
    /// The lanes read as i32, converted with round-to-nearest-even.
    fn i32_to_f(self, a: Self::U) -> Self::F;
    fn to_bits(self, a: Self::F) -> Self::U;
    fn float_of_bits(self, a: Self::U) -> Self::F;

    fn and_u(self, a: Self::U, b: Self::U) -> Self::U;
    fn or_u(self, a: Self::U, b: Self::U) -> Self::U;
    fn xor_u(self, a: Self::U, b: Self::U) -> Self::U;
    fn add_u(self, a: Self::U, b: Self::U) -> Self::U;
    fn sub_u(self, a: Self::U, b: Self::U) -> Self::U;
    /// Logical shifts by a count below 32 (a constant at every call site).
    fn shr_u(self, a: Self::U, n: u32) -> Self::U;
    fn shl_u(self, a: Self::U, n: u32) -> Self::U;

    fn lt(self, a: Self::F, b: Self::F) -> Self::M;
    /// Lanes whose top bit is set.
    fn sign_set(self, a: Self::U) -> Self::M;
    /// `m ? a : b` per lane.
    fn select(self, m: Self::M, a: Self::F, b: Self::F) -> Self::F;
    fn all(self, m: Self::M) -> bool;

    /// `2 * WIDTH` consecutive words -> (words at even positions, at odd positions).
    fn deinterleave(self, a: Self::U, b: Self::U) -> (Self::U, Self::U);
    /// The inverse of `deinterleave` on floats: `(x0, y0, x1, y1, ...)`.
    fn interleave(self, x: Self::F, y: Self::F) -> (Self::F, Self::F);
}

//! The portable backend: one lane, plain Rust arithmetic.

use super::philox::blocks_scalar;
use super::simd::{Backend, BATCH_WORDS};

#[derive(Clone, Copy, Debug, Default)]
pub struct Scalar;

impl Backend for Scalar {
    const WIDTH: usize = 1;
    type F = f32;
    type U = u32;
    type M = bool;

    type Words = [u32; BATCH_WORDS];

    #[inline(always)]
    fn blocks(self, key: [u32; 2], stream: u64, first_block: u64) -> [u32; BATCH_WORDS] {
        let mut out = [0u32; BATCH_WORDS];
        blocks_scalar(key, stream, first_block, &mut out);
        out
    }
    #[inline(always)]
    fn word_vec(self, words: &[u32; BATCH_WORDS], i: usize) -> u32 {
        words[i]
    }
    #[inline(always)]
    fn to_array(self, words: &[u32; BATCH_WORDS]) -> [u32; BATCH_WORDS] {
        *words
    }
    #[inline(always)]
    fn load_u(self, src: &[u32], at: usize) -> u32 {
        src[at]
    }
    #[inline(always)]
    fn store_u(self, dst: &mut [u32], at: usize, v: u32) {
        dst[at] = v;
    }
    #[inline(always)]
    fn store_f(self, dst: &mut [f32], at: usize, v: f32) {
        dst[at] = v;
    }
    #[inline(always)]
    fn splat(self, x: f32) -> f32 {
        x
    }
    #[inline(always)]
    fn splat_u(self, x: u32) -> u32 {
        x
    }
    #[inline(always)]
    fn add(self, a: f32, b: f32) -> f32 {
        a + b
    }
    #[inline(always)]
    fn sub(self, a: f32, b: f32) -> f32 {
        a - b
    }
    #[inline(always)]
    fn mul(self, a: f32, b: f32) -> f32 {
        a * b
    }
    #[inline(always)]
    fn fma(self, a: f32, b: f32, c: f32) -> f32 {
        a.mul_add(b, c)
    }
    #[inline(always)]
    fn sqrt(self, a: f32) -> f32 {
        a.sqrt()
    }
    #[inline(always)]
    fn min(self, a: f32, b: f32) -> f32 {
        if a < b { a } else { b }
    }
    #[inline(always)]
    fn max(self, a: f32, b: f32) -> f32 {
        if a > b { a } else { b }
    }
    #[inline(always)]
    fn i32_to_f(self, a: u32) -> f32 {
        a as i32 as f32
    }
    #[inline(always)]
    fn to_bits(self, a: f32) -> u32 {
        a.to_bits()
    }
    #[inline(always)]
    fn float_of_bits(self, a: u32) -> f32 {
        f32::from_bits(a)
    }
    #[inline(always)]
    fn and_u(self, a: u32, b: u32) -> u32 {
        a & b
    }
    #[inline(always)]
    fn or_u(self, a: u32, b: u32) -> u32 {
        a | b
    }
    #[inline(always)]
    fn xor_u(self, a: u32, b: u32) -> u32 {
        a ^ b
    }
    #[inline(always)]
    fn add_u(self, a: u32, b: u32) -> u32 {
        a.wrapping_add(b)
    }
    #[inline(always)]
    fn sub_u(self, a: u32, b: u32) -> u32 {
        a.wrapping_sub(b)
    }
    #[inline(always)]
    fn shr_u(self, a: u32, n: u32) -> u32 {
        a >> n
    }
    #[inline(always)]
    fn shl_u(self, a: u32, n: u32) -> u32 {
        a << n
    }
    #[inline(always)]
    fn lt(self, a: f32, b: f32) -> bool {
        a < b
    }
    #[inline(always)]
    fn sign_set(self, a: u32) -> bool {
        a >> 31 != 0
    }
    #[inline(always)]
    fn select(self, m: bool, a: f32, b: f32) -> f32 {
        if m { a } else { b }
    }
    #[inline(always)]
    fn all(self, m: bool) -> bool {
        m
    }
    #[inline(always)]
    fn deinterleave(self, a: u32, b: u32) -> (u32, u32) {
        (a, b)
    }
    #[inline(always)]
    fn interleave(self, x: f32, y: f32) -> (f32, f32) {
        (x, y)
    }
}

//! Jumping MT19937 ahead by whole state blocks with the characteristic
//! polynomial (Haramoto, Matsumoto, Nishimura, Panneton, L'Ecuyer, "Efficient
//! jump ahead for F2-linear random number generators", INFORMS J. Computing
//! 2008): if phi is the characteristic polynomial of the 19937-bit transition
//! A and g(x) = x^J mod phi, then A^J s = g(A) s, evaluated by Horner's rule
//! with one generator step and one state addition per coefficient.
//!
//! phi itself is found once per process by Berlekamp–Massey from 2 * 19937
//! bits of the output; the polynomials x^(624 * 2^j) mod phi are computed by
//! repeated squaring the first time a jump needs them, then cached.

use super::mt19937::{regenerate, N};
use std::sync::{Mutex, OnceLock};

/// Degree of the characteristic polynomial (the period is 2^19937 - 1).
pub const DEGREE: usize = 19937;
const M: usize = 397;
const WORDS: usize = DEGREE / 64 + 1;

/// A polynomial over GF(2): bit i of word i / 64 is the coefficient of x^i.
type Poly = Vec<u64>;

fn get(p: &[u64], i: usize) -> bool {
    p[i / 64] >> (i % 64) & 1 != 0
}

/// dst ^= src * x^shift (terms beyond dst's end must be zero).
fn xor_shifted(dst: &mut [u64], src: &[u64], shift: usize) {
    let (words, bits) = (shift / 64, shift % 64);
    for (k, &w) in src.iter().enumerate() {
        if w == 0 {
            continue;
        }
        dst[k + words] ^= w << bits;
        if bits != 0 && w >> (64 - bits) != 0 {
            dst[k + words + 1] ^= w >> (64 - bits);
        }
    }
}

/// 64 bits of `p` starting at bit `at` (zeros past the end).
fn bits_at(p: &[u64], at: usize) -> u64 {
    let (q, r) = (at / 64, at % 64);
    let low = p.get(q).copied().unwrap_or(0) >> r;
    if r == 0 {
        low
    } else {
        low | p.get(q + 1).copied().unwrap_or(0) << (64 - r)
    }
}

/// The most significant bits of the words x[624], x[625], ... of the
/// sequence: one coordinate of the state, so it obeys phi's recurrence.
fn output_bits(count: usize) -> Vec<bool> {
    let mut state = [0u32; N];
    state[0] = 5489;
    for j in 1..N {
        let prev = state[j - 1];
        state[j] = 1_812_433_253u32.wrapping_mul(prev ^ (prev >> 30)).wrapping_add(j as u32);
    }
    let mut bits = Vec::with_capacity(count + N);
    while bits.len() < count {
        regenerate(&mut state);
        bits.extend(state.iter().map(|w| w >> 31 != 0));
    }
    bits.truncate(count);
    bits
}

/// Berlekamp–Massey over GF(2): the connection polynomial C (c_0 = 1) of
/// the shortest recurrence s_n = sum_{i=1..L} c_i s_{n-i}, and L.
fn berlekamp_massey(s: &[bool]) -> (Poly, usize) {
    let words = s.len() / 64 + 2;
    // Bit j of `reversed` is s[len - 1 - j], so c_i s[n - i] for i = 0..
    // reads `reversed` upwards from bit len - 1 - n, a word at a time.
    let mut reversed = vec![0u64; words];
    for (j, &bit) in s.iter().rev().enumerate() {
        reversed[j / 64] |= (bit as u64) << (j % 64);
    }
    let mut c = vec![0u64; words];
    let mut b = vec![0u64; words];
    c[0] = 1;
    b[0] = 1;
    let (mut l, mut m) = (0usize, 1usize);
    for n in 0..s.len() {
        let from = s.len() - 1 - n;
        let d = (0..=l / 64).fold(0u32, |acc, k| acc ^ (c[k] & bits_at(&reversed, from + 64 * k)).count_ones()) & 1;
        if d == 0 {
            m += 1;
        } else if 2 * l <= n {
            let previous = c.clone();
            xor_shifted(&mut c, &b, m);
            l = n + 1 - l;
            b = previous;
            m = 1;
        } else {
            xor_shifted(&mut c, &b, m);
            m += 1;
        }
    }
    (c, l)
}

/// phi(x) = x^L C(1/x), monic of degree 19937.
pub fn characteristic() -> &'static Poly {
    static PHI: OnceLock<Poly> = OnceLock::new();
    PHI.get_or_init(|| {
        let (c, degree) = berlekamp_massey(&output_bits(2 * DEGREE));
        assert_eq!(degree, DEGREE, "MT19937's recurrence has degree 19937");
        let mut phi = vec![0u64; WORDS];
        for i in 0..=DEGREE {
            if get(&c, DEGREE - i) {
                phi[i / 64] |= 1 << (i % 64);
            }
        }
        phi
    })
}

/// p mod phi for p of degree < 2 * DEGREE.
fn reduce(mut p: Poly) -> Poly {
    let phi = characteristic();
    for i in (DEGREE..p.len() * 64).rev() {
        if get(&p, i) {
            xor_shifted(&mut p, phi, i - DEGREE);
        }
    }
    p.truncate(WORDS);
    p
}

/// The 32 bits of `half` spread to the even bit positions of a u64.
fn spread(half: u64) -> u64 {
    let mut x = half & 0xffff_ffff;
    x = (x | x << 16) & 0x0000_ffff_0000_ffff;
    x = (x | x << 8) & 0x00ff_00ff_00ff_00ff;
    x = (x | x << 4) & 0x0f0f_0f0f_0f0f_0f0f;
    x = (x | x << 2) & 0x3333_3333_3333_3333;
    (x | x << 1) & 0x5555_5555_5555_5555
}

/// p^2 mod phi (squaring over GF(2) interleaves zeros).
fn square(p: &[u64]) -> Poly {
    let mut out = vec![0u64; 2 * p.len()];
    for (k, &w) in p.iter().enumerate() {
        out[2 * k] = spread(w);
        out[2 * k + 1] = spread(w >> 32);
    }
    reduce(out)
}

/// x^(624 * 2^j) mod phi: the jump by 2^j state blocks.
fn block_jump(j: usize) -> Poly {
    static CACHE: Mutex<Vec<Poly>> = Mutex::new(Vec::new());
    let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    if cache.is_empty() {
        let mut x624 = vec![0u64; WORDS];
        x624[N / 64] |= 1 << (N % 64);
        cache.push(x624);
    }
    while cache.len() <= j {
        let next = square(cache.last().expect("seeded above"));
        cache.push(next);
    }
    cache[j].clone()
}

/// g(A) applied to the state block `block` (which must be one the
/// recurrence produced, i.e. a regenerated block): Horner's rule on a ring
/// of 624 words, one step of the recurrence per coefficient.
fn apply(g: &[u64], block: &[u32; N]) -> [u32; N] {
    let mut ring = [0u32; N];
    let mut head = 0usize;
    let top = (0..DEGREE).rev().find(|&i| get(g, i));
    for i in (0..=top.unwrap_or(0)).rev() {
        // ring <- A ring: append x[k + 624] = x[k + 397] ^ twist(x[k], x[k + 1]).
        let next = ring[(head + M) % N] ^ twist(ring[head], ring[(head + 1) % N]);
        ring[head] = next;
        head = (head + 1) % N;
        if get(g, i) {
            let (front, back) = ring.split_at_mut(head);
            for (r, &b) in back.iter_mut().zip(&block[..N - head]) {
                *r ^= b;
            }
            for (r, &b) in front.iter_mut().zip(&block[N - head..]) {
                *r ^= b;
            }
        }
    }
    if top.is_none() {
        return [0u32; N];
    }
    let mut out = [0u32; N];
    for (k, o) in out.iter_mut().enumerate() {
        *o = ring[(head + k) % N];
    }
    out
}

#[inline(always)]
fn twist(u: u32, v: u32) -> u32 {
    let mixed = (u & 0x8000_0000) | (v & 0x7fff_ffff);
    (mixed >> 1) ^ if v & 1 != 0 { 0x9908_b0df } else { 0 }
}

/// The state block `blocks` regenerations after `block` (a regenerated
/// block), by one polynomial application per set bit of `blocks`.
pub fn jump_blocks(block: &[u32; N], blocks: u64) -> [u32; N] {
    let mut state = *block;
    for j in 0..64 {
        if blocks >> j & 1 != 0 {
            state = apply(&block_jump(j), &state);
        }
    }
    state
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::mt19937::Mt19937;

    #[test]
    fn characteristic_polynomial_is_monic_of_degree_19937_and_annihilates_the_sequence() {
        let phi = characteristic();
        assert!(get(phi, DEGREE) && get(phi, 0));
        // A sequence bit not used by Berlekamp–Massey obeys the recurrence.
        let bits = output_bits(2 * DEGREE + 100);
        for n in 2 * DEGREE..bits.len() {
            let mut sum = false;
            for i in 0..=DEGREE {
                sum ^= get(phi, i) & bits[n - DEGREE + i];
            }
            assert!(!sum, "recurrence fails at {n}");
        }
    }

    fn regenerated(seed: u64, times: usize) -> [u32; N] {
        let mut state = Mt19937::new(seed).state;
        for _ in 0..times {
            regenerate(&mut state);
        }
        state
    }

    #[test]
    fn jumps_equal_stepping() {
        let start = regenerated(99, 1);
        for blocks in [0u64, 1, 2, 3, 37, 64, 100] {
            assert_eq!(jump_blocks(&start, blocks), regenerated(99, 1 + blocks as usize), "{blocks} blocks");
        }
    }
}

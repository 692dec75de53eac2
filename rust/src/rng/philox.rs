//! Philox4x32-10, the scalar reference (Salmon, Moraes, Dror, Shaw:
//! "Parallel random numbers: as easy as 1, 2, 3", SC'11). The SIMD paths in
//! `avx512.rs` / `avx2.rs` must produce exactly these words.

/// Round multipliers and Weyl key increments from the paper (Random123's
/// PHILOX_M4x32_0/1 and PHILOX_W32_0/1).
pub const M0: u32 = 0xD251_1F53;
pub const M1: u32 = 0xCD9E_8D57;
pub const W0: u32 = 0x9E37_79B9;
pub const W1: u32 = 0xBB67_AE85;
pub const ROUNDS: usize = 10;

#[inline(always)]
fn mulhilo(a: u32, b: u32) -> (u32, u32) {
    let product = u64::from(a) * u64::from(b);
    ((product >> 32) as u32, product as u32)
}

/// The key of round `r` (0-based): the key bumped `r` times.
#[inline(always)]
pub fn round_key(key: [u32; 2], r: usize) -> [u32; 2] {
    [key[0].wrapping_add(W0.wrapping_mul(r as u32)), key[1].wrapping_add(W1.wrapping_mul(r as u32))]
}

/// One block: 10 rounds of the Philox S-box on `counter` under `key`.
#[inline]
pub fn philox4x32_10(counter: [u32; 4], key: [u32; 2]) -> [u32; 4] {
    let mut c = counter;
    for r in 0..ROUNDS {
        let k = round_key(key, r);
        let (hi0, lo0) = mulhilo(M0, c[0]);
        let (hi1, lo1) = mulhilo(M1, c[2]);
        c = [hi1 ^ c[1] ^ k[0], lo1, hi0 ^ c[3] ^ k[1], lo0];
    }
    c
}

/// The counter of block `block` in `stream`: (block lo, block hi, stream lo, stream hi).
#[inline(always)]
pub fn counter(block: u64, stream: u64) -> [u32; 4] {
    [block as u32, (block >> 32) as u32, stream as u32, (stream >> 32) as u32]
}

/// The key of a 64-bit seed: (seed lo, seed hi).
#[inline(always)]
pub fn key_of(seed: u64) -> [u32; 2] {
    [seed as u32, (seed >> 32) as u32]
}

/// Words of blocks `first_block, first_block + 1, ...` into `out`
/// (`out.len()` a multiple of 4), one block at a time.
pub fn blocks_scalar(key: [u32; 2], stream: u64, first_block: u64, out: &mut [u32]) {
    for (i, chunk) in out.chunks_exact_mut(4).enumerate() {
        chunk.copy_from_slice(&philox4x32_10(counter(first_block.wrapping_add(i as u64), stream), key));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Random123 `tests/kat_vectors`, rows `philox4x32 10`:
    /// counter[4] key[2] -> output[4].
    const KAT: [([u32; 4], [u32; 2], [u32; 4]); 3] = [
        ([0, 0, 0, 0], [0, 0], [0x6627_e8d5, 0xe169_c58d, 0xbc57_ac4c, 0x9b00_dbd8]),
        ([u32::MAX; 4], [u32::MAX; 2], [0x408f_276d, 0x41c8_3b0e, 0xa20b_c7c6, 0x6d54_51fd]),
        (
            [0x243f_6a88, 0x85a3_08d3, 0x1319_8a2e, 0x0370_7344],
            [0xa409_3822, 0x299f_31d0],
            [0xd16c_fe09, 0x94fd_cceb, 0x5001_e420, 0x2412_6ea1],
        ),
    ];

    #[test]
    fn known_answers() {
        for (ctr, key, expected) in KAT {
            assert_eq!(philox4x32_10(ctr, key), expected);
        }
    }

    #[test]
    fn counter_and_key_layout() {
        assert_eq!(counter(0x1_0000_0002, 0x3_0000_0004), [2, 1, 4, 3]);
        assert_eq!(key_of(0x0123_4567_89ab_cdef), [0x89ab_cdef, 0x0123_4567]);
    }

    #[test]
    fn blocks_follow_the_counter() {
        let mut out = [0u32; 12];
        blocks_scalar([5, 6], 7, u64::from(u32::MAX), &mut out);
        assert_eq!(out[4..8], philox4x32_10([0, 1, 7, 0], [5, 6]));
    }
}

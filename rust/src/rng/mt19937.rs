//! MT19937 (Matsumoto & Nishimura, ACM TOMACS 1998) with the bookkeeping of
//! PyTorch's `at::mt19937`: a 624-word state, a `left` counter that is one
//! more than the words still unread, and the index `next` of the next word.
//! Seeding is Knuth's multiplier 1812433253 on the low 32 bits of the seed,
//! with the whole 64-bit seed kept (torch reports it as `initial_seed`).

pub const N: usize = 624;
const M: usize = 397;
const MATRIX_A: u32 = 0x9908_b0df;
const UPPER: u32 = 0x8000_0000;
const LOWER: u32 = 0x7fff_ffff;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mt19937 {
    pub seed: u64,
    /// One more than the number of unread words in `state[next..]`; a draw
    /// with `left == 1` regenerates the state first.
    pub left: u32,
    pub next: u32,
    pub state: [u32; N],
}

/// The tempering that turns a state word into an output word.
#[inline(always)]
pub fn temper(mut y: u32) -> u32 {
    y ^= y >> 11;
    y ^= (y << 7) & 0x9d2c_5680;
    y ^= (y << 15) & 0xefc6_0000;
    y ^ (y >> 18)
}

#[inline(always)]
fn twist(upper_of: u32, lower_of: u32) -> u32 {
    let mixed = (upper_of & UPPER) | (lower_of & LOWER);
    (mixed >> 1) ^ if lower_of & 1 != 0 { MATRIX_A } else { 0 }
}

/// Replaces the 624 words by the next 624 of the recurrence
/// x[k + 624] = x[k + 397] ^ twist(x[k], x[k + 1]), in runs whose inputs do
/// not overlap their outputs so that they vectorize.
#[inline(always)]
pub fn regenerate(state: &mut [u32; N]) {
    let first = *state;
    // k < 227: inputs all from the old block.
    let (low, high) = state.split_at_mut(N - M);
    twist_run(low, &first[..N - M + 1], &first[M..]);
    // 227 <= k < 454 and 454 <= k < 623: x[k + 397] is new, 227 words back.
    let (mid, top) = high.split_at_mut(N - M);
    twist_run(mid, &first[N - M..2 * (N - M) + 1], low);
    let last = top.len() - 1;
    twist_run(&mut top[..last], &first[2 * (N - M)..N], mid);
    top[last] = mid[M - (N - M) - 1] ^ twist(first[N - 1], low[0]);
}

/// out[k] = far[k] ^ twist(old[k], old[k + 1]).
#[inline(always)]
fn twist_run(out: &mut [u32], old: &[u32], far: &[u32]) {
    let (old, next, far) = (&old[..out.len()], &old[1..=out.len()], &far[..out.len()]);
    for (((o, &u), &v), &f) in out.iter_mut().zip(old).zip(next).zip(far) {
        *o = f ^ twist(u, v);
    }
}

impl Mt19937 {
    /// The engine `torch.manual_seed(seed)` makes.
    pub fn new(seed: u64) -> Self {
        let mut state = [0u32; N];
        state[0] = seed as u32;
        for j in 1..N {
            let prev = state[j - 1];
            state[j] = 1_812_433_253u32.wrapping_mul(prev ^ (prev >> 30)).wrapping_add(j as u32);
        }
        Mt19937 { seed, left: 1, next: 0, state }
    }

    /// Words readable before the next regeneration.
    #[inline(always)]
    fn unread(&self) -> usize {
        self.left as usize - 1
    }

    #[inline(always)]
    fn refill(&mut self) {
        regenerate(&mut self.state);
        // The draw that regenerates reads word 0 and leaves `left` at 624.
        self.left = N as u32 + 1;
        self.next = 0;
    }

    /// The next output word (torch's `CPUGeneratorImpl::random()`).
    #[inline(always)]
    pub fn next_u32(&mut self) -> u32 {
        if self.unread() == 0 {
            self.refill();
        }
        let y = self.state[self.next as usize];
        self.next += 1;
        self.left -= 1;
        temper(y)
    }

    /// Two words, the first in the high half (torch's `random64()`).
    #[inline(always)]
    pub fn next_u64(&mut self) -> u64 {
        let hi = self.next_u32() as u64;
        (hi << 32) | self.next_u32() as u64
    }

    /// `out.len()` successive output words, a run of the state at a time.
    #[inline(always)]
    pub fn fill_u32(&mut self, out: &mut [u32]) {
        let mut done = 0;
        while done < out.len() {
            if self.unread() == 0 {
                self.refill();
            }
            let take = self.unread().min(out.len() - done);
            let from = self.next as usize;
            for (o, &w) in out[done..done + take].iter_mut().zip(&self.state[from..from + take]) {
                *o = temper(w);
            }
            self.next += take as u32;
            self.left -= take as u32;
            done += take;
        }
    }

    /// Whether `left`/`next` are values torch's engine can hold and read
    /// within the state (torch's `is_valid`, plus the bound its reads need).
    pub fn is_consistent(&self) -> bool {
        (1..=N as u32).contains(&self.left) && self.next as usize + self.unread() <= N
    }

    /// Advances by `count` output words without producing them.
    pub fn discard(&mut self, mut count: u64) {
        while count > 0 {
            if self.unread() == 0 {
                self.refill();
            }
            let take = (self.unread() as u64).min(count);
            self.next += take as u32;
            self.left -= take as u32;
            count -= take;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_output_of_seed_5489() {
        // The 10000th output of the reference mt19937 seeded with 5489 is
        // 4123659995 (C++11 [rand.predef]).
        let mut mt = Mt19937::new(5489);
        let mut last = 0;
        for _ in 0..10_000 {
            last = mt.next_u32();
        }
        assert_eq!(last, 4_123_659_995);
    }

    #[test]
    fn reference_first_outputs_of_seed_5489() {
        // std::mt19937's first outputs for the default seed.
        let mut mt = Mt19937::new(5489);
        assert_eq!(mt.next_u32(), 3_499_211_612);
        assert_eq!(mt.next_u32(), 581_869_302);
        assert_eq!(mt.next_u32(), 3_890_346_734);
    }

    #[test]
    fn regenerate_follows_the_recurrence() {
        let mut state = Mt19937::new(7).state;
        let mut x: Vec<u32> = state.to_vec();
        for k in 0..N {
            let next = x[k + M] ^ twist(x[k], x[k + 1]);
            x.push(next);
        }
        regenerate(&mut state);
        assert_eq!(state[..], x[N..2 * N]);
    }

    #[test]
    fn bulk_fill_and_discard_follow_single_draws() {
        let mut one = Mt19937::new(42);
        let mut bulk = one.clone();
        let mut skip = one.clone();
        let words: Vec<u32> = (0..2000).map(|_| one.next_u32()).collect();
        let mut out = vec![0u32; 1500];
        bulk.fill_u32(&mut out[..7]);
        bulk.fill_u32(&mut out[7..]);
        assert_eq!(out, words[..1500]);
        skip.discard(1500);
        assert_eq!(skip.next_u32(), words[1500]);
        assert_eq!(bulk.next_u32(), words[1500]);
        assert_eq!(bulk, skip);
    }
}

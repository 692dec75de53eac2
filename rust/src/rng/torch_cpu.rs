//! PyTorch's CPU generator (`at::CPUGeneratorImpl`): an MT19937 engine plus
//! the cached second Box–Muller value of the scalar normal path, one per
//! precision, and the byte layout of `torch.Generator.get_state()`.

use super::mt19937::{Mt19937, N};
use crate::error::{KernelError, KernelResult};

#[derive(Clone, Debug, PartialEq)]
pub struct TorchCpu {
    pub engine: Mt19937,
    pub next_double_normal: Option<f64>,
    pub next_float_normal: Option<f32>,
}

/// `get_state()` is the C struct `CPUGeneratorImplState` on x86-64: a legacy
/// part { u64 seed; i32 left; i32 seeded; u64 next; u64 state[624];
/// f64 normal_x, normal_y, normal_rho; i32 normal_is_valid; } padded to 8,
/// then { f32 next_float_normal_sample; bool valid; } padded to 8.
pub const STATE_BYTES: usize = 5056;
const SEED_AT: usize = 0;
const LEFT_AT: usize = 8;
const SEEDED_AT: usize = 12;
const NEXT_AT: usize = 16;
const WORDS_AT: usize = 24;
const NORMAL_Y_AT: usize = WORDS_AT + 8 * N + 8;
const NORMAL_VALID_AT: usize = WORDS_AT + 8 * N + 24;
const FLOAT_NORMAL_AT: usize = 5048;
const FLOAT_VALID_AT: usize = 5052;

fn read<const K: usize>(bytes: &[u8], at: usize) -> [u8; K] {
    bytes[at..at + K].try_into().expect("a fixed-size field inside the checked state")
}

fn invalid(message: String) -> KernelError {
    KernelError::invalid("state", message)
}

impl TorchCpu {
    /// The generator after `torch.manual_seed(seed)` (seed as torch's uint64).
    pub fn new(seed: u64) -> Self {
        TorchCpu { engine: Mt19937::new(seed), next_double_normal: None, next_float_normal: None }
    }

    /// `CPUGeneratorImpl::random()`.
    #[inline(always)]
    pub fn random(&mut self) -> u32 {
        self.engine.next_u32()
    }

    /// `CPUGeneratorImpl::random64()`.
    #[inline(always)]
    pub fn random64(&mut self) -> u64 {
        self.engine.next_u64()
    }

    /// The bytes `torch.Generator.get_state()` holds for this generator.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = vec![0u8; STATE_BYTES];
        let e = &self.engine;
        out[SEED_AT..SEED_AT + 8].copy_from_slice(&e.seed.to_le_bytes());
        out[LEFT_AT..LEFT_AT + 4].copy_from_slice(&(e.left as i32).to_le_bytes());
        out[SEEDED_AT..SEEDED_AT + 4].copy_from_slice(&1i32.to_le_bytes());
        out[NEXT_AT..NEXT_AT + 8].copy_from_slice(&(e.next as u64).to_le_bytes());
        for (k, &w) in e.state.iter().enumerate() {
            let at = WORDS_AT + 8 * k;
            out[at..at + 8].copy_from_slice(&(w as u64).to_le_bytes());
        }
        if let Some(y) = self.next_double_normal {
            out[NORMAL_Y_AT..NORMAL_Y_AT + 8].copy_from_slice(&y.to_le_bytes());
            out[NORMAL_VALID_AT..NORMAL_VALID_AT + 4].copy_from_slice(&1i32.to_le_bytes());
        }
        if let Some(y) = self.next_float_normal {
            out[FLOAT_NORMAL_AT..FLOAT_NORMAL_AT + 4].copy_from_slice(&y.to_le_bytes());
            out[FLOAT_VALID_AT] = 1;
        }
        out
    }

    /// The generator `torch.Generator.set_state(bytes)` makes, with torch's
    /// checks (size, seeded, 1 <= left <= 624, next <= 624) and one more:
    /// the unread words must lie inside the state, which torch assumes.
    /// State words are truncated to 32 bits as torch's `std::copy` does.
    pub fn from_bytes(bytes: &[u8]) -> KernelResult<Self> {
        if bytes.len() != STATE_BYTES {
            return Err(invalid(format!(
                "expected a CPUGeneratorImplState of size {STATE_BYTES} but found the input RNG state size to be {}",
                bytes.len()
            )));
        }
        let seeded = i32::from_le_bytes(read(bytes, SEEDED_AT));
        let left = i32::from_le_bytes(read(bytes, LEFT_AT));
        let next = u64::from_le_bytes(read(bytes, NEXT_AT)) as u32;
        let mut state = [0u32; N];
        for (k, w) in state.iter_mut().enumerate() {
            *w = u64::from_le_bytes(read(bytes, WORDS_AT + 8 * k)) as u32;
        }
        let left_ok = (1..=N as i32).contains(&left);
        let engine = Mt19937 { seed: u64::from_le_bytes(read(bytes, SEED_AT)), left: left.max(1) as u32, next, state };
        if seeded == 0 || !left_ok || !engine.is_consistent() {
            return Err(invalid(format!("Invalid mt19937 state (seeded {seeded}, left {left}, next {next})")));
        }
        let double_valid = i32::from_le_bytes(read(bytes, NORMAL_VALID_AT)) != 0;
        let float_valid = bytes[FLOAT_VALID_AT] != 0;
        Ok(TorchCpu {
            engine,
            next_double_normal: double_valid.then(|| f64::from_le_bytes(read(bytes, NORMAL_Y_AT))),
            next_float_normal: float_valid.then(|| f32::from_le_bytes(read(bytes, FLOAT_NORMAL_AT))),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `std::mt19937(0)`'s first words (the C++ standard's generator; NumPy's
    /// `RandomState(0)` draws the same), where `torch.manual_seed(0)` starts.
    #[test]
    fn random_draws_the_mt19937_words() {
        let mut g = TorchCpu::new(0);
        assert_eq!([g.random(), g.random(), g.random()], [2357136044, 2546248239, 3071714933]);
    }

    #[test]
    fn state_bytes_round_trip() {
        let mut g = TorchCpu::new((1 << 32) + 5);
        g.random64();
        g.next_double_normal = Some(-0.25);
        g.next_float_normal = Some(1.5);
        let bytes = g.to_bytes();
        assert_eq!(bytes.len(), STATE_BYTES);
        assert_eq!(TorchCpu::from_bytes(&bytes).unwrap(), g);
    }

    #[test]
    fn inconsistent_states_are_rejected() {
        let mut bytes = TorchCpu::new(1).to_bytes();
        bytes[LEFT_AT..LEFT_AT + 4].copy_from_slice(&0i32.to_le_bytes());
        assert!(TorchCpu::from_bytes(&bytes).is_err());
        let mut bytes = TorchCpu::new(1).to_bytes();
        bytes[NEXT_AT..NEXT_AT + 8].copy_from_slice(&600u64.to_le_bytes());
        bytes[LEFT_AT..LEFT_AT + 4].copy_from_slice(&100i32.to_le_bytes());
        assert!(TorchCpu::from_bytes(&bytes).is_err());
        assert!(TorchCpu::from_bytes(&bytes[1..]).is_err());
    }
}

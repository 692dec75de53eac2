//! The one matrix product every convolution kernel funnels into, through
//! the `gemm` crate (runtime-dispatched AVX-512/AVX2/scalar microkernels).

use std::ops::{Add, AddAssign, Mul, Sub};

/// The element types the kernels compute in: f32 and f64.
pub trait Real:
    super::scratch::Scratch + super::microkernel::TiledProduct + Copy + Send + Sync + Default + PartialEq + PartialOrd + std::fmt::Debug + 'static
    + Add<Output = Self> + AddAssign + Mul<Output = Self> + Sub<Output = Self>
{
    const ZERO: Self;
    const ONE: Self;

    fn to_f64(self) -> f64;
    fn from_f64(value: f64) -> Self;
    /// `self * a + b` rounded once (an FMA instruction where the caller's
    /// target features have one; exact in software otherwise).
    fn fused_mul_add(self, a: Self, b: Self) -> Self;
    fn is_nan(self) -> bool;
    fn is_finite(self) -> bool;
}

impl Real for f32 {
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;

    fn to_f64(self) -> f64 {
        self as f64
    }
    fn from_f64(value: f64) -> Self {
        value as f32
    }
    #[inline(always)]
    fn fused_mul_add(self, a: Self, b: Self) -> Self {
        f32::mul_add(self, a, b)
    }
    fn is_nan(self) -> bool {
        f32::is_nan(self)
    }
    fn is_finite(self) -> bool {
        f32::is_finite(self)
    }
}

impl Real for f64 {
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;

    fn to_f64(self) -> f64 {
        self
    }
    fn from_f64(value: f64) -> Self {
        value
    }
    #[inline(always)]
    fn fused_mul_add(self, a: Self, b: Self) -> Self {
        f64::mul_add(self, a, b)
    }
    fn is_nan(self) -> bool {
        f64::is_nan(self)
    }
    fn is_finite(self) -> bool {
        f64::is_finite(self)
    }
}

/// A strided matrix view: element `(r, c)` at `data[r * rs + c * cs]`.
#[derive(Clone, Copy)]
pub(crate) struct MatRef<'a, T> {
    pub data: &'a [T],
    pub rows: usize,
    pub cols: usize,
    pub rs: usize,
    pub cs: usize,
}

impl<'a, T> MatRef<'a, T> {
    /// Rows of `cols` contiguous elements, `ld` apart.
    pub fn row_major(data: &'a [T], rows: usize, cols: usize, ld: usize) -> Self {
        MatRef { data, rows, cols, rs: ld, cs: 1 }
    }

    /// The transpose of a row-major `cols x rows` matrix with leading dimension `ld`.
    pub fn transposed(data: &'a [T], rows: usize, cols: usize, ld: usize) -> Self {
        MatRef { data, rows, cols, rs: 1, cs: ld }
    }

    /// Whether the last element lies inside `data` (checked arithmetic: a
    /// view too large to index is out of bounds, not a wrapped offset).
    fn in_bounds(&self) -> bool {
        if self.rows == 0 || self.cols == 0 {
            return true;
        }
        let last = (self.rows - 1).checked_mul(self.rs).zip((self.cols - 1).checked_mul(self.cs));
        last.and_then(|(r, c)| r.checked_add(c)).is_some_and(|offset| offset < self.data.len())
    }
}

/// A row-major destination given by pointer, for tasks that write disjoint
/// elements of one shared output (interleaved rows, so no `&mut` slice).
pub(crate) struct MatPtr<T> {
    pub ptr: *mut T,
    pub rows: usize,
    pub cols: usize,
    pub ld: usize,
}

/// `dst = a · b`, or `dst += a · b` when `accumulate`, on the calling thread.
/// Each call reduces over the whole of `a.cols` in an order fixed by the
/// shapes alone, so the result never depends on how callers spread calls
/// over threads.
///
/// # Safety
/// `dst.ptr` must be aligned for `T`, and every element `(r, c)` with
/// `r < dst.rows`, `c < dst.cols` at `dst.ptr + r * dst.ld + c` must lie in
/// one live allocation, be valid for writes, hold initialized values when
/// `accumulate` (only then are they read: otherwise they may be
/// uninitialized memory), and be accessed by no other thread or reference during
/// the call. `a` and `b` need nothing from the caller: they are slices, and
/// the asserts below keep every element gemm reads inside them.
pub(crate) unsafe fn matmul<T: Real>(dst: MatPtr<T>, a: MatRef<'_, T>, b: MatRef<'_, T>, accumulate: bool) {
    let (m, n, k) = (dst.rows, dst.cols, a.cols);
    assert!(a.rows == m && b.rows == k && b.cols == n, "matmul: shapes disagree");
    assert!(
        a.in_bounds() && b.in_bounds() && (m < 2 || n <= dst.ld),
        "matmul: a view is out of bounds"
    );
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            for (r, c) in (0..m).flat_map(|r| (0..n).map(move |c| (r, c))) {
                // SAFETY: element (r, c) of `dst`, which the caller's contract
                // makes valid for writes (it may be uninitialized), aligned
                // and unaliased for the call.
                unsafe { dst.ptr.add(r * dst.ld + c).write(T::ZERO) };
            }
        }
        return;
    }
    if n == 1 {
        // SAFETY: the caller's contract, passed on.
        return unsafe { matvec_as_matmul(dst, a, b, accumulate) };
    }
    // SAFETY: gemm reads lhs element (i, t) at a.data + i*a.rs + t*a.cs for
    // i < m, t < k and rhs element (t, j) at b.data + t*b.rs + j*b.cs for
    // j < n; the shape asserts and `in_bounds` put the largest such offsets
    // inside `a.data` / `b.data` (strides are non-negative). It writes (and,
    // if `accumulate`, reads) dst element (i, j) at dst.ptr + i*dst.ld + j,
    // which the caller's contract covers; that contract (no other reference)
    // also means dst cannot overlap the shared slices `a.data` / `b.data`.
    // `Parallelism::None` keeps all of it on this thread.
    unsafe {
        gemm::gemm::<T>(
            m,
            n,
            k,
            dst.ptr,
            1,
            dst.ld as isize,
            accumulate,
            a.data.as_ptr(),
            a.cs as isize,
            a.rs as isize,
            b.data.as_ptr(),
            b.cs as isize,
            b.rs as isize,
            T::ONE,
            T::ONE,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

/// A one-column product computed as a two-column one (the column twice).
/// `gemm` reduces a single column (a matrix-vector product) in another
/// order than the columns of a wider product, so a column that is alone in
/// one call (an image's last pixel at a tile's start) and not in another
/// (the same pixel computed in a larger batch) would differ in its last bits.
///
/// # Safety
/// As `matmul`.
unsafe fn matvec_as_matmul<T: Real>(dst: MatPtr<T>, a: MatRef<'_, T>, b: MatRef<'_, T>, accumulate: bool) {
    let (m, k) = (dst.rows, a.cols);
    let twice: Vec<T> = (0..k).flat_map(|t| [b.data[t * b.rs]; 2]).collect();
    let mut out = vec![T::ZERO; m * 2];
    for r in 0..m {
        // SAFETY: element (r, 0) of `dst`, valid for reads per the contract.
        out[r * 2] = if accumulate { unsafe { *dst.ptr.add(r * dst.ld) } } else { T::ZERO };
        out[r * 2 + 1] = out[r * 2];
    }
    // SAFETY: `out` is a live, aligned m x 2 buffer (ld 2) owned here.
    unsafe { matmul(MatPtr { ptr: out.as_mut_ptr(), rows: m, cols: 2, ld: 2 }, a, MatRef::row_major(&twice, k, 2, 2), accumulate) };
    for r in 0..m {
        // SAFETY: element (r, 0) of `dst`, valid for writes per the contract.
        unsafe { *dst.ptr.add(r * dst.ld) = out[r * 2] };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_a_triple_loop() {
        let (m, n, k) = (5, 7, 300);
        let a: Vec<f64> = (0..m * k).map(|v| ((v * 7) % 13) as f64 - 6.0).collect();
        let b: Vec<f64> = (0..k * (n + 2)).map(|v| ((v * 5) % 11) as f64 - 5.0).collect();
        let mut dst = vec![1.0; m * n];
        // SAFETY: `dst` is an aligned, live Vec of m * n elements (ld = n)
        // with no other borrow during the call.
        unsafe { matmul(
            MatPtr { ptr: dst.as_mut_ptr(), rows: m, cols: n, ld: n },
            MatRef::row_major(&a, m, k, k),
            MatRef::row_major(&b, k, n, n + 2),
            true,
        ) };
        for r in 0..m {
            for c in 0..n {
                let exact: f64 = (0..k).map(|t| a[r * k + t] * b[t * (n + 2) + c]).sum();
                assert_eq!(dst[r * n + c], exact + 1.0);
            }
        }
    }

    #[test]
    fn empty_reduction_writes_zeros() {
        let mut dst = vec![3.0f32; 4];
        // SAFETY: `dst` is an aligned, live Vec of 2 x 2 elements (ld = 2)
        // with no other borrow during the call.
        unsafe { matmul(
            MatPtr { ptr: dst.as_mut_ptr(), rows: 2, cols: 2, ld: 2 },
            MatRef::row_major(&[], 2, 0, 0),
            MatRef::row_major(&[], 0, 2, 2),
            false,
        ) };
        assert_eq!(dst, vec![0.0; 4]);
    }
}

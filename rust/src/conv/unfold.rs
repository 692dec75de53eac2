//! unfold (im2col of a whole batch, as torch.nn.functional.unfold) and
//! fold (col2im, its adjoint: overlapping patches are summed).

use super::geometry::{check_len, ConvShape};
use super::im2col::Im2colPlan;
use super::matmul::Real;
use crate::error::KernelResult;
use crate::parallel::for_each_chunk_mut;

/// `cols` (N, C * taps, L) from `input` (N, C, *spatial), zero padding.
/// `shape.out_channels()` and `groups` are ignored.
pub fn unfold<T: Real>(shape: &ConvShape, input: &[T], cols: &mut [T], threads: usize) -> KernelResult<()> {
    let (taps, pixels, in_pixels) = (shape.kernel_taps(), shape.output_pixels(), shape.input_pixels());
    check_len("input", input.len(), shape.input_len())?;
    check_len("output", cols.len(), shape.batch() * shape.in_channels() * taps * pixels)?;
    if cols.is_empty() {
        return Ok(());
    }
    let plan = Im2colPlan::new(shape);
    // One task per (image, channel): a block of `taps` rows.
    for_each_chunk_mut(threads, cols, taps * pixels, |nc, block| {
        let plane = &input[nc * in_pixels..(nc + 1) * in_pixels];
        plan.pack(plane, 0..taps, 0, pixels, block, pixels);
    });
    Ok(())
}

/// `output` (N, C, *spatial) = sum of the patches in `cols` (N, C * taps, L),
/// zero padding. Each output element sums its contributions in a fixed order
/// (kernel taps, then patch positions, ascending), as torch's col2im does.
pub fn fold<T: Real>(shape: &ConvShape, cols: &[T], output: &mut [T], threads: usize) -> KernelResult<()> {
    let (taps, pixels, in_pixels) = (shape.kernel_taps(), shape.output_pixels(), shape.input_pixels());
    check_len("input", cols.len(), shape.batch() * shape.in_channels() * taps * pixels)?;
    check_len("output", output.len(), shape.input_len())?;
    if output.is_empty() {
        return Ok(());
    }
    let plan = Im2colPlan::new(shape);
    for_each_chunk_mut(threads, output, in_pixels, |nc, plane| {
        plane.fill(T::ZERO);
        let block = &cols[nc * taps * pixels..(nc + 1) * taps * pixels];
        plan.unpack_add(plane, 0..taps, 0, pixels, block, pixels);
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conv::{PaddingMode, Window};

    #[test]
    fn fold_is_the_adjoint_of_unfold() {
        // <unfold(x), y> == <x, fold(y)> for any x, y.
        let h = Window { input: 6, kernel: 3, stride: 2, dilation: 1, pad_before: 1, pad_after: 1 };
        let w = Window { input: 7, kernel: 2, stride: 1, dilation: 3, pad_before: 2, pad_after: 2 };
        let shape = ConvShape::new(2, 3, 1, 1, &[h, w], PaddingMode::Zeros).unwrap();
        let cols_len = 2 * 3 * shape.kernel_taps() * shape.output_pixels();
        let x: Vec<f64> = (0..shape.input_len()).map(|i| ((i * 37) % 17) as f64 - 8.0).collect();
        let y: Vec<f64> = (0..cols_len).map(|i| ((i * 11) % 13) as f64 - 6.0).collect();
        let mut ux = vec![0.0; cols_len];
        let mut fy = vec![0.0; shape.input_len()];
        unfold(&shape, &x, &mut ux, 2).unwrap();
        fold(&shape, &y, &mut fy, 3).unwrap();
        let lhs: f64 = ux.iter().zip(&y).map(|(a, b)| a * b).sum();
        let rhs: f64 = x.iter().zip(&fy).map(|(a, b)| a * b).sum();
        assert_eq!(lhs, rhs);
    }
}

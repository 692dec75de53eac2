//! Shapes and sliding-window arithmetic shared by every convolution kernel.

use crate::error::{KernelError, KernelResult};

/// Kernels work on three spatial axes; 1-D and 2-D problems get leading
/// axes of size one.
pub const MAX_SPATIAL_DIMS: usize = 3;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PaddingMode {
    Zeros,
    Reflect,
    Replicate,
    Circular,
}

impl PaddingMode {
    pub fn parse(name: &str) -> KernelResult<Self> {
        match name {
            "zeros" => Ok(PaddingMode::Zeros),
            "reflect" => Ok(PaddingMode::Reflect),
            "replicate" => Ok(PaddingMode::Replicate),
            "circular" => Ok(PaddingMode::Circular),
            other => Err(KernelError::invalid(
                "padding_mode",
                format!("expected 'zeros', 'reflect', 'replicate' or 'circular', got {other:?}"),
            )),
        }
    }

    /// Where padded coordinate `pos` (input coordinates, may be outside
    /// `0..size`) reads from, or `None` for a zero.
    /// Positions further out than one reflection (or, for circular, one
    /// period) read a zero; validated windows never reach them.
    pub fn source(self, pos: isize, size: usize) -> Option<usize> {
        // i128: neither the mirror arithmetic nor an empty axis can overflow.
        let (p, n) = (pos as i128, size as i128);
        if (0..n).contains(&p) {
            return Some(pos as usize);
        }
        if n == 0 {
            return None;
        }
        let mapped = match self {
            PaddingMode::Zeros => return None,
            // Mirror without repeating the edge: -1 -> 1, n -> n-2.
            PaddingMode::Reflect => {
                if p < 0 {
                    -p
                } else {
                    2 * (n - 1) - p
                }
            }
            PaddingMode::Replicate => p.clamp(0, n - 1),
            PaddingMode::Circular => p.rem_euclid(n),
        };
        (0..n).contains(&mapped).then_some(mapped as usize)
    }
}

/// One spatial axis of a sliding window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    pub input: usize,
    pub kernel: usize,
    pub stride: usize,
    pub dilation: usize,
    pub pad_before: usize,
    pub pad_after: usize,
}

impl Window {
    /// A 1-wide kernel at stride 1 without padding: the output is the input's grid.
    pub fn is_pointwise(&self) -> bool {
        self.kernel == 1 && self.stride == 1 && self.pad_before == 0 && self.pad_after == 0
    }

    /// An axis that does nothing: size 1, kernel 1.
    pub const UNIT: Window =
        Window { input: 1, kernel: 1, stride: 1, dilation: 1, pad_before: 0, pad_after: 0 };

    fn padded(&self) -> u128 {
        self.input as u128 + self.pad_before as u128 + self.pad_after as u128
    }

    fn span(&self) -> u128 {
        self.dilation as u128 * (self.kernel as u128).saturating_sub(1) + 1
    }

    /// floor((H + P_before + P_after - D*(K-1) - 1) / S) + 1, for a valid window.
    pub fn output(&self) -> usize {
        ((self.padded() - self.span()) / self.stride as u128 + 1) as usize
    }

    pub fn validate(&self, mode: PaddingMode) -> KernelResult<()> {
        if self.stride == 0 {
            return Err(KernelError::invalid("stride", "must be positive"));
        }
        if self.dilation == 0 {
            return Err(KernelError::invalid("dilation", "must be positive"));
        }
        if self.kernel == 0 {
            return Err(KernelError::invalid("weight", "kernel size must be positive"));
        }
        if self.padded() < self.span() {
            return Err(KernelError::invalid(
                "weight",
                format!(
                    "dilated kernel size {} is larger than the padded input size {}",
                    self.span(),
                    self.padded()
                ),
            ));
        }
        // Kernels index padded coordinates as isize.
        if self.padded() > isize::MAX as u128 {
            return Err(KernelError::invalid("padding", "padded input size overflows"));
        }
        let widest = self.pad_before.max(self.pad_after);
        let fits = match mode {
            PaddingMode::Zeros => true,
            PaddingMode::Reflect => widest < self.input,
            PaddingMode::Circular => widest <= self.input,
            PaddingMode::Replicate => widest == 0 || self.input > 0,
        };
        if !fits {
            return Err(KernelError::invalid(
                "padding",
                format!(
                    "padding {widest} is too large for {mode:?} padding of an input of size {}",
                    self.input
                ),
            ));
        }
        Ok(())
    }
}

/// The full geometry of a grouped N-d convolution.
///
/// Only the checked constructors make one, so every `ConvShape` in
/// existence is valid: groups divide the channels, every window fits its
/// padded input, and every element count the accessors compute (inputs,
/// outputs, weights, unfold's columns) fits in `isize` without wrapping.
/// The kernels size their raw-pointer writes by these counts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConvShape {
    batch: usize,
    in_channels: usize,
    out_channels: usize,
    groups: usize,
    axes: [Window; MAX_SPATIAL_DIMS],
    padding_mode: PaddingMode,
}

/// A convolution's parameters other than the arrays, one value per spatial
/// axis, as callers give them (PyTorch's `stride`, `dilation`, and padding
/// split into before/after for "same" with even kernels).
#[derive(Clone, Debug)]
pub struct ConvParams<'a> {
    pub stride: &'a [usize],
    pub dilation: &'a [usize],
    pub pad_before: &'a [usize],
    pub pad_after: &'a [usize],
    pub groups: usize,
    pub padding_mode: PaddingMode,
}

impl ConvParams<'_> {
    /// The windows of `input` spatial sizes under `kernel` sizes; every
    /// per-axis argument must have one value per axis.
    pub fn windows(&self, input: &[usize], kernel: &[usize]) -> KernelResult<Vec<Window>> {
        let dims = input.len();
        let per_axis = [
            ("weight", kernel.len()),
            ("stride", self.stride.len()),
            ("dilation", self.dilation.len()),
            ("padding", self.pad_before.len()),
            ("padding", self.pad_after.len()),
        ];
        if let Some((argument, len)) = per_axis.into_iter().find(|&(_, len)| len != dims) {
            return Err(KernelError::invalid(argument, format!("expected {dims} values, one per spatial axis, got {len}")));
        }
        Ok((0..dims)
            .map(|d| Window {
                input: input[d],
                kernel: kernel[d],
                stride: self.stride[d],
                dilation: self.dilation[d],
                pad_before: self.pad_before[d],
                pad_after: self.pad_after[d],
            })
            .collect())
    }
}

/// The product of `factors` if every partial product of the non-zero ones
/// fits in isize, as NumPy requires of a shape (so a zero-size dimension
/// cannot hide an overflowing one).
fn checked_product(factors: &[usize], what: &'static str) -> KernelResult<usize> {
    let overflow = || KernelError::invalid(what, "number of elements overflows");
    let mut nonzero = 1usize;
    for &f in factors.iter().filter(|&&f| f != 0) {
        nonzero = nonzero.checked_mul(f).filter(|&n| n <= isize::MAX as usize).ok_or_else(overflow)?;
    }
    Ok(if factors.contains(&0) { 0 } else { nonzero })
}

impl ConvShape {
    /// Builds a shape from 1 to 3 spatial axes, padding the front with unit axes.
    pub fn new(
        batch: usize,
        in_channels: usize,
        out_channels: usize,
        groups: usize,
        spatial: &[Window],
        padding_mode: PaddingMode,
    ) -> KernelResult<Self> {
        if spatial.is_empty() || spatial.len() > MAX_SPATIAL_DIMS {
            return Err(KernelError::invalid("input", "expected 1, 2 or 3 spatial dimensions"));
        }
        let mut axes = [Window::UNIT; MAX_SPATIAL_DIMS];
        axes[MAX_SPATIAL_DIMS - spatial.len()..].copy_from_slice(spatial);
        let shape = ConvShape { batch, in_channels, out_channels, groups, axes, padding_mode };
        shape.validate()?;
        Ok(shape)
    }

    /// The shape of an input `(N, C, *spatial)` convolved with a weight
    /// `(O, C / groups, *kernel)` of equal rank.
    pub fn of_tensors(input: &[usize], weight: &[usize], params: &ConvParams) -> KernelResult<Self> {
        if input.len() < 3 || weight.len() != input.len() {
            return Err(KernelError::invalid(
                "weight",
                format!(
                    "expected input (N, C, *spatial) and weight (O, C/groups, *kernel) of equal rank >= 3, got {} and {}",
                    input.len(),
                    weight.len()
                ),
            ));
        }
        let windows = params.windows(&input[2..], &weight[2..])?;
        let shape = ConvShape::new(input[0], input[1], weight[0], params.groups, &windows, params.padding_mode)?;
        if weight[1].checked_mul(params.groups) != Some(input[1]) {
            return Err(KernelError::invalid(
                "weight",
                format!("expected {} input channels per group, weight has {}", input[1] / params.groups, weight[1]),
            ));
        }
        Ok(shape)
    }

    pub fn batch(&self) -> usize {
        self.batch
    }

    pub fn in_channels(&self) -> usize {
        self.in_channels
    }

    pub fn out_channels(&self) -> usize {
        self.out_channels
    }

    pub fn groups(&self) -> usize {
        self.groups
    }

    /// The three spatial axes, leading unit axes first for 1-D and 2-D.
    pub fn axes(&self) -> &[Window; MAX_SPATIAL_DIMS] {
        &self.axes
    }

    pub fn padding_mode(&self) -> PaddingMode {
        self.padding_mode
    }

    /// The same convolution on `batch` images (checked like `new`).
    pub fn with_batch(&self, batch: usize) -> KernelResult<Self> {
        let shape = ConvShape { batch, ..self.clone() };
        shape.validate()?;
        Ok(shape)
    }

    fn validate(&self) -> KernelResult<()> {
        if self.groups == 0 {
            return Err(KernelError::invalid("groups", "must be positive"));
        }
        if !self.in_channels.is_multiple_of(self.groups) {
            return Err(KernelError::invalid(
                "groups",
                format!("in_channels {} is not divisible by groups {}", self.in_channels, self.groups),
            ));
        }
        if !self.out_channels.is_multiple_of(self.groups) {
            return Err(KernelError::invalid(
                "groups",
                format!("out_channels {} is not divisible by groups {}", self.out_channels, self.groups),
            ));
        }
        for axis in &self.axes {
            axis.validate(self.padding_mode)?;
        }
        // Every product the accessors below compute unchecked, checked here
        // factor by factor so none can wrap (a zero factor does not hide an
        // overflowing one).
        let inputs = self.axes.map(|a| a.input);
        let outputs = self.output_dims();
        let kernel = self.axes.map(|a| a.kernel);
        checked_product(&inputs, "input")?;
        checked_product(&outputs, "output")?;
        checked_product(&[self.in_channels / self.groups, kernel[0], kernel[1], kernel[2]], "weight")?;
        checked_product(&[self.batch, self.in_channels, inputs[0], inputs[1], inputs[2]], "input")?;
        checked_product(&[self.batch, self.out_channels, outputs[0], outputs[1], outputs[2]], "output")?;
        checked_product(&[self.out_channels, self.in_channels / self.groups, kernel[0], kernel[1], kernel[2]], "weight")?;
        // unfold's columns: (N, C * taps, L).
        checked_product(&[self.batch, self.in_channels, kernel[0], kernel[1], kernel[2], outputs[0], outputs[1], outputs[2]], "unfold output")?;
        Ok(())
    }

    pub fn input_pixels(&self) -> usize {
        self.axes.iter().map(|a| a.input).product()
    }

    pub fn output_pixels(&self) -> usize {
        self.axes.iter().map(|a| a.output()).product()
    }

    pub fn kernel_taps(&self) -> usize {
        self.axes.iter().map(|a| a.kernel).product()
    }

    pub fn output_dims(&self) -> [usize; MAX_SPATIAL_DIMS] {
        self.axes.map(|a| a.output())
    }

    /// Rows of one group's im2col matrix: (in_channels / groups) * kernel taps.
    pub fn patch_len(&self) -> usize {
        self.in_channels / self.groups * self.kernel_taps()
    }

    pub fn input_len(&self) -> usize {
        self.batch * self.in_channels * self.input_pixels()
    }

    pub fn output_len(&self) -> usize {
        self.batch * self.out_channels * self.output_pixels()
    }

    pub fn weight_len(&self) -> usize {
        self.out_channels * self.patch_len()
    }

    /// A 1x1 (x1) kernel with stride 1 and no padding reads the input as its
    /// own im2col matrix.
    pub fn is_pointwise(&self) -> bool {
        self.axes.iter().all(Window::is_pointwise)
    }
}

/// Checks that a buffer holds exactly `expected` elements.
pub(crate) fn check_len(argument: &'static str, actual: usize, expected: usize) -> KernelResult<()> {
    if actual == expected {
        Ok(())
    } else {
        Err(KernelError::invalid(
            argument,
            format!("buffer holds {actual} elements, the shape needs {expected}"),
        ))
    }
}

/// Checks a forward call's buffers against `shape` (every kernel writes
/// through pointers sized by it); `Ok(false)` when the output is empty and
/// there is nothing to compute.
pub(crate) fn check_forward<T, U>(shape: &ConvShape, input: &[T], weight: &[T], bias: Option<&[T]>, output: &[U]) -> KernelResult<bool> {
    check_len("input", input.len(), shape.input_len())?;
    check_len("weight", weight.len(), shape.weight_len())?;
    check_len("output", output.len(), shape.output_len())?;
    if let Some(b) = bias {
        check_len("bias", b.len(), shape.out_channels())?;
    }
    Ok(!output.is_empty())
}

/// Checks an input-gradient call's buffers against `shape`; `Ok(false)`
/// when there is nothing to compute (no input elements or no gradient).
pub(crate) fn check_backward_input<T, U>(shape: &ConvShape, weight: &[T], grad_output: &[T], grad_input: &[U]) -> KernelResult<bool> {
    check_len("weight", weight.len(), shape.weight_len())?;
    check_len("grad_output", grad_output.len(), shape.output_len())?;
    check_len("grad_input", grad_input.len(), shape.input_len())?;
    Ok(!grad_input.is_empty() && !grad_output.is_empty())
}

/// Checks a weight-gradient call's buffers against `shape`; `Ok(false)`
/// when there is nothing to compute (no weights or no gradient).
pub(crate) fn check_backward_weight<T>(shape: &ConvShape, input: &[T], grad_output: &[T], grad_weight: &[T]) -> KernelResult<bool> {
    check_len("input", input.len(), shape.input_len())?;
    check_len("grad_output", grad_output.len(), shape.output_len())?;
    check_len("grad_weight", grad_weight.len(), shape.weight_len())?;
    Ok(!grad_weight.is_empty() && !grad_output.is_empty())
}

#[cfg(test)]
pub(crate) mod props;

#[cfg(test)]
mod tests {
    use super::*;

    fn window(input: usize, kernel: usize, stride: usize, dilation: usize, pad: usize) -> Window {
        Window { input, kernel, stride, dilation, pad_before: pad, pad_after: pad }
    }

    #[test]
    fn output_size_matches_the_formula() {
        // floor((H + 2P - D(K-1) - 1)/S) + 1
        assert_eq!(window(28, 3, 1, 1, 1).output(), 28);
        assert_eq!(window(112, 7, 2, 1, 3).output(), 56);
        assert_eq!(window(28, 1, 2, 1, 0).output(), 14);
        assert_eq!(window(10, 3, 3, 2, 0).output(), 2);
        assert_eq!(window(5, 5, 1, 1, 0).output(), 1);
    }

    #[test]
    fn kernel_larger_than_padded_input_is_refused() {
        let err = window(4, 3, 1, 2, 0).validate(PaddingMode::Zeros).unwrap_err();
        assert!(matches!(err, KernelError::InvalidArgument { argument: "weight", .. }));
    }

    #[test]
    fn reflect_padding_must_be_smaller_than_input() {
        assert!(window(3, 3, 1, 1, 2).validate(PaddingMode::Reflect).is_ok());
        assert!(window(2, 3, 1, 1, 2).validate(PaddingMode::Reflect).is_err());
        assert!(window(2, 3, 1, 1, 2).validate(PaddingMode::Circular).is_ok());
    }

    #[test]
    fn padding_modes_map_coordinates() {
        let n = 4;
        let src = |m: PaddingMode| (-3..7).map(|p| m.source(p, n)).collect::<Vec<_>>();
        let s = |v: &[usize]| v.iter().map(|&x| Some(x)).collect::<Vec<_>>();
        assert_eq!(src(PaddingMode::Reflect), s(&[3, 2, 1, 0, 1, 2, 3, 2, 1, 0]));
        assert_eq!(src(PaddingMode::Replicate), s(&[0, 0, 0, 0, 1, 2, 3, 3, 3, 3]));
        assert_eq!(src(PaddingMode::Circular), s(&[1, 2, 3, 0, 1, 2, 3, 0, 1, 2]));
        let zeros = src(PaddingMode::Zeros);
        assert_eq!(zeros[..3], [None, None, None]);
        assert_eq!(zeros[3..7], s(&[0, 1, 2, 3])[..]);
    }

    #[test]
    fn groups_must_divide_channels() {
        let axes = [window(5, 3, 1, 1, 0)];
        assert!(ConvShape::new(1, 4, 6, 2, &axes, PaddingMode::Zeros).is_ok());
        assert!(ConvShape::new(1, 4, 6, 4, &axes, PaddingMode::Zeros).is_err());
        assert!(ConvShape::new(1, 3, 6, 2, &axes, PaddingMode::Zeros).is_err());
        assert!(ConvShape::new(1, 4, 6, 0, &axes, PaddingMode::Zeros).is_err());
    }

    fn params(per_axis: &[usize], groups: usize) -> ConvParams<'_> {
        ConvParams { stride: per_axis, dilation: per_axis, pad_before: &[0, 0], pad_after: &[0, 0], groups, padding_mode: PaddingMode::Zeros }
    }

    #[test]
    fn tensor_shapes_are_checked_against_each_other() {
        let ones = [1, 1];
        let ok = ConvShape::of_tensors(&[2, 4, 8, 9], &[6, 2, 3, 3], &params(&ones, 2)).unwrap();
        assert_eq!((ok.batch(), ok.in_channels(), ok.out_channels(), ok.groups()), (2, 4, 6, 2));
        assert_eq!(ok.output_dims(), [1, 6, 7]);
        let refused = |input: &[usize], weight: &[usize], per_axis: &[usize], groups| {
            match ConvShape::of_tensors(input, weight, &params(per_axis, groups)) {
                Err(KernelError::InvalidArgument { argument, .. }) => argument,
                other => panic!("accepted {input:?} * {weight:?}: {other:?}"),
            }
        };
        assert_eq!(refused(&[2, 4, 8, 9], &[6, 4, 3, 3], &ones, 2), "weight"); // channels per group
        assert_eq!(refused(&[2, 4, 8, 9], &[6, 2, 3], &ones, 2), "weight"); // ranks differ
        assert_eq!(refused(&[2, 4], &[6, 2], &[], 2), "weight"); // no spatial axis
        assert_eq!(refused(&[2, 4, 8, 9], &[6, 2, 3, 3], &[1], 2), "stride"); // one value for two axes
        assert_eq!(refused(&[2, 4, 8, 9], &[6, 2, 3, 3], &ones, 3), "groups");
        // weight[1] * groups wraps to in_channels in release builds without the check.
        assert_eq!(refused(&[2, 0, 8, 9], &[6, 1 << 63, 3, 3], &ones, 2), "weight");
    }

    #[test]
    fn a_larger_batch_is_checked_too() {
        let shape = ConvShape::new(1, 3, 3, 1, &[window(1 << 20, 1, 1, 1, 0)], PaddingMode::Zeros).unwrap();
        assert_eq!(shape.with_batch(7).unwrap().batch(), 7);
        assert!(shape.with_batch(usize::MAX / 4).is_err());
    }

    #[test]
    fn element_count_overflow_is_refused() {
        let big = Window { input: usize::MAX / 2, ..Window::UNIT };
        assert!(ConvShape::new(4, 4, 4, 1, &[big], PaddingMode::Zeros).is_err());
    }
}

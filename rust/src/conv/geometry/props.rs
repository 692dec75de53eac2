//! Property tests of the window arithmetic: the output-size formula against
//! counting window positions one by one, padding maps against explicitly
//! built padded index sequences, and no panic or wrap-around for any
//! argument values, however large.

use super::super::im2col::Im2colPlan;
use super::*;
use proptest::prelude::*;

const MODES: [PaddingMode; 4] =
    [PaddingMode::Zeros, PaddingMode::Reflect, PaddingMode::Replicate, PaddingMode::Circular];

pub(crate) fn any_mode() -> impl Strategy<Value = PaddingMode> {
    (0..4usize).prop_map(|i| MODES[i])
}

/// Sizes from every region that matters: small, near the isize and usize
/// limits, and anywhere in between.
fn any_size() -> impl Strategy<Value = usize> {
    let half = isize::MAX as usize;
    prop_oneof![
        0..10usize,
        any::<usize>(),
        (half - 3)..=(half + 3),
        (usize::MAX - 3)..=usize::MAX,
        (1usize << 31)..=(1usize << 33),
    ]
}

/// A window from (input, kernel, stride, dilation, pad_before, pad_after).
fn window((input, kernel, stride, dilation, pad_before, pad_after): (usize, usize, usize, usize, usize, usize)) -> Window {
    Window { input, kernel, stride, dilation, pad_before, pad_after }
}

fn any_window() -> impl Strategy<Value = Window> {
    (any_size(), any_size(), any_size(), any_size(), any_size(), any_size()).prop_map(window)
}

/// Windows with every field below the given bound (kernel, stride and
/// dilation at least 1), small enough to check against brute force.
pub(crate) fn window_below(
    input: usize,
    kernel: usize,
    stride: usize,
    dilation: usize,
    pad: usize,
) -> impl Strategy<Value = Window> {
    (0..input, 1..kernel, 1..stride, 1..dilation, 0..pad, 0..pad).prop_map(window)
}

fn small_window() -> impl Strategy<Value = Window> {
    window_below(24, 7, 6, 5, 9)
}

/// Window positions counted one by one: start `o * stride` is valid while
/// its last tap stays inside the padded input.
fn count_positions(w: &Window) -> usize {
    let padded = w.input + w.pad_before + w.pad_after;
    let last_tap = (w.kernel - 1) * w.dilation;
    (0..=padded).take_while(|o| o * w.stride + last_tap < padded).count()
}

/// The input index each padded coordinate reads, built as the padding
/// mode's definition lays it out (as numpy.pad / torch.nn.functional.pad).
fn padded_indices(mode: PaddingMode, n: usize, before: usize, after: usize) -> Vec<Option<usize>> {
    let edge = |i: usize| -> Option<usize> {
        match mode {
            // An empty axis has nothing to read, whatever the mode.
            _ if n == 0 => None,
            PaddingMode::Zeros => None,
            PaddingMode::Replicate => Some(i),
            _ => unreachable!(),
        }
    };
    let mut left: Vec<Option<usize>> = Vec::new();
    let mut right: Vec<Option<usize>> = Vec::new();
    for j in 1..=before {
        left.push(match mode {
            _ if n == 0 => None,
            PaddingMode::Reflect => Some(j),
            PaddingMode::Circular => Some(n - j),
            _ => edge(0),
        });
    }
    for j in 1..=after {
        right.push(match mode {
            _ if n == 0 => None,
            PaddingMode::Reflect => Some(n - 1 - j),
            PaddingMode::Circular => Some(j - 1),
            _ => edge(n.saturating_sub(1)),
        });
    }
    left.reverse();
    left.into_iter().chain((0..n).map(Some)).chain(right).collect()
}

proptest! {
    // Random axes are often invalid (kernel larger than the padded input):
    // those cases are skipped, so allow many rejections before giving up.
    #![proptest_config(ProptestConfig { cases: 2000, max_global_rejects: 1 << 20, ..ProptestConfig::default() })]

    #[test]
    fn output_size_is_the_number_of_window_positions(w in small_window()) {
        let positions = count_positions(&w);
        match w.validate(PaddingMode::Zeros) {
            Ok(()) => prop_assert_eq!(w.output(), positions),
            Err(_) => prop_assert_eq!(positions, 0),
        }
    }

    #[test]
    fn validation_never_panics_and_bounds_coordinates(w in any_window(), mode in any_mode()) {
        if w.validate(mode).is_ok() {
            let padded = w.input as u128 + w.pad_before as u128 + w.pad_after as u128;
            prop_assert!(padded <= isize::MAX as u128);
            prop_assert!(w.output() >= 1);
            // The last tap of the last window is a valid padded coordinate.
            let last = (w.output() as u128 - 1) * w.stride as u128 + (w.kernel as u128 - 1) * w.dilation as u128;
            prop_assert!(last < padded);
        }
    }

    #[test]
    fn shapes_never_panic_and_their_sizes_do_not_wrap(
        batch in any_size(), cin in any_size(), cout in any_size(), groups in any_size(),
        axes in proptest::collection::vec(any_window(), 0..5), mode in any_mode(),
    ) {
        if let Ok(s) = ConvShape::new(batch, cin, cout, groups, &axes, mode) {
            let prod = |v: &[usize]| v.iter().map(|&x| x as u128).product::<u128>();
            let inputs: Vec<usize> = s.axes().iter().map(|a| a.input).collect();
            let outputs = s.output_dims();
            prop_assert_eq!(s.input_len() as u128, prod(&[batch, cin]) * prod(&inputs));
            prop_assert_eq!(s.output_len() as u128, prod(&[batch, cout]) * prod(&outputs));
            prop_assert_eq!(s.weight_len() as u128, prod(&[cout, cin / groups]) * s.kernel_taps() as u128);
            // Per-image products are computed unchecked too: none may wrap.
            prop_assert!(prod(&inputs) <= isize::MAX as u128);
            prop_assert!(prod(&outputs) <= isize::MAX as u128);
            prop_assert!(prod(&[cin / groups]) * s.axes().iter().map(|a| a.kernel as u128).product::<u128>()
                <= isize::MAX as u128);
        }
    }

    #[test]
    fn source_never_panics_and_stays_in_range(pos in any::<isize>(), size in any_size(), mode in any_mode()) {
        if let Some(s) = mode.source(pos, size) {
            prop_assert!(s < size);
        }
    }

    #[test]
    fn padding_maps_match_the_padded_sequence(w in small_window(), mode in any_mode()) {
        prop_assume!(w.validate(mode).is_ok());
        let expected = padded_indices(mode, w.input, w.pad_before, w.pad_after);
        for (i, want) in expected.iter().enumerate() {
            let got = mode.source(i as isize - w.pad_before as isize, w.input);
            prop_assert_eq!(got, *want, "padded coordinate {}", i);
        }
    }

    #[test]
    fn im2col_reads_only_inside_the_input(
        axes in proptest::collection::vec(small_window(), 1..4), mode in any_mode(),
    ) {
        prop_assume!(ConvShape::new(1, 1, 1, 1, &axes, mode).is_ok());
        let shape = ConvShape::new(1, 1, 1, 1, &axes, mode).unwrap();
        let plan = Im2colPlan::new(&shape);
        for (axis, taps) in shape.axes().iter().zip(&plan.taps) {
            for o in 0..axis.output() {
                for k in 0..axis.kernel {
                    let src = taps.source(o, k);
                    let pos = (o * axis.stride + k * axis.dilation) as isize - axis.pad_before as isize;
                    prop_assert!(src >= -1 && src < axis.input as isize);
                    // Only zero padding reads zeros, and only outside the input.
                    let inside = pos >= 0 && pos < axis.input as isize;
                    prop_assert_eq!(src == -1, mode == PaddingMode::Zeros && !inside);
                }
            }
        }
    }
}

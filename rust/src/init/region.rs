//! A rectangular block of a logical C-order tensor, read as rows of
//! consecutive flat indices: the unit a region fill hands to the stream.

use crate::error::{KernelError, KernelResult};
use crate::rng::RowStarts;

/// One axis of the block, outside the last: the block's indices along it
/// are `start .. start + len`, and a step along it moves `stride` elements.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct OuterAxis {
    start: u64,
    len: u64,
    stride: u64,
}

/// The block `full[start_0:stop_0, ..., start_n:stop_n]` of a tensor of
/// `shape`: rows of `row_len` values, the last axis (merged with the axes
/// before it while they are taken whole, so a contiguous block is one row).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Block {
    outer: Vec<OuterAxis>,
    row_start: u64,
    row_len: usize,
    len: usize,
}

fn invalid(message: String) -> KernelError {
    KernelError::invalid("region", message)
}

/// The element count of `shape`, if it is below 2^64 (a stream's indices).
fn numel(shape: &[u64]) -> Option<u64> {
    shape.iter().try_fold(1u64, |n, &d| n.checked_mul(d))
}

impl Block {
    /// The block of `shape` given by one `(start, stop)` per axis.
    pub fn new(shape: &[u64], ranges: &[(u64, u64)]) -> KernelResult<Block> {
        if ranges.len() != shape.len() {
            return Err(invalid(format!("expected one (start, stop) per axis of shape {shape:?}, got {} ranges", ranges.len())));
        }
        for (axis, (&(start, stop), &dim)) in ranges.iter().zip(shape).enumerate() {
            if !(start <= stop && stop <= dim) {
                return Err(invalid(format!("axis {axis}: expected 0 <= start <= stop <= {dim}, got ({start}, {stop})")));
            }
        }
        if numel(shape).is_none() {
            return Err(KernelError::invalid("shape", format!("{shape:?} has 2**64 elements or more, past a stream's indices")));
        }
        let lens: Vec<u64> = ranges.iter().map(|&(a, b)| b - a).collect();
        let len = numel(&lens).and_then(|n| usize::try_from(n).ok());
        let len = len.ok_or_else(|| invalid(format!("the block of lengths {lens:?} has more elements than memory")))?;
        Ok(Self::merged(shape, ranges, len))
    }

    /// Values `start .. start + len` of a flat tensor.
    pub fn flat(start: u64, len: usize) -> Block {
        Block { outer: Vec::new(), row_start: start, row_len: len, len }
    }

    fn merged(shape: &[u64], ranges: &[(u64, u64)], len: usize) -> Block {
        let (mut shape, mut ranges) = (shape.to_vec(), ranges.to_vec());
        if shape.is_empty() {
            (shape, ranges) = (vec![1], vec![(0, 1)]);
        }
        // While the last axis is taken whole, it and the axis before it are
        // one axis of their product (rows of the merged axis are contiguous).
        while shape.len() > 1 && ranges[shape.len() - 1] == (0, shape[shape.len() - 1]) {
            let inner = shape.pop().unwrap_or(1);
            ranges.pop();
            let last = shape.len() - 1;
            shape[last] *= inner;
            ranges[last] = (ranges[last].0 * inner, ranges[last].1 * inner);
        }
        let last = shape.len() - 1;
        let mut stride = shape[last];
        let mut outer = Vec::with_capacity(last);
        for axis in (0..last).rev() {
            outer.push(OuterAxis { start: ranges[axis].0, len: ranges[axis].1 - ranges[axis].0, stride });
            stride *= shape[axis];
        }
        outer.reverse();
        let row_len = (ranges[last].1 - ranges[last].0) as usize;
        Block { outer, row_start: ranges[last].0, row_len, len }
    }

    /// Elements in the block.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Values per row (the block's last axis, merged as described above).
    pub fn row_len(&self) -> usize {
        self.row_len
    }
}

impl RowStarts for Block {
    fn start_of(&self, row: usize) -> u64 {
        let mut rest = row as u64;
        let mut start = self.row_start;
        let Some((outermost, inner)) = self.outer.split_first() else {
            return start;
        };
        for axis in inner.iter().rev() {
            start += (axis.start + rest % axis.len) * axis.stride;
            rest /= axis.len;
        }
        // `row` lies in the block, so what is left indexes the outermost axis
        // (no division: most regions are 2-d, and this runs once per row).
        start + (outermost.start + rest) * outermost.stride
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Flat indices of every element of the block, by the definition.
    fn by_definition(shape: &[u64], ranges: &[(u64, u64)]) -> Vec<u64> {
        let mut indices = vec![0u64];
        for (&dim, &(start, stop)) in shape.iter().zip(ranges) {
            indices = indices.iter().flat_map(|&base| (start..stop).map(move |i| base * dim + i)).collect();
        }
        indices
    }

    fn by_rows(block: &Block) -> Vec<u64> {
        let rows = block.len.checked_div(block.row_len).unwrap_or(0);
        (0..rows).flat_map(|r| (0..block.row_len as u64).map(move |c| block.start_of(r) + c)).collect()
    }

    type Case<'a> = (&'a [u64], &'a [(u64, u64)]);

    #[test]
    fn rows_list_the_block_in_c_order() {
        let cases: [Case; 7] = [
            (&[5, 7, 3], &[(1, 4), (2, 7), (0, 3)]),
            (&[5, 7, 3], &[(0, 5), (0, 7), (0, 3)]),
            (&[5, 7, 3], &[(2, 3), (0, 7), (1, 2)]),
            (&[4, 6], &[(1, 3), (0, 0)]),
            (&[9], &[(2, 9)]),
            (&[], &[]),
            (&[2, 1, 4, 5], &[(1, 2), (0, 1), (1, 4), (0, 5)]),
        ];
        for (shape, ranges) in cases {
            let block = Block::new(shape, ranges).unwrap();
            assert_eq!(by_rows(&block), by_definition(shape, ranges), "{shape:?} {ranges:?}");
        }
    }

    #[test]
    fn whole_trailing_axes_merge_into_one_row() {
        let block = Block::new(&[5, 7, 3], &[(1, 4), (0, 7), (0, 3)]).unwrap();
        assert_eq!((block.row_len(), block.len()), (63, 63));
    }

    #[test]
    fn bad_regions_are_errors_naming_region() {
        for ranges in [&[(0u64, 3u64)][..], &[(0, 3), (2, 1)], &[(0, 3), (0, 5)]] {
            let err = Block::new(&[3, 4], ranges).unwrap_err();
            assert!(err.to_string().starts_with("region:"), "{err}");
        }
        assert!(Block::new(&[1 << 32, 1 << 32], &[(0, 1), (0, 1)]).is_err());
    }
}

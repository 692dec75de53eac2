//! Convolution kernels: N-d (1, 2, 3 spatial dims) im2col + GEMM forward,
//! unfold (im2col) and fold (col2im), all on plain slices.

mod backward;
mod depthwise;
mod forward;
mod geometry;
mod im2col;
mod implicit;
mod matmul;
mod microkernel;
mod phases;
mod scratch;
mod select;
mod uninit;
mod unfold;
mod winograd;

pub use backward::{conv_backward_input, conv_backward_input_uninit, conv_backward_weight};
pub use select::{conv_forward, conv_forward_uninit, conv_forward_with, Algorithm};
pub use geometry::{ConvParams, ConvShape, PaddingMode, Window, MAX_SPATIAL_DIMS};
pub use matmul::Real;
pub use microkernel::{tile_isa, TileIsa};
pub use unfold::{fold, unfold};

"""Region fills (exactly ``full[region]``) and the 16-bit dtypes (the float32
fill rounded to nearest even, as torch's own ``.to(torch.bfloat16)`` rounds)."""

import math

import ml_dtypes
import numpy as np
import pytest
import torch

from convinit import Generator, init

RANDOM_FILLS = {
    "uniform": dict(a=-0.5, b=2.0),
    "normal": dict(mean=0.25, std=3.0),
    "trunc_normal": dict(mean=0.0, std=1.0, a=-1.5, b=2.0),
    "xavier_uniform": dict(gain=1.3),
    "xavier_normal": dict(),
    "kaiming_uniform": dict(a=0.1, mode="fan_out"),
    "kaiming_normal": dict(nonlinearity="relu"),
}


def random_case(rng):
    """A shape of 2-4 axes and a random sub-block of it, as slices and as pairs."""
    shape = tuple(int(d) for d in rng.integers(1, 40, size=rng.integers(2, 5)))
    if rng.random() < 0.3:
        shape = shape[:-1] + (int(rng.integers(256, 700)),)
    starts = [int(rng.integers(0, d + 1)) for d in shape]
    stops = [int(rng.integers(s, d + 1)) for s, d in zip(starts, shape)]
    slices = tuple(slice(a, b) for a, b in zip(starts, stops))
    return shape, slices, tuple(zip(starts, stops))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", list(RANDOM_FILLS))
def test_a_region_fill_is_the_slice_of_the_full_fill(name, dtype):
    fill = getattr(init, name)
    rng = np.random.default_rng(abs(hash((name, dtype))) % 2**32)
    for _ in range(12):
        shape, slices, pairs = random_case(rng)
        full = fill(shape, **RANDOM_FILLS[name], seed=11, dtype=dtype)
        for region in (slices, pairs):
            block = fill(shape, **RANDOM_FILLS[name], seed=11, dtype=dtype, region=region)
            assert block.dtype == full.dtype and block.shape == full[slices].shape
            assert np.array_equal(block, full[slices]), (shape, region)


@pytest.mark.parametrize("name", ["normal", "kaiming_uniform", "trunc_normal"])
def test_in_place_region_fills_a_block_of_the_logical_tensor(name):
    shape = (9, 33, 300)
    full = getattr(init, name)(shape, **RANDOM_FILLS[name], seed=4)
    region = (slice(2, 7), slice(0, 33), slice(17, 290))
    fill_ = getattr(init, name + "_")
    array = np.empty((5, 33, 273), np.float32)
    assert fill_(array, **RANDOM_FILLS[name], seed=4, region=region, shape=shape) is array
    assert np.array_equal(array, full[region])
    tensor = torch.empty(5, 33, 273)
    fill_(tensor, **RANDOM_FILLS[name], seed=4, region=region, shape=shape)
    assert np.array_equal(tensor.numpy(), full[region])
    strided = torch.empty(273, 33, 5).permute(2, 1, 0)  # not contiguous: the copying path
    fill_(strided, **RANDOM_FILLS[name], seed=4, region=region, shape=shape)
    assert np.array_equal(strided.numpy(), full[region])


def test_generator_draws_and_flat_range_agree_with_regions():
    full = init.normal((20, 30), generator=Generator(5))
    block = init.normal((20, 30), region=(slice(3, 9), slice(4, 30)), generator=Generator(5))
    assert np.array_equal(block, full[3:9, 4:30])
    flat = init.normal((20, 30), flat_range=(37, 300), seed=2)
    assert np.array_equal(flat, init.normal((20, 30), seed=2).ravel()[37:300])


def test_constant_fills_take_a_region_and_others_refuse_it():
    assert np.array_equal(init.constant((5, 6), 2.5, region=(slice(1, 3), slice(0, 6))), np.full((2, 6), 2.5, np.float32))
    assert init.zeros((5, 6), region=((0, 0), (0, 6))).shape == (0, 6)
    with pytest.raises(ValueError, match="region"):
        init.eye((5, 6), region=(slice(1, 3), slice(0, 6)))
    with pytest.raises(ValueError, match="region"):
        init.orthogonal((5, 6), seed=0, region=(slice(1, 3), slice(0, 6)))


BAD_REGIONS = [
    ((slice(0, 3),), ValueError),  # too few axes
    ((slice(0, 3), slice(0, 4), slice(0, 1)), ValueError),  # too many
    ((slice(0, 9), slice(0, 4)), ValueError),  # past the end
    (((0, 3), (2, 5)), ValueError),
    (((-1, 3), (0, 4)), ValueError),
    (((2, 1), (0, 4)), ValueError),  # start past stop
    ((slice(0, 3, 2), slice(0, 4)), ValueError),  # step
    ((slice(3, 1), slice(0, 4)), ValueError),
    ((slice(-9, 2), slice(0, 4)), ValueError),
    (((0, 1, 2), (0, 4)), TypeError),
    (((0.0, 1), (0, 4)), TypeError),
    ("0:3", TypeError),
    (3, TypeError),
]


@pytest.mark.parametrize("region, error", BAD_REGIONS)
def test_bad_regions_raise_naming_region(region, error):
    with pytest.raises(error, match="region"):
        init.normal((5, 4), seed=0, region=region)
    with pytest.raises(error, match="region"):
        init.kaiming_uniform_(np.zeros((3, 4), np.float32), seed=0, region=region, shape=(5, 4))


def test_in_place_region_arguments_are_checked():
    with pytest.raises(ValueError, match="region"):  # block (2, 4) vs tensor (3, 4)
        init.normal_(np.zeros((3, 4), np.float32), seed=0, region=(slice(0, 2), slice(0, 4)), shape=(5, 4))
    with pytest.raises(ValueError, match="shape, region"):
        init.normal_(np.zeros((3, 4), np.float32), seed=0, region=(slice(0, 3), slice(0, 4)))
    with pytest.raises(ValueError, match="flat_range, region"):
        init.normal((5, 4), seed=0, region=(slice(0, 3), slice(0, 4)), flat_range=(0, 3))


def test_negative_slice_bounds_count_from_the_end():
    full = init.uniform((6, 7), seed=1)
    assert np.array_equal(init.uniform((6, 7), seed=1, region=(slice(-4, None), slice(None, -2))), full[-4:, :-2])


# ---- bfloat16 and float16 ------------------------------------------------------

TORCH_HALF = {"bfloat16": torch.bfloat16, "float16": torch.float16}


def torch_rounded(values_f32, dtype):
    """torch's own float32 -> 16-bit rounding, as bit patterns."""
    return torch.tensor(values_f32).to(TORCH_HALF[dtype]).view(torch.int16).numpy().view(np.uint16)


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
@pytest.mark.parametrize("name", ["uniform", "normal", "xavier_normal", "kaiming_uniform"])
def test_half_fills_are_the_float32_fill_rounded_like_torch(name, dtype):
    shape = (64, 3, 5, 5)
    f32 = getattr(init, name)(shape, **RANDOM_FILLS[name], seed=8)
    half = getattr(init, name)(shape, **RANDOM_FILLS[name], seed=8, dtype=dtype)
    assert half.dtype == (np.dtype(ml_dtypes.bfloat16) if dtype == "bfloat16" else np.float16)
    assert np.array_equal(half.view(np.uint16), torch_rounded(f32, dtype))
    tensor = torch.empty(shape, dtype=TORCH_HALF[dtype])
    getattr(init, name + "_")(tensor, **RANDOM_FILLS[name], seed=8)
    assert np.array_equal(tensor.view(torch.int16).numpy().view(np.uint16), torch_rounded(f32, dtype))
    region = (slice(10, 50), slice(1, 3), slice(0, 5), slice(2, 4))
    block = getattr(init, name)(shape, **RANDOM_FILLS[name], seed=8, dtype=dtype, region=region)
    assert np.array_equal(block.view(np.uint16), torch_rounded(np.ascontiguousarray(f32[region]), dtype))


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_half_in_place_fills_of_numpy_arrays(dtype):
    array = np.empty((40, 300), ml_dtypes.bfloat16 if dtype == "bfloat16" else np.float16)
    init.normal_(array, 0.0, 2.0, seed=3)
    assert np.array_equal(array.view(np.uint16), torch_rounded(init.normal((40, 300), 0.0, 2.0, seed=3), dtype))
    strided = np.empty((300, 40), array.dtype).T
    init.normal_(strided, 0.0, 2.0, seed=3)
    assert np.array_equal(strided.astype(np.float32), array.astype(np.float32))


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
@pytest.mark.parametrize("a, b", [(-2.0, 2.0), (-0.1, 0.1), (0.3, 0.7), (-3.0, -2.9)])
def test_half_trunc_normal_stays_inside_the_bounds(dtype, a, b):
    # The failure of torch's test_trunc_normal_low_precision: rounding to
    # 16 bits must not step outside [a, b] even when a and b are not 16-bit values.
    tensor = torch.empty(200_000, dtype=TORCH_HALF[dtype])
    init.trunc_normal_(tensor, mean=0.0, std=1.0, a=a, b=b, seed=6)
    values = tensor.double()
    assert values.min().item() >= a and values.max().item() <= b
    f32 = init.trunc_normal((200_000,), mean=0.0, std=1.0, a=a, b=b, seed=6)
    rounded = torch.tensor(f32).to(TORCH_HALF[dtype]).double()
    inside = (rounded >= a) & (rounded <= b)
    # Wherever plain rounding stays inside, the value is exactly torch's rounding.
    assert torch.equal(values[inside], rounded[inside])


def test_bfloat16_trunc_normal_uses_every_value_and_does_not_pile_up_on_the_bounds():
    # test_unique_values_bf16: a bf16 sample should show as many distinct
    # values as the format has where the density is not negligible (a
    # low-precision inverse CDF collapses them); the reference count is from
    # torch rounding convinit's float32 sample of the same size.
    tensor = torch.empty(1_000_000, dtype=torch.bfloat16)
    init.trunc_normal_(tensor, mean=0.0, std=1.0, a=-2.0, b=2.0, seed=2)
    distinct = torch.unique(tensor).numel()
    reference = torch.unique(torch.randn(1_000_000, generator=torch.Generator().manual_seed(0)).clamp(-2, 2)
                             .to(torch.bfloat16)).numel()
    assert distinct >= 0.9 * reference, (distinct, reference)
    # test_no_boundary_values_small_std_bf16: with std = 0.01, the bounds +-2
    # lie 200 std away; no value may sit on them.
    small = torch.empty(1_000_000, dtype=torch.bfloat16)
    init.trunc_normal_(small, mean=0.0, std=0.01, a=-2.0, b=2.0, seed=2)
    assert not ((small == 2.0) | (small == -2.0)).any()
    assert abs(small.float().std().item() - 0.01) < 0.0002


def test_a_half_truncated_interval_without_a_16_bit_value_is_refused():
    with pytest.raises(ValueError, match="a"):
        init.trunc_normal((4,), 0.1, 1.0, 0.1001, 0.1002, seed=0, dtype="bfloat16")


def test_16_bit_dtype_names():
    for given in ("bfloat16", ml_dtypes.bfloat16, torch.bfloat16):
        assert init.normal((3,), seed=0, dtype=given).dtype.name == "bfloat16"
    for given in ("float16", np.float16, torch.float16):
        assert init.normal((3,), seed=0, dtype=given).dtype == np.float16
    assert math.isclose(float(init.ones((2,), dtype="bfloat16")[0]), 1.0)

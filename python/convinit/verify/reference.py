"""A pure-NumPy float64 reference: the ``numpy`` backend of ``convinit verify``.

- Convolution by im2col + matrix product with ``torch.nn.functional``
  semantics (stride, padding incl. "same"/"valid", dilation, groups, padding
  modes, unbatched input), ``unfold``/``fold``, and ``scipy.signal``'s
  ``correlate2d``/``convolve2d``. Everything is computed in float64; the
  backend functions return the input's dtype, the ``*_f64`` ones float64.
- ``torch.nn.init``'s fans, gains, std/bound formulas and fills (drawn with
  NumPy's generator, so values differ from torch's but distributions agree).
- Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2,
  3", SC'11) and the stream layout DESIGN.md gives ``convinit.Generator``.

Nothing here imports convinit's own code: it is what convinit is checked against.
"""

from __future__ import annotations

import functools
import inspect
import math
from typing import Any, Callable, Optional, Sequence

import numpy as np

# ----------------------------------------------------------------- convolution

PAD_MODES = {"zeros": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def spatial_tuple(value: Any, dims: int) -> tuple[int, ...]:
    if isinstance(value, (int, np.integer)):
        return (int(value),) * dims
    values = tuple(int(v) for v in value)
    return values * dims if len(values) == 1 else values


def resolve_padding(padding: Any, kernel: Sequence[int], dilation: Sequence[int]) -> tuple[tuple[int, ...], ...]:
    """(before, after) per spatial axis; "same" pads ``total // 2`` before, as torch."""
    dims = len(kernel)
    if padding == "valid":
        return (0,) * dims, (0,) * dims
    if padding == "same":
        total = [d * (k - 1) for k, d in zip(kernel, dilation)]
        return tuple(t // 2 for t in total), tuple(t - t // 2 for t in total)
    pads = spatial_tuple(padding, dims)
    return pads, pads


def pad(x: np.ndarray, before: Sequence[int], after: Sequence[int], mode: str = "zeros") -> np.ndarray:
    """Pads the trailing ``len(before)`` axes; torch's reflect/replicate/circular
    are NumPy's reflect/edge/wrap."""
    widths = [(0, 0)] * (x.ndim - len(before)) + list(zip(before, after))
    return np.pad(x, widths, mode=PAD_MODES[mode])


def im2col(x: np.ndarray, kernel: Sequence[int], stride: Sequence[int], dilation: Sequence[int]) -> np.ndarray:
    """``(N, C, *spatial)`` -> ``(N, C, *kernel, *out)``: every dilated, strided window."""
    dims = len(kernel)
    span = [d * (k - 1) + 1 for k, d in zip(kernel, dilation)]
    windows = np.lib.stride_tricks.sliding_window_view(x, span, axis=tuple(range(2, 2 + dims)))
    picks = (slice(None), slice(None)) + tuple(slice(None, None, s) for s in stride)
    windows = windows[picks + tuple(slice(None, None, d) for d in dilation)]
    return windows.transpose(0, 1, *range(2 + dims, 2 + 2 * dims), *range(2, 2 + dims))


def conv_f64(input: Any, weight: Any, bias: Any = None, stride: Any = 1, padding: Any = 0, dilation: Any = 1,
             groups: int = 1, padding_mode: str = "zeros") -> np.ndarray:
    """N-d cross-correlation in float64 with ``torch.nn.functional.conv*d`` semantics."""
    w = np.asarray(weight, np.float64)
    x = np.asarray(input, np.float64)
    dims = w.ndim - 2
    unbatched = x.ndim == dims + 1
    if unbatched:
        x = x[None]
    kernel = w.shape[2:]
    strides, dilations = spatial_tuple(stride, dims), spatial_tuple(dilation, dims)
    before, after = resolve_padding(padding, kernel, dilations)
    cols = im2col(pad(x, before, after, padding_mode), kernel, strides, dilations)
    n, out_size = x.shape[0], cols.shape[2 + dims:]
    taps = int(np.prod(out_size))
    cols = cols.reshape(n, groups, -1, taps)                      # (N, G, C/G * prod(kernel), L)
    w_groups = w.reshape(groups, w.shape[0] // groups, -1)          # (G, O/G, C/G * prod(kernel))
    y = np.stack([w_groups[g] @ cols[:, g] for g in range(groups)], axis=1)
    y = y.reshape(n, w.shape[0], *out_size)
    if bias is not None:
        y = y + np.asarray(bias, np.float64).reshape(1, -1, *([1] * dims))
    return y[0] if unbatched else y


def _input_dtype(array: Any) -> np.dtype:
    dtype = np.asarray(array).dtype
    return dtype if dtype.kind == "f" else np.dtype(np.float64)


def _conv_backend(dims: int) -> Callable:
    def conv(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, padding_mode="zeros", *,
             threads=None):
        return conv_f64(input, weight, bias, stride, padding, dilation, groups, padding_mode).astype(
            _input_dtype(input))

    conv.__name__ = conv.__qualname__ = f"conv{dims}d"
    conv.__doc__ = f"{dims}-D convolution as torch.nn.functional.conv{dims}d, computed in float64."
    return conv


conv1d, conv2d, conv3d = (_conv_backend(d) for d in (1, 2, 3))


def unfold_f64(input: Any, kernel_size: Any, dilation: Any = 1, padding: Any = 0, stride: Any = 1) -> np.ndarray:
    """im2col as ``torch.nn.functional.unfold``: ``(N, C*kh*kw, L)``."""
    x = np.asarray(input, np.float64)
    unbatched = x.ndim == 3
    if unbatched:
        x = x[None]
    kernel = spatial_tuple(kernel_size, 2)
    pads = spatial_tuple(padding, 2)
    cols = im2col(pad(x, pads, pads), kernel, spatial_tuple(stride, 2), spatial_tuple(dilation, 2))
    cols = cols.reshape(x.shape[0], x.shape[1] * kernel[0] * kernel[1], -1)
    return cols[0] if unbatched else cols


def fold_f64(input: Any, output_size: Any, kernel_size: Any, dilation: Any = 1, padding: Any = 0,
             stride: Any = 1) -> np.ndarray:
    """col2im as ``torch.nn.functional.fold``: the adjoint of unfold (overlaps summed)."""
    cols = np.asarray(input, np.float64)
    unbatched = cols.ndim == 2
    if unbatched:
        cols = cols[None]
    (h, w), (kh, kw) = spatial_tuple(output_size, 2), spatial_tuple(kernel_size, 2)
    (dh, dw), (ph, pw), (sh, sw) = (spatial_tuple(v, 2) for v in (dilation, padding, stride))
    oh = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    ow = (w + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    n, c = cols.shape[0], cols.shape[1] // (kh * kw)
    cols = cols.reshape(n, c, kh, kw, oh, ow)
    out = np.zeros((n, c, h + 2 * ph, w + 2 * pw))
    for i in range(kh):
        for j in range(kw):
            out[:, :, i * dh:i * dh + sh * (oh - 1) + 1:sh, j * dw:j * dw + sw * (ow - 1) + 1:sw] += cols[:, :, i, j]
    out = out[:, :, ph:ph + h, pw:pw + w]
    return out[0] if unbatched else out


def unfold(input, kernel_size, dilation=1, padding=0, stride=1, *, threads=None):
    return unfold_f64(input, kernel_size, dilation, padding, stride).astype(_input_dtype(input))


def fold(input, output_size, kernel_size, dilation=1, padding=0, stride=1, *, threads=None):
    return fold_f64(input, output_size, kernel_size, dilation, padding, stride).astype(_input_dtype(input))


def conv_output_size(size, kernel_size, stride=1, padding=0, dilation=1):
    """floor((H + 2P - D(K - 1) - 1) / S) + 1 per axis (text 003's formula)."""
    args = (size, kernel_size, stride, padding, dilation)
    if not any(isinstance(a, (tuple, list)) for a in args):
        return (size + 2 * padding - dilation * (kernel_size - 1) - 1) // stride + 1
    n = max(len(a) for a in args if isinstance(a, (tuple, list)))
    per_axis = [a if isinstance(a, (tuple, list)) else (a,) * n for a in args]
    return tuple((h + 2 * p - d * (k - 1) - 1) // s + 1 for h, k, s, p, d in zip(*per_axis))


def _boundary_index(pos: np.ndarray, n: int, boundary: str) -> np.ndarray:
    """Source index read at extended position ``pos``; -1 means the fill value.
    'symm' mirrors including the edge sample (period 2n), 'wrap' has period n."""
    if boundary in ("wrap", "circular"):
        return np.mod(pos, n)
    if boundary in ("symm", "symmetric"):
        m = np.mod(pos, 2 * n)
        return np.where(m < n, m, 2 * n - 1 - m)
    return np.where((pos >= 0) & (pos < n), pos, -1)


def correlate2d_f64(in1: Any, in2: Any, mode: str = "full", boundary: str = "fill", fillvalue: float = 0,
                    convolve: bool = False) -> np.ndarray:
    """``scipy.signal.correlate2d`` (or ``convolve2d``) in float64.

    The full correlation of the boundary-extended ``in1`` is cut down to the
    mode's window; 'same' is centred on it, rounding the centre down for
    convolution and up for correlation (as SciPy), and 'valid' swaps the
    inputs when ``in2`` is the larger one (flipping a correlation's result).
    """
    a, b = np.asarray(in1, np.float64), np.asarray(in2, np.float64)
    swapped = mode == "valid" and any(p < q for p, q in zip(a.shape, b.shape))
    if swapped:
        a, b = b, a
    kernel = b[::-1, ::-1] if convolve else b
    rows, cols = (_boundary_index(np.arange(-(k - 1), n + k - 1), n, boundary) for n, k in zip(a.shape, b.shape))
    extended = a[np.clip(rows, 0, None)[:, None], np.clip(cols, 0, None)[None, :]]
    extended[(rows[:, None] < 0) | (cols[None, :] < 0)] = fillvalue
    full = np.einsum("ijkl,kl->ij", np.lib.stride_tricks.sliding_window_view(extended, b.shape), kernel)
    window = []
    for n, k in zip(a.shape, b.shape):
        if mode == "full":
            window.append(slice(None))
        elif mode == "valid":
            window.append(slice(k - 1, n))
        else:
            start = (k - 1) // 2 if convolve else k // 2
            window.append(slice(start, start + n))
    out = full[tuple(window)]
    return out[::-1, ::-1] if swapped and not convolve else out


def _pair_dtype(in1: Any, in2: Any) -> np.dtype:
    """float32 when both inputs are, else float64 (as SciPy for float input)."""
    both32 = _input_dtype(in1) == np.float32 and _input_dtype(in2) == np.float32
    return np.dtype(np.float32 if both32 else np.float64)


def correlate2d(in1, in2, mode="full", boundary="fill", fillvalue=0):
    return correlate2d_f64(in1, in2, mode, boundary, fillvalue, convolve=False).astype(_pair_dtype(in1, in2))


def convolve2d(in1, in2, mode="full", boundary="fill", fillvalue=0):
    return correlate2d_f64(in1, in2, mode, boundary, fillvalue, convolve=True).astype(_pair_dtype(in1, in2))


# ------------------------------------------------------------- initialization

def fans(shape: Sequence[int]) -> tuple[int, int]:
    """(fan_in, fan_out) as torch.nn.init: ``C_in * receptive``, ``C_out * receptive``."""
    shape = tuple(int(s) for s in shape)
    if len(shape) < 2:
        raise ValueError("Fan in and fan out can not be computed for tensor with fewer than 2 dimensions")
    receptive = math.prod(shape[2:])
    return shape[1] * receptive, shape[0] * receptive


def calculate_gain(nonlinearity: str, param: Optional[float] = None) -> float:
    """torch.nn.init.calculate_gain: 5/3 for tanh, sqrt(2) for ReLU,
    sqrt(2/(1+a^2)) for leaky ReLU (a=0.01 by default), 3/4 for SELU."""
    if nonlinearity in ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
                        "conv_transpose3d", "sigmoid"):
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            slope = 0.01
        elif isinstance(param, (int, float)) and not isinstance(param, bool):
            slope = param
        else:
            raise ValueError(f"negative_slope {param} not a valid number")
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"Unsupported nonlinearity {nonlinearity}")


def xavier_std(shape: Sequence[int], gain: float = 1.0) -> float:
    """Glorot & Bengio (2010): ``gain * sqrt(2 / (fan_in + fan_out))``."""
    fan_in, fan_out = fans(shape)
    return gain * math.sqrt(2.0 / (fan_in + fan_out))


def kaiming_std(shape: Sequence[int], a: float = 0, mode: str = "fan_in", nonlinearity: str = "leaky_relu") -> float:
    """He et al. (2015): ``gain / sqrt(fan)``, fan = fan_in or fan_out by ``mode``."""
    fan_in, fan_out = fans(shape)
    fan = {"fan_in": fan_in, "fan_out": fan_out}[mode]
    return calculate_gain(nonlinearity, a) / math.sqrt(fan)


def init_scale(fill: str, shape: Sequence[int], **params: Any) -> float:
    """The std (``*_normal``) or bound (``*_uniform``, ``sqrt(3) * std``) of a scaled fill."""
    family, _, kind = fill.partition("_")
    std = xavier_std(shape, **params) if family == "xavier" else kaiming_std(shape, **params)
    return math.sqrt(3.0) * std if kind == "uniform" else std


def _numpy_rng(seed: Any, generator: Any) -> np.random.Generator:
    if isinstance(generator, np.random.Generator):
        return generator
    if isinstance(generator, Generator):
        return generator.next_fill_rng()
    return np.random.default_rng(seed)


def _fill_function(name: str, draw: Callable[..., np.ndarray]) -> tuple[Callable, Callable]:
    """The allocating fill ``name(shape, *params, seed=, generator=, dtype=, flat_range=)``
    and its in-place ``name_(array, *params, seed=, generator=)``, from
    ``draw(rng, shape, *params)`` returning float64 values."""
    params = list(inspect.signature(draw).parameters.values())[2:]
    keyword = [inspect.Parameter(k, inspect.Parameter.KEYWORD_ONLY, default=v) for k, v in
               (("seed", None), ("generator", None), ("dtype", "float32"), ("flat_range", None), ("threads", None))]

    @functools.wraps(draw)
    def allocate(shape, *args, seed=None, generator=None, dtype="float32", flat_range=None, threads=None, **kwargs):
        values = draw(_numpy_rng(seed, generator), tuple(int(s) for s in shape), *args, **kwargs)
        out = np.asarray(values, np.float64).astype(dtype)
        return out.ravel()[slice(*flat_range)].copy() if flat_range is not None else out

    def in_place(array, *args, seed=None, generator=None, **kwargs):
        array[...] = allocate(array.shape, *args, seed=seed, generator=generator, dtype=array.dtype, **kwargs)
        return array

    allocate.__name__ = allocate.__qualname__ = name
    allocate.__signature__ = inspect.Signature(
        [inspect.Parameter("shape", inspect.Parameter.POSITIONAL_OR_KEYWORD)] + params + keyword)
    in_place.__name__ = in_place.__qualname__ = name + "_"
    in_place.__signature__ = inspect.Signature(
        [inspect.Parameter("array", inspect.Parameter.POSITIONAL_OR_KEYWORD)] + params + keyword[:2])
    return allocate, in_place


def _uniform(rng, shape, a=0.0, b=1.0):
    return rng.uniform(a, b, shape)


def _normal(rng, shape, mean=0.0, std=1.0):
    return rng.normal(mean, std, shape)


def _trunc_normal(rng, shape, mean=0.0, std=1.0, a=-2.0, b=2.0):
    """Exact by rejection (a reference needs no speed); a, b are absolute bounds as in torch."""
    size = math.prod(shape)
    kept = np.empty(0)
    while kept.size < size:
        draws = rng.normal(mean, std, max(2 * (size - kept.size), 1024))
        kept = np.concatenate([kept, draws[(draws >= a) & (draws <= b)]])
    return kept[:size].reshape(shape)


def _constant(rng, shape, val=0.0):
    return np.full(shape, float(val))


def _zeros(rng, shape):
    return np.zeros(shape)


def _ones(rng, shape):
    return np.ones(shape)


def _eye(rng, shape):
    if len(shape) != 2:
        raise ValueError("Only tensors with 2 dimensions are supported")
    return np.eye(*shape)


def _dirac(rng, shape, groups=1):
    """torch.nn.init.dirac_: identity kernels, one per output channel of each group."""
    if len(shape) not in (3, 4, 5):
        raise ValueError("Only tensors with 3, 4, or 5 dimensions are supported")
    out = np.zeros(shape)
    per_group = shape[0] // groups
    centre = tuple(k // 2 for k in shape[2:])
    for g in range(groups):
        for d in range(min(per_group, shape[1])):
            out[(g * per_group + d, d) + centre] = 1.0
    return out


def _xavier_uniform(rng, shape, gain=1.0):
    bound = init_scale("xavier_uniform", shape, gain=gain)
    return rng.uniform(-bound, bound, shape)


def _xavier_normal(rng, shape, gain=1.0):
    return rng.normal(0.0, xavier_std(shape, gain), shape)


def _kaiming_uniform(rng, shape, a=0, mode="fan_in", nonlinearity="leaky_relu"):
    bound = init_scale("kaiming_uniform", shape, a=a, mode=mode, nonlinearity=nonlinearity)
    return rng.uniform(-bound, bound, shape)


def _kaiming_normal(rng, shape, a=0, mode="fan_in", nonlinearity="leaky_relu"):
    return rng.normal(0.0, kaiming_std(shape, a, mode, nonlinearity), shape)


def _orthogonal(rng, shape, gain=1.0):
    """Saxe et al. (2014), as torch: QR of a Gaussian matrix, signs fixed by diag(R)."""
    if len(shape) < 2:
        raise ValueError("Only tensors with 2 or more dimensions are supported")
    rows = shape[0]
    cols = math.prod(shape) // rows
    flat = rng.standard_normal((rows, cols))
    if rows < cols:
        flat = flat.T
    q, r = np.linalg.qr(flat)
    q = q * np.sign(np.diag(r))
    if rows < cols:
        q = q.T
    return gain * q.reshape(shape)


def _sparse(rng, shape, sparsity, std=0.01):
    """Martens (2010), as torch: N(0, std) with ceil(sparsity * rows) zeros per column."""
    if len(shape) != 2:
        raise ValueError("Only tensors with 2 dimensions are supported")
    rows, cols = shape
    out = rng.normal(0.0, std, shape)
    zeros = math.ceil(sparsity * rows)
    for col in range(cols):
        out[rng.permutation(rows)[:zeros], col] = 0.0
    return out


uniform, uniform_ = _fill_function("uniform", _uniform)
normal, normal_ = _fill_function("normal", _normal)
trunc_normal, trunc_normal_ = _fill_function("trunc_normal", _trunc_normal)
constant, constant_ = _fill_function("constant", _constant)
zeros, zeros_ = _fill_function("zeros", _zeros)
ones, ones_ = _fill_function("ones", _ones)
eye, eye_ = _fill_function("eye", _eye)
dirac, dirac_ = _fill_function("dirac", _dirac)
xavier_uniform, xavier_uniform_ = _fill_function("xavier_uniform", _xavier_uniform)
xavier_normal, xavier_normal_ = _fill_function("xavier_normal", _xavier_normal)
kaiming_uniform, kaiming_uniform_ = _fill_function("kaiming_uniform", _kaiming_uniform)
kaiming_normal, kaiming_normal_ = _fill_function("kaiming_normal", _kaiming_normal)
orthogonal, orthogonal_ = _fill_function("orthogonal", _orthogonal)
sparse, sparse_ = _fill_function("sparse", _sparse)


# ------------------------------------------------------------ random numbers

_MASK = np.uint64(0xFFFFFFFF)
_PHILOX_M = (np.uint64(0xD2511F53), np.uint64(0xCD9E8D57))
_PHILOX_W = (np.uint64(0x9E3779B9), np.uint64(0xBB67AE85))


def philox4x32(counters: np.ndarray, key: Sequence[int], rounds: int = 10) -> np.ndarray:
    """Philox4x32-R on a ``(blocks, 4)`` array of counter words: ``(blocks, 4)`` uint32.

    Each round: two 32x32->64 multiplies, ``(hi1^c1^k0, lo1, hi0^c3^k1, lo0)``;
    the key is bumped by the Weyl constants before every round but the first
    (Random123's philox.h).
    """
    c = [np.asarray(counters, np.uint64)[..., i] & _MASK for i in range(4)]
    k0, k1 = np.uint64(int(key[0]) & 0xFFFFFFFF), np.uint64(int(key[1]) & 0xFFFFFFFF)
    for r in range(rounds):
        if r:
            k0, k1 = (k0 + _PHILOX_W[0]) & _MASK, (k1 + _PHILOX_W[1]) & _MASK
        p0, p1 = _PHILOX_M[0] * c[0], _PHILOX_M[1] * c[2]
        c = [(p1 >> np.uint64(32)) ^ c[1] ^ k0, p1 & _MASK, (p0 >> np.uint64(32)) ^ c[3] ^ k1, p0 & _MASK]
    return np.stack(c, axis=-1).astype(np.uint32)


def philox4x32_10(counter: Sequence[int], key: Sequence[int]) -> np.ndarray:
    """The four output words of one Philox4x32-10 block."""
    return philox4x32(np.asarray([[int(w) for w in counter]], np.uint64), key)[0]


def philox_words(seed: int, stream: int, start: int, count: int, rounds: int = 10) -> np.ndarray:
    """Words ``start .. start+count`` of a stream: block ``i`` has counter
    ``(i lo, i hi, stream lo, stream hi)`` and key ``(seed lo, seed hi)``."""
    first, last = start // 4, (start + count + 3) // 4
    blocks = np.arange(first, last, dtype=np.uint64)
    counters = np.stack([blocks & _MASK, blocks >> np.uint64(32),
                         np.full_like(blocks, stream & 0xFFFFFFFF), np.full_like(blocks, stream >> 32)], axis=-1)
    words = philox4x32(counters, (seed & 0xFFFFFFFF, seed >> 32), rounds).ravel()
    return words[start - 4 * first:start - 4 * first + count]


class Generator:
    """Philox4x32-10 stream ``(seed, stream)``; ``random_raw`` gives words in counter order."""

    def __init__(self, seed: int, stream: int = 0):
        self.seed, self.stream = int(seed), int(stream)
        self._position = 0
        self._fills = 0

    def random_raw(self, n: int) -> np.ndarray:
        words = philox_words(self.seed, self.stream, self._position, int(n))
        self._position += int(n)
        return words

    @property
    def state(self) -> dict:
        return {"seed": self.seed, "stream": self.stream, "position": self._position, "fills": self._fills}

    @classmethod
    def from_state(cls, state: dict) -> "Generator":
        g = cls(state["seed"], state["stream"])
        g._position, g._fills = state["position"], state["fills"]
        return g

    def next_fill_rng(self) -> np.random.Generator:
        """A fresh NumPy generator per fill, so fills from one Generator never repeat."""
        self._fills += 1
        return np.random.default_rng([self.seed, self.stream, self._fills])

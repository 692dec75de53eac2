"""Counter-based random numbers: Philox4x32-10 (Salmon et al., SC'11).

A :class:`Generator` is a 64-bit seed (the Philox key: seed low and high
32 bits) and a stream counter. Block ``b`` of stream ``s`` is Philox applied
to the counter ``(b low, b high, s low, s high)``. Every draw takes the
generator's current stream and moves it on, so draws never overlap and a new
``Generator(seed)`` replays them in order; ``seed=s`` elsewhere in convinit
means the first draw of ``Generator(s)``, i.e. stream 0.
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass
from typing import Any, Optional, Sequence

import numpy as np

from . import _core
from ._args import (
    UINT32_END,
    UINT64_END,
    ShapeLike,
    as_int,
    dtype_arg,
    flat_range_arg,
    float_param,
    int_sequence,
    one_of,
    region_arg,
    seed_arg,
    shape_arg,
    stream_arg,
    threads_arg,
    unsigned_word,
)
from ._arrays import check_allocation
from ._dtypes import core_view, from_bits, numpy_dtype

__all__ = ["Generator", "philox4x32_10", "manual_seed", "default_generator"]

ALGORITHM = "philox4x32_10"


def philox4x32_10(counter: Sequence[int], key: Sequence[int]) -> tuple[int, int, int, int]:
    """The four 32-bit output words of one Philox4x32-10 block."""
    words = [unsigned_word(c, "counter", UINT32_END) for c in int_sequence(counter, "counter")]
    keys = [unsigned_word(k, "key", UINT32_END) for k in int_sequence(key, "key")]
    if len(words) != 4 or len(keys) != 2:
        raise ValueError(f"counter, key: expected 4 and 2 words, got {len(words)} and {len(keys)}")
    return _core.philox4x32_10(words, keys)


def _numel(shape: tuple[int, ...]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


@dataclass(frozen=True)
class Draw:
    """One draw's coordinates: the values come from stream ``stream`` of ``seed``."""

    seed: int
    stream: int


class Generator:
    """Philox4x32-10 with a 64-bit seed; each draw uses the next stream.

    Thread safety: a Generator may be shared between threads. Taking a
    stream is atomic, so concurrent draws always get distinct streams (never
    the same one twice, never a torn state) and the generator ends up where
    the same number of sequential draws leaves it. Which thread gets which
    stream follows the order in which the calls reach the generator, so the
    results of N concurrent draws are a permutation of those of N
    sequential draws. For a fixed assignment, give each thread its own
    Generator (or ``Generator(seed, stream=k)``).
    """

    def __init__(self, seed: Any, stream: Any = 0) -> None:
        self._seed = seed_arg(seed)
        self._stream = stream_arg(stream)
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, int]:
        with self._lock:
            return {"seed": self._seed, "stream": self._stream}

    def __setstate__(self, state: dict[str, int]) -> None:
        self.__init__(state["seed"], state["stream"])  # type: ignore[misc]

    @property
    def seed(self) -> int:
        return self._seed

    @property
    def stream(self) -> int:
        """The stream the next draw will use."""
        return self._stream

    @property
    def state(self) -> dict[str, Any]:
        return {"algorithm": ALGORITHM, "seed": self._seed, "stream": self._stream}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> "Generator":
        if not isinstance(state, dict) or state.get("algorithm") != ALGORITHM:
            raise ValueError(f"state: expected a dict from Generator.state with algorithm {ALGORITHM!r}")
        missing = [key for key in ("seed", "stream") if key not in state]
        if missing:
            raise ValueError(f"state: missing {', '.join(missing)}, got keys {list(state)}")
        return cls(state["seed"], state["stream"])

    def __repr__(self) -> str:
        return f"convinit.Generator(seed={self._seed}, stream={self._stream})"

    def take_draw(self) -> Draw:
        """The coordinates of the next draw; advances to the next stream."""
        with self._lock:
            if self._stream >= UINT64_END:
                raise OverflowError("this Generator has used all 2**64 streams")
            draw = Draw(self._seed, self._stream)
            self._stream += 1
        return draw

    def random_raw(self, n: Any, *, threads: Optional[int] = None) -> np.ndarray:
        """The first ``n`` uint32 words of the next stream, in counter order."""
        count = as_int(n, "n")
        if count < 0:
            raise ValueError(f"n: must be non-negative, got {count}")
        check_allocation((count,), np.dtype(np.uint32), "n: random_raw")
        draw = self.take_draw()
        return _core.random_raw(draw.seed, draw.stream, 0, count, threads_arg(threads))

    def uniform(self, low: float = 0.0, high: float = 1.0, size: Optional[ShapeLike] = None, dtype: Any = "float32",
                *, flat_range: Any = None, threads: Optional[int] = None) -> Any:
        """Values in [low, high)."""
        return self._sample("uniform", (low, high), size, dtype, flat_range, threads)

    def normal(self, mean: float = 0.0, std: float = 1.0, size: Optional[ShapeLike] = None, dtype: Any = "float32",
               *, flat_range: Any = None, threads: Optional[int] = None) -> Any:
        """N(mean, std**2) by Box–Muller."""
        return self._sample("normal", (mean, std), size, dtype, flat_range, threads)

    def trunc_normal(self, mean: float = 0.0, std: float = 1.0, a: float = -2.0, b: float = 2.0,
                     size: Optional[ShapeLike] = None, dtype: Any = "float32", *, flat_range: Any = None,
                     threads: Optional[int] = None) -> Any:
        """N(mean, std**2) restricted to [a, b] (absolute bounds), by inverse CDF."""
        return self._sample("trunc_normal", (mean, std, a, b), size, dtype, flat_range, threads)

    def _sample(self, kind: str, params: tuple, size: Optional[ShapeLike], dtype: Any, flat_range: Any,
                threads: Optional[int]) -> Any:
        shape = () if size is None else shape_arg(size, "size")
        values = sample(kind, params, shape, dtype_arg(dtype), self.take_draw(), flat_range, threads, "size")
        return values[()] if size is None and flat_range is None else values


_PARAM_NAMES = {"uniform": ("a", "b"), "normal": ("mean", "std"), "trunc_normal": ("mean", "std", "a", "b")}


def block_of(shape: tuple[int, ...], flat_range: Any, region: Any) -> tuple[list[int], list[tuple[int, int]], tuple[int, ...]]:
    """The logical shape the core indexes, its (start, stop) per axis, and the
    shape of the result, for a whole fill, a ``flat_range`` or a ``region``."""
    if flat_range is not None and region is not None:
        raise ValueError("flat_range, region: give at most one of them")
    if region is not None:
        ranges = region_arg(region, shape)
        return list(shape), ranges, tuple(stop - start for start, stop in ranges)
    numel = _numel(shape)
    if flat_range is not None:
        start, stop = flat_range_arg(flat_range, numel)
        return [numel], [(start, stop)], (stop - start,)
    return list(shape), [(0, d) for d in shape], shape


def sample(kind: str, params: tuple, shape: tuple[int, ...], dtype: str, draw: Draw, flat_range: Any = None,
           threads: Optional[int] = None, name: str = "shape", region: Any = None) -> np.ndarray:
    """Values of ``kind(*params)`` for a tensor of ``shape``: the whole of it
    (C order), ``full.ravel()[start:stop]`` for ``flat_range``, or exactly
    ``full[region]`` for ``region``, computing nothing else."""
    one_of(kind, tuple(_PARAM_NAMES), "distribution")
    values = [float_param(v, n) for v, n in zip(params, _PARAM_NAMES[kind])]
    numel = _numel(shape)
    if numel >= UINT64_END:
        raise OverflowError(f"{name}: {shape} has {numel} elements, more than a stream indexes (2**64)")
    logical, ranges, out_shape = block_of(shape, flat_range, region)
    check_allocation(out_shape, numpy_dtype(dtype), f"{name}: a {kind} fill")
    flat = _core.fill_region(kind, values, dtype, draw.seed, draw.stream, logical, ranges, threads_arg(threads))
    return from_bits(flat, dtype).reshape(out_shape)


def fill_into(array: np.ndarray, kind: str, params: tuple, draw: Draw, shape: Optional[tuple[int, ...]] = None,
              region: Any = None, dtype: Optional[str] = None) -> None:
    """Writes the fill of ``array.shape`` (or the block ``region`` of the fill
    of ``shape``) into a C-contiguous writable array of ``dtype`` (default:
    the array's; uint16 bit patterns for the 16-bit formats)."""
    values = [float_param(v, n) for v, n in zip(params, _PARAM_NAMES[kind])]
    shape = tuple(array.shape) if shape is None else shape
    logical, ranges, _ = block_of(shape, None, region)
    _core.fill_region_into(core_view(array), kind, values, dtype or array.dtype.name, draw.seed, draw.stream,
                           logical, ranges, 0)


_default: Optional[Generator] = None
_default_lock = threading.Lock()


def default_generator() -> Generator:
    """The generator used when neither ``seed`` nor ``generator`` is given:
    seeded from the operating system's entropy unless :func:`manual_seed`
    was called."""
    global _default
    with _default_lock:
        if _default is None:
            _default = Generator(secrets.randbits(64))
        return _default


def manual_seed(seed: Any) -> Generator:
    """Makes the default generator ``Generator(seed)`` and returns it."""
    global _default
    generator = Generator(seed)
    with _default_lock:
        _default = generator
    return generator


def resolve_draw(seed: Any = None, generator: Optional[Generator] = None) -> Draw:
    """The draw for ``seed=`` (stream 0 of ``Generator(seed)``) or ``generator=``."""
    if seed is not None and generator is not None:
        raise ValueError("seed, generator: give at most one of them")
    if seed is not None:
        return Draw(seed_arg(seed), 0)
    if generator is None:
        generator = default_generator()
    if not isinstance(generator, Generator):
        raise TypeError(f"generator: expected a convinit.Generator, got {type(generator).__name__}")
    return generator.take_draw()

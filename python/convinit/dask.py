"""``convinit.dask``: initializers as lazy Dask arrays whose values never
depend on the chunking (needs the ``dask`` extra).

``convinit.dask.normal((50_000, 50_000), std=0.02, chunks=(4096, 4096), seed=0)``
is a ``dask.array.Array`` whose every block is a region fill
(:func:`convinit.init.normal` with ``region=``): block ``[i0:i1, j0:j1]`` is
computed alone, on any worker, and equals ``full[i0:i1, j0:j1]`` of the
in-memory ``convinit.init.normal(shape, std=0.02, seed=0)``. Rechunking,
another worker count or a restarted computation give the same bits, unlike
``dask.array.random``, which seeds every block separately.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

import dask.array as da
from dask.base import tokenize
from dask.highlevelgraph import HighLevelGraph

from . import init
from ._dtypes import numpy_dtype
from .random import Generator, dtype_arg, resolve_draw, shape_arg

__all__ = [
    "uniform", "normal", "trunc_normal",
    "xavier_uniform", "xavier_normal", "kaiming_uniform", "kaiming_normal",
    "zeros", "ones", "constant",
]  # fmt: skip


def _block(name: str, shape: tuple, args: tuple, kwargs: dict, draw: Optional[tuple], dtype: str,
           region: tuple) -> Any:
    """One block: the region fill of ``convinit.init.<name>``."""
    fill = getattr(init, name)
    rng = {} if draw is None else {"generator": Generator(*draw)}
    return fill(shape, *args, **kwargs, **rng, dtype=dtype, region=region)


def _starts(sizes: tuple[int, ...]) -> list[int]:
    offsets = [0]
    for size in sizes:
        offsets.append(offsets[-1] + size)
    return offsets


def _lazy(name: str, random: bool) -> Callable[..., da.Array]:
    fill = getattr(init, name)

    def lazy(shape: Any, *args: Any, chunks: Any = "auto", seed: Any = None, generator: Optional[Generator] = None,
             dtype: Any = "float32", **kwargs: Any) -> da.Array:
        dims, dtype = shape_arg(shape), dtype_arg(dtype)
        rng = {"seed": seed, "generator": generator} if random else {}
        if not random and (seed is not None or generator is not None):
            raise TypeError(f"{name}(): got an unexpected keyword argument 'seed' or 'generator'")
        # Checks every argument (and computes nothing) before building a graph.
        fill(dims, *args, **kwargs, dtype=dtype, region=tuple((0, 0) for _ in dims))
        draw = None
        if random:
            taken = resolve_draw(**rng)
            draw = (taken.seed, taken.stream)
        np_dtype = numpy_dtype(dtype)
        normalized = da.core.normalize_chunks(chunks, dims, dtype=np_dtype)
        token = f"convinit-{name}-" + tokenize(name, dims, args, kwargs, draw, dtype, normalized)
        offsets = [_starts(sizes) for sizes in normalized]
        graph: dict[Any, Any] = {}
        for index in _block_indices(normalized):
            region = tuple((offsets[a][i], offsets[a][i + 1]) for a, i in enumerate(index))
            graph[(token, *index)] = (_block, name, dims, args, kwargs, draw, dtype, region)
        layer = HighLevelGraph.from_collections(token, graph, dependencies=[])
        return da.Array(layer, token, normalized, dtype=np_dtype)

    lazy.__name__ = lazy.__qualname__ = name
    lazy.__doc__ = (f"A lazy ``dask.array.Array`` equal to ``convinit.init.{name}(shape, ...)``, "
                    f"block by block, for any ``chunks``.\n\n{_what(fill)}")
    return lazy


def _what(fill: Callable[..., Any]) -> str:
    return (fill.__doc__ or "").split(": ", 1)[-1]


def _block_indices(chunks: tuple[tuple[int, ...], ...]) -> list[tuple[int, ...]]:
    indices: list[tuple[int, ...]] = [()]
    for sizes in chunks:
        indices = [index + (i,) for index in indices for i in range(len(sizes))]
    return indices


uniform = _lazy("uniform", random=True)
normal = _lazy("normal", random=True)
trunc_normal = _lazy("trunc_normal", random=True)
xavier_uniform = _lazy("xavier_uniform", random=True)
xavier_normal = _lazy("xavier_normal", random=True)
kaiming_uniform = _lazy("kaiming_uniform", random=True)
kaiming_normal = _lazy("kaiming_normal", random=True)
zeros = _lazy("zeros", random=False)
ones = _lazy("ones", random=False)
constant = _lazy("constant", random=False)

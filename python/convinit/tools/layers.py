"""Named convolution layers of real networks, shared by ``convinit bench
--suite``, the asv benchmarks' copy of them and the tests.

Each network's list is derived by walking its architecture (as torchvision,
fairseq or the paper build it) and keeping the first layer of every distinct
shape, named by its module path in that network:

- ``readme``: the six layers of the README's speed tables.
- ``resnet18``: every distinct conv of torchvision's ResNet-18 on a 224x224
  input, at batch 1 and 16.
- ``mobilenet_v2``: every distinct depthwise and pointwise conv of
  torchvision's MobileNetV2 (width 1.0, 224x224), at batch 1 and 8.
- ``more``: the grouped 3x3 convs of ResNeXt-50 32x4d (batch 8), the 1-D
  feature encoder of wav2vec 2.0 on one second of 16 kHz audio (batch 1),
  and the 3-D convs of torchvision's R3D-18 on 16 frames of 112x112 (batch 1).
- ``all``: resnet18 + mobilenet_v2 + more.
"""

from __future__ import annotations

from typing import Iterator, NamedTuple


class ConvLayer(NamedTuple):
    """One convolution: batch, input channels, spatial input size, output
    channels, and per spatial axis kernel, stride and padding."""

    batch: int
    channels: int
    size: tuple[int, ...]
    out_channels: int
    kernel: tuple[int, ...]
    stride: tuple[int, ...]
    padding: tuple[int, ...]
    groups: int = 1

    @property
    def dims(self) -> int:
        return len(self.size)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return (self.batch, self.channels, *self.size)

    @property
    def weight_shape(self) -> tuple[int, ...]:
        return (self.out_channels, self.channels // self.groups, *self.kernel)

    @property
    def out_size(self) -> tuple[int, ...]:
        return tuple((n + 2 * p - k) // s + 1 for n, k, s, p in zip(self.size, self.kernel, self.stride, self.padding))

    @property
    def label(self) -> str:
        """``N,C,H,W -> O, k,s,p`` (axes joined by 'x' when they differ; ``gG`` for groups)."""
        axis = lambda v: str(v[0]) if len(set(v)) == 1 else "x".join(map(str, v))
        groups = f" g{self.groups}" if self.groups > 1 else ""
        return (f"{self.batch},{self.channels},{','.join(map(str, self.size))} -> {self.out_channels}, "
                f"{axis(self.kernel)},{axis(self.stride)},{axis(self.padding)}{groups}")

    def flops(self) -> float:
        """Multiply-adds of one forward pass, counted as two FLOPs each."""
        taps = self.channels // self.groups
        for k in self.kernel:
            taps *= k
        outputs = self.batch * self.out_channels
        for n in self.out_size:
            outputs *= n
        return 2.0 * outputs * taps


def conv(batch: int, channels: int, size: tuple[int, ...], out_channels: int, kernel, stride=1, padding=0,
         groups: int = 1) -> ConvLayer:
    """A layer with int kernel, stride and padding broadcast over the spatial axes of ``size``."""
    per_axis = lambda v: (v,) * len(size) if isinstance(v, int) else tuple(v)
    return ConvLayer(batch, channels, size, out_channels, per_axis(kernel), per_axis(stride), per_axis(padding),
                     groups)


def _distinct(named: Iterator[tuple[str, ConvLayer]]) -> dict[str, ConvLayer]:
    """The first name of every distinct layer shape, in network order."""
    seen: dict[ConvLayer, str] = {}
    for name, layer in named:
        seen.setdefault(layer, name)
    return {name: layer for layer, name in seen.items()}


def _at_batches(layers: dict[str, ConvLayer], batches: tuple[int, ...]) -> dict[str, ConvLayer]:
    return {f"{name} b{n}": layer._replace(batch=n) for n in batches for name, layer in layers.items()}


def _out(size: int, kernel: int, stride: int, padding: int) -> int:
    return (size + 2 * padding - kernel) // stride + 1


def resnet18_convs(size: int = 224) -> Iterator[tuple[str, ConvLayer]]:
    """torchvision's ResNet-18: a 7x7/2 stem, a 3x3/2 max pool, then four
    stages of two BasicBlocks (3x3, 3x3, and a 1x1/2 downsample where the
    stage halves the size)."""
    yield "conv1", conv(1, 3, (size, size), 64, 7, 2, 3)
    h = _out(_out(size, 7, 2, 3), 3, 2, 1)
    inplanes = 64
    for stage, planes in enumerate((64, 128, 256, 512), start=1):
        for block in range(2):
            stride = 2 if stage > 1 and block == 0 else 1
            yield f"layer{stage}.{block}.conv1", conv(1, inplanes, (h, h), planes, 3, stride, 1)
            if stride != 1 or inplanes != planes:
                yield f"layer{stage}.{block}.downsample.0", conv(1, inplanes, (h, h), planes, 1, stride, 0)
            h = _out(h, 3, stride, 1)
            yield f"layer{stage}.{block}.conv2", conv(1, planes, (h, h), planes, 3, 1, 1)
            inplanes = planes


# MobileNetV2's inverted residual settings (Sandler et al. 2018, Table 2):
# expansion t, output channels c, repeats n, first stride s.
MOBILENET_V2_BLOCKS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
                       (6, 320, 1, 1))


def mobilenet_v2_convs(size: int = 224) -> Iterator[tuple[str, ConvLayer]]:
    """torchvision's MobileNetV2 without its 3x3 stem: per inverted residual
    block a 1x1 expansion (absent when t = 1), a 3x3 depthwise conv and a 1x1
    projection; then the final 1x1 conv to 1280 channels."""
    h, channels, index = _out(size, 3, 2, 1), 32, 1
    for t, c, n, s in MOBILENET_V2_BLOCKS:
        for repeat in range(n):
            stride = s if repeat == 0 else 1
            hidden, part = channels * t, 0
            if t != 1:
                yield f"features.{index}.conv.0.0 (expand)", conv(1, channels, (h, h), hidden, 1)
                part = 1
            yield f"features.{index}.conv.{part}.0 (depthwise)", conv(1, hidden, (h, h), hidden, 3, stride, 1, hidden)
            h = _out(h, 3, stride, 1)
            yield f"features.{index}.conv.{part + 1} (project)", conv(1, hidden, (h, h), c, 1)
            channels, index = c, index + 1
    yield f"features.{index}.0", conv(1, channels, (h, h), 1280, 1)


def resnext50_grouped_convs(size: int = 224) -> Iterator[tuple[str, ConvLayer]]:
    """torchvision's ResNeXt-50 32x4d: the grouped 3x3 conv (32 groups,
    width planes * 4/64 * 32) of every Bottleneck; the stage's first block
    carries the stride."""
    h = _out(_out(size, 7, 2, 3), 3, 2, 1)
    for stage, (planes, blocks) in enumerate(((64, 3), (128, 4), (256, 6), (512, 3)), start=1):
        width = planes * 4 // 64 * 32
        for block in range(blocks):
            stride = 2 if stage > 1 and block == 0 else 1
            yield f"layer{stage}.{block}.conv2", conv(1, width, (h, h), width, 3, stride, 1, 32)
            h = _out(h, 3, stride, 1)


# wav2vec 2.0's feature encoder (Baevski et al. 2020): (channels, kernel, stride) per layer.
WAV2VEC2_ENCODER = ((512, 10, 5), (512, 3, 2), (512, 3, 2), (512, 3, 2), (512, 3, 2), (512, 2, 2), (512, 2, 2))


def wav2vec2_feature_convs(samples: int = 16000) -> Iterator[tuple[str, ConvLayer]]:
    """The seven unpadded conv1d layers of wav2vec 2.0's feature encoder."""
    length, channels = samples, 1
    for index, (out_channels, kernel, stride) in enumerate(WAV2VEC2_ENCODER):
        yield f"feature_extractor.conv_layers.{index}", conv(1, channels, (length,), out_channels, kernel, stride)
        length, channels = _out(length, kernel, stride, 0), out_channels


def r3d_18_convs(frames: int = 16, size: int = 112) -> Iterator[tuple[str, ConvLayer]]:
    """torchvision's R3D-18 (Tran et al. 2018): a (3,7,7)/(1,2,2) stem, then
    ResNet-18's stages with 3x3x3 convs, halving time and space at stages
    2-4 (with a 1x1x1/2 downsample)."""
    yield "stem.0", conv(1, 3, (frames, size, size), 64, (3, 7, 7), (1, 2, 2), (1, 3, 3))
    shape: tuple[int, ...] = (frames, _out(size, 7, 2, 3), _out(size, 7, 2, 3))
    inplanes = 64
    for stage, planes in enumerate((64, 128, 256, 512), start=1):
        for block in range(2):
            stride = 2 if stage > 1 and block == 0 else 1
            yield f"layer{stage}.{block}.conv1.0", conv(1, inplanes, shape, planes, 3, stride, 1)
            if stride != 1 or inplanes != planes:
                yield f"layer{stage}.{block}.downsample.0", conv(1, inplanes, shape, planes, 1, stride, 0)
            shape = tuple(_out(n, 3, stride, 1) for n in shape)
            yield f"layer{stage}.{block}.conv2.0", conv(1, planes, shape, planes, 3, 1, 1)
            inplanes = planes


# EfficientNet-B0's MBConv stages (Tan & Le 2019, Table 1): expansion t,
# depthwise kernel k, first stride s, output channels c, repeats n.
EFFICIENTNET_B0_STAGES = ((1, 3, 1, 16, 1), (6, 3, 2, 24, 2), (6, 5, 2, 40, 2), (6, 3, 2, 80, 3), (6, 5, 1, 112, 3),
                          (6, 5, 2, 192, 4), (6, 3, 1, 320, 1))


def efficientnet_b0_depthwise_convs(size: int = 224) -> Iterator[tuple[str, ConvLayer]]:
    """The depthwise conv (3x3 or 5x5, padding k // 2) of every MBConv block
    of torchvision's EfficientNet-B0, after its 32-channel 3x3/2 stem; the
    stage's first block carries the stride."""
    h, channels = _out(size, 3, 2, 1), 32
    for stage, (t, k, s, c, n) in enumerate(EFFICIENTNET_B0_STAGES, start=1):
        for block in range(n):
            stride, hidden = (s if block == 0 else 1), channels * t
            part = 0 if t == 1 else 1  # block.0 is the 1x1 expansion where there is one
            yield f"features.{stage}.{block}.block.{part}.0", conv(1, hidden, (h, h), hidden, k, stride, k // 2, hidden)
            h, channels = _out(h, k, stride, k // 2), c


# ConvNeXt-T (Liu et al. 2022): per stage its width and number of blocks.
CONVNEXT_TINY_STAGES = ((96, 3), (192, 3), (384, 9), (768, 3))


def convnext_tiny_depthwise_convs(size: int = 224) -> Iterator[tuple[str, ConvLayer]]:
    """The 7x7 depthwise conv (padding 3) of every block of torchvision's
    ConvNeXt-T: a 4x4/4 stem, then four stages with a 2x2/2 downsampling
    layer between them (torchvision's features.0, 1, 2, ...: stem, stage,
    downsampling, stage, ...)."""
    h = size // 4
    for stage, (width, blocks) in enumerate(CONVNEXT_TINY_STAGES):
        for block in range(blocks):
            yield f"features.{2 * stage + 1}.{block}.block.0", conv(1, width, (h, h), width, 7, 1, 3, width)
        h //= 2


def _prefixed(prefix: str, layers: dict[str, ConvLayer]) -> dict[str, ConvLayer]:
    return {f"{prefix} {name}": layer for name, layer in layers.items()}


README_SUITE = {
    "mnist-conv1": conv(64, 1, (28, 28), 32, 3, 1, 1),
    "mnist-conv2": conv(64, 32, (14, 14), 64, 3, 1, 1),
    "resnet-56x56": conv(8, 64, (56, 56), 64, 3, 1, 1),
    "resnet-14x14": conv(8, 256, (14, 14), 256, 3, 1, 1),
    "pointwise-s2": conv(8, 128, (28, 28), 256, 1, 2, 0),
    "stem-7x7": conv(4, 3, (112, 112), 64, 7, 2, 3),
}

SUITES: dict[str, dict[str, ConvLayer]] = {
    "readme": README_SUITE,
    "resnet18": _at_batches(_distinct(resnet18_convs()), (1, 16)),
    "mobilenet_v2": _at_batches(_distinct(mobilenet_v2_convs()), (1, 8)),
    "more": {
        **_prefixed("resnext50_32x4d", _at_batches(_distinct(resnext50_grouped_convs()), (8,))),
        **_prefixed("wav2vec2", _at_batches(_distinct(wav2vec2_feature_convs()), (1,))),
        **_prefixed("r3d_18", _at_batches(_distinct(r3d_18_convs()), (1,))),
    },
    # Wide depthwise kernels (5x5, 7x7) beside 3x3, stride 1 and 2: outside
    # `all`, whose layers the performance targets are stated over.
    "depthwise": {
        **_prefixed("efficientnet_b0", _at_batches(_distinct(efficientnet_b0_depthwise_convs()), (1, 8))),
        **_prefixed("convnext_tiny", _at_batches(_distinct(convnext_tiny_depthwise_convs()), (1, 8))),
    },
}

# Suites made of other suites.
SUITE_GROUPS = {"all": ("resnet18", "mobilenet_v2", "more")}
SUITE_NAMES = (*SUITES, *SUITE_GROUPS)


def suite_layers(name: str) -> dict[str, dict[str, ConvLayer]]:
    """{suite: {layer name: layer}} for a suite or a group of suites."""
    if name in SUITE_GROUPS:
        return {part: SUITES[part] for part in SUITE_GROUPS[name]}
    if name not in SUITES:
        raise ValueError(f"suite: expected one of {', '.join(SUITE_NAMES)}, got {name!r}")
    return {name: SUITES[name]}


def as_json() -> str:
    """Every suite as JSON, one layer a line: {suite: {layer name: {field:
    value}}}. asv's benchmarks read this copy (asv_bench/benchmarks/layers.json):
    they may import only convinit's public API."""
    import json

    def block(items: dict, indent: str, inner) -> str:
        lines = [f'{indent} {json.dumps(key)}: {inner(value)}' for key, value in items.items()]
        return "{\n" + ",\n".join(lines) + f"\n{indent}}}"

    layer_line = lambda layer: json.dumps(layer._asdict())
    return block(SUITES, "", lambda layers: block(layers, " ", layer_line)) + "\n"


if __name__ == "__main__":  # python -m convinit.tools.layers > asv_bench/benchmarks/layers.json
    print(as_json(), end="")

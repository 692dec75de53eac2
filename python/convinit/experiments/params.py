"""``convinit experiment params``: per-layer output shapes and parameter
counts of a layer spec, by the text's formula, checked against PyTorch.

A spec is a dict (or JSON file)::

    {"input": [C, H, W],
     "layers": [{"type": "conv2d", "out_channels": 32, "kernel_size": 3, "padding": 1},
                {"type": "batchnorm2d"}, {"type": "relu"},
                {"type": "maxpool2d", "kernel_size": 2},
                {"type": "dropout2d"}, {"type": "flatten"},
                {"type": "linear", "out_features": 10}]}

Layer types: conv2d (out_channels, kernel_size, stride=1, padding=0,
dilation=1, groups=1, bias=true), linear (out_features, bias=true),
batchnorm2d, batchnorm1d, maxpool2d/avgpool2d (kernel_size, stride=kernel_size,
padding=0), adaptiveavgpool2d (output_size), flatten, and the parameter-free
relu, tanh, sigmoid, dropout, dropout2d. Input channels and features are
inferred. Tensors are named like PyTorch's ``nn.Sequential`` in the text:
``net.{type}_{index:02d}.{weight|bias}``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Union

from ..conv import conv_output_size

Shape = tuple[int, ...]
PARAMETER_FREE = {"relu", "tanh", "sigmoid", "dropout", "dropout2d"}


@dataclass
class Tensor:
    name: str
    shape: Shape

    @property
    def count(self) -> int:
        return math.prod(self.shape)


@dataclass
class Layer:
    name: str
    type: str
    output_shape: Shape
    tensors: list[Tensor] = field(default_factory=list)

    @property
    def count(self) -> int:
        return sum(t.count for t in self.tensors)


@dataclass
class Report:
    model: str
    input_shape: Shape
    layers: list[Layer]

    @property
    def tensors(self) -> list[Tensor]:
        return [t for layer in self.layers for t in layer.tensors]

    @property
    def total(self) -> int:
        return sum(t.count for t in self.tensors)

    def to_json(self) -> dict:
        return {
            "model": self.model,
            "input_shape": list(self.input_shape),
            "total": self.total,
            "tensors": [{"name": t.name, "shape": list(t.shape), "count": t.count} for t in self.tensors],
            "layers": [{"name": l.name, "type": l.type, "output_shape": list(l.output_shape), "count": l.count}
                       for l in self.layers],
        }


def text_cnn_spec(xdim=(1, 28, 28), ksize=3, cdims=(32, 64), hdims=(32,), ydim=10, batchnorm=False) -> dict:
    """Text 003's ConvolutionalNeuralNetworkClass: [conv-(BN)-ReLU-maxpool-dropout] * len(cdims),
    then dense layers; 'same' padding ksize//2."""
    layers: list[dict] = []
    for cdim in cdims:
        layers.append({"type": "conv2d", "out_channels": cdim, "kernel_size": ksize, "padding": ksize // 2})
        if batchnorm:
            layers.append({"type": "batchnorm2d"})
        layers += [{"type": "relu"}, {"type": "maxpool2d", "kernel_size": 2}, {"type": "dropout2d"}]
    layers.append({"type": "flatten"})
    for hdim in hdims:
        layers += [{"type": "linear", "out_features": hdim}, {"type": "relu"}]
    layers.append({"type": "linear", "out_features": ydim})
    return {"name": "text-003-cnn" + ("-bn" if batchnorm else ""), "input": list(xdim), "layers": layers}


def alexnet_spec() -> dict:
    """torchvision's AlexNet layout (features, 6x6 adaptive pool, classifier)."""
    conv = lambda o, k, s=1, p=0: {"type": "conv2d", "out_channels": o, "kernel_size": k, "stride": s, "padding": p}
    pool = {"type": "maxpool2d", "kernel_size": 3, "stride": 2}
    relu, drop = {"type": "relu"}, {"type": "dropout"}
    linear = lambda o: {"type": "linear", "out_features": o}
    layers = [conv(64, 11, 4, 2), relu, pool, conv(192, 5, p=2), relu, pool, conv(384, 3, p=1), relu,
              conv(256, 3, p=1), relu, conv(256, 3, p=1), relu, pool,
              {"type": "adaptiveavgpool2d", "output_size": 6}, {"type": "flatten"},
              drop, linear(4096), relu, drop, linear(4096), relu, linear(1000)]
    return {"name": "alexnet", "input": [3, 224, 224], "layers": layers}


MODELS = {"cnn": text_cnn_spec, "alexnet": alexnet_spec}


def load_spec(model: str, batchnorm: bool = False) -> dict:
    """A built-in model by name (``cnn``, ``alexnet``) or a JSON spec file."""
    if model == "cnn":
        return text_cnn_spec(batchnorm=batchnorm)
    if model in MODELS:
        return MODELS[model]()
    path = Path(model)
    if not path.is_file():
        raise ValueError(f"model: expected one of {', '.join(MODELS)} or a JSON spec file, got {model!r}")
    try:
        spec = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"model: {path} is not valid JSON ({exc})") from None
    spec.setdefault("name", path.stem)
    return spec


def _pair(value: Any) -> tuple[int, int]:
    return tuple(value) if isinstance(value, (list, tuple)) else (int(value), int(value))


def _layer(kind: str, args: dict, shape: Shape, prefix: str, output_size: Callable) -> tuple[Shape, list[Tensor]]:
    """Output shape and parameter tensors of one layer given its input shape;
    ``output_size`` is the window formula (``conv_output_size``)."""
    if kind in PARAMETER_FREE:
        return shape, []
    if kind == "flatten":
        return (math.prod(shape),), []
    if kind in ("batchnorm2d", "batchnorm1d"):
        return shape, [Tensor(f"{prefix}.weight", (shape[0],)), Tensor(f"{prefix}.bias", (shape[0],))]
    if kind == "linear":
        if len(shape) != 1:
            raise ValueError(f"{prefix}: linear needs a flat input, got shape {shape} (add a flatten layer)")
        out = int(args["out_features"])
        tensors = [Tensor(f"{prefix}.weight", (out, shape[0]))]
        if args.get("bias", True):
            tensors.append(Tensor(f"{prefix}.bias", (out,)))
        return (out,), tensors
    if kind == "conv2d":
        c, h, w = shape
        out, k = int(args["out_channels"]), _pair(args["kernel_size"])
        groups = int(args.get("groups", 1))
        if c % groups or out % groups:
            raise ValueError(f"{prefix}: channels {c} -> {out} are not divisible by groups={groups}")
        hw = output_size((h, w), k, args.get("stride", 1), args.get("padding", 0), args.get("dilation", 1))
        tensors = [Tensor(f"{prefix}.weight", (out, c // groups, *k))]
        if args.get("bias", True):
            tensors.append(Tensor(f"{prefix}.bias", (out,)))
        return (out, *hw), tensors
    if kind in ("maxpool2d", "avgpool2d"):
        c, h, w = shape
        k = _pair(args["kernel_size"])
        stride = args.get("stride", k)
        return (c, *output_size((h, w), k, stride, args.get("padding", 0), args.get("dilation", 1))), []
    if kind == "adaptiveavgpool2d":
        return (shape[0], *_pair(args["output_size"])), []
    raise ValueError(f"{prefix}: unknown layer type {kind!r}")


def analyze(spec: dict, output_size: Callable = conv_output_size) -> Report:
    """Per-layer output shapes (the text's floor((H+2P-D(K-1)-1)/S)+1) and tensors."""
    shape: Shape = tuple(int(v) for v in spec["input"])
    layers = []
    for index, args in enumerate(spec["layers"]):
        kind = str(args["type"]).lower()
        name = f"net.{kind}_{index:02d}"
        shape, tensors = _layer(kind, args, shape, name, output_size)
        layers.append(Layer(name, kind, shape, tensors))
    return Report(spec.get("name", "model"), tuple(int(v) for v in spec["input"]), layers)


def to_torch(spec: dict):
    """The same network as a ``torch.nn.Module`` whose parameters are named as ``analyze`` names them."""
    from torch import nn

    report = analyze(spec)
    inputs = [report.input_shape] + [layer.output_shape for layer in report.layers]
    net = nn.Sequential()
    for args, layer, shape in zip(spec["layers"], report.layers, inputs):
        net.add_module(layer.name.removeprefix("net."), _torch_layer(nn, layer.type, args, shape))
    model = nn.Module()
    model.net = net
    return model


def _torch_layer(nn, kind: str, args: dict, shape: Shape):
    simple = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "dropout": nn.Dropout,
              "dropout2d": nn.Dropout2d, "flatten": nn.Flatten}
    if kind in simple:
        return simple[kind]()
    if kind == "batchnorm2d":
        return nn.BatchNorm2d(shape[0])
    if kind == "batchnorm1d":
        return nn.BatchNorm1d(shape[0])
    if kind == "linear":
        return nn.Linear(shape[0], args["out_features"], bias=args.get("bias", True))
    if kind == "conv2d":
        return nn.Conv2d(shape[0], args["out_channels"], args["kernel_size"], stride=args.get("stride", 1),
                         padding=args.get("padding", 0), dilation=args.get("dilation", 1),
                         groups=args.get("groups", 1), bias=args.get("bias", True))
    if kind == "maxpool2d":
        return nn.MaxPool2d(args["kernel_size"], args.get("stride"), args.get("padding", 0), args.get("dilation", 1))
    if kind == "avgpool2d":
        return nn.AvgPool2d(args["kernel_size"], args.get("stride"), args.get("padding", 0))
    if kind == "adaptiveavgpool2d":
        return nn.AdaptiveAvgPool2d(args["output_size"])
    raise ValueError(f"unknown layer type {kind!r}")


def compare_with_torch(spec: dict, output_size: Callable = conv_output_size) -> list[tuple[str, Any, Any]]:
    """(what, convinit's value, torch's value) for the total, every tensor
    shape and every layer's output shape."""
    import torch

    report = analyze(spec, output_size)
    model = to_torch(spec)
    rows: list[tuple[str, Any, Any]] = [("total parameters", report.total, sum(p.numel() for p in model.parameters()))]
    torch_shapes = {name: tuple(p.shape) for name, p in model.named_parameters()}
    for tensor in report.tensors:
        rows.append((f"shape of {tensor.name}", tensor.shape, torch_shapes.get(tensor.name)))
    extra = set(torch_shapes) - {t.name for t in report.tensors}
    rows += [(f"shape of {name}", None, torch_shapes[name]) for name in sorted(extra)]
    x = torch.zeros(1, *spec["input"])
    model.eval()
    with torch.no_grad():
        for layer, module in zip(report.layers, model.net):
            x = module(x)
            rows.append((f"output of {layer.name}", layer.output_shape, tuple(x.shape[1:])))
    return rows


def render(report: Report) -> str:
    lines = [f"{report.model}: input {report.input_shape}", f"{'layer':<24}{'output shape':<22}{'parameters':>14}"]
    for layer in report.layers:
        lines.append(f"{layer.name:<24}{str(layer.output_shape):<22}{layer.count:>14,}")
    lines.append("")
    lines.append(f"{'tensor':<28}{'shape':<22}{'count':>12}")
    for t in report.tensors:
        lines.append(f"{t.name:<28}{str(t.shape):<22}{t.count:>12,}")
    lines.append(f"Total number of parameters: {report.total:,}")
    return "\n".join(lines)


def run(model: str = "cnn", batchnorm: bool = False, json_path: Union[str, None] = None) -> Report:
    report = analyze(load_spec(model, batchnorm))
    print(render(report))
    if json_path:
        Path(json_path).write_text(json.dumps(report.to_json(), indent=2))
    return report

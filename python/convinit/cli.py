"""The ``convinit`` command line."""

from __future__ import annotations

import argparse
import sys
from typing import Optional, Sequence

from . import __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="convinit", description=__doc__)
    parser.add_argument("--version", action="version", version=f"convinit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo = sub.add_parser("demo", help="run conv2d on the source text's example and against torch")
    demo.add_argument("--seed", type=int, default=0)
    experiment = sub.add_parser("experiment", help="reproduce an experiment of the source texts")
    experiments = experiment.add_subparsers(dest="experiment", metavar="NAME", required=True)
    params = experiments.add_parser("params", help="per-layer output shapes and parameter counts")
    params.add_argument("--model", default="cnn",
                        help="cnn (text 003's CNN, the default), alexnet, or a JSON layer spec file")
    params.add_argument("--batchnorm", action="store_true", help="add BatchNorm2d after each conv of the cnn")
    params.add_argument("--json", metavar="PATH", help="also write the report as JSON")
    variance = experiments.add_parser("variance", help="variance of activations through a deep net (text 000)")
    variance.add_argument("--activation", default="relu", choices=["relu", "tanh", "sigmoid"])
    variance.add_argument("--bias", action="store_true", help="add a bias drawn from N(0, 2/layers)")
    variance.add_argument("--init", default="he", choices=["he", "xavier", "normal", "torch"])
    variance.add_argument("--std", type=float, default=1.0, help="the std of --init normal")
    variance.add_argument("--mode", default="fan_in", choices=["fan_in", "fan_out"])
    variance.add_argument("--fixed-weights", action="store_true", help="one network instead of re-drawn weights")
    variance.add_argument("--layers", type=int, default=10)
    variance.add_argument("--widths", type=int, nargs=2, default=[5, 10], metavar=("A", "B"))
    variance.add_argument("--trials", type=int, default=100_000)
    variance.add_argument("--backward", action="store_true", help="also push gradients back (text 004)")
    variance.add_argument("--cnn", action="store_true", help="a deep CNN on convinit.conv2d instead")
    variance.add_argument("--seed", type=int, default=0)
    variance.add_argument("--json", metavar="PATH")
    variance.add_argument("--plot", metavar="PATH", help="write a PNG of the per-layer variances")
    train = experiments.add_parser("train", help="test accuracy after training, per initialization")
    train.add_argument("--init", nargs="+", default=None, metavar="SCHEME",
                       help="schemes to compare (default: zeros normal xavier_uniform kaiming_normal torch)")
    train.add_argument("--model", default="mlp", choices=["mlp", "cnn"])
    train.add_argument("--data-dir", metavar="PATH", help="a folder with MNIST IDX files (default: sklearn digits)")
    train.add_argument("--epochs", type=int, default=20)
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--json", metavar="PATH", help="write test accuracies and learning curves as JSON")
    train.add_argument("--plot", metavar="PATH", help="write the learning curves as a PNG")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "demo":
        from .demo import run_demo

        return run_demo(seed=args.seed)
    if args.command == "experiment":
        return run_experiment(parser, args)
    parser.print_help()
    return 0


def run_experiment(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    if args.experiment == "params":
        from .experiments import params

        try:
            params.run(args.model, args.batchnorm, args.json)
        except (ValueError, KeyError) as exc:
            parser.error(str(exc))
    if args.experiment == "variance":
        from .experiments import variance

        cfg = variance.Config(layers=args.layers, widths=tuple(args.widths), trials=args.trials,
                              activation=args.activation, bias=args.bias, init=args.init, std=args.std,
                              mode=args.mode, fixed_weights=args.fixed_weights, backward=args.backward,
                              seed=args.seed)
        try:
            variance.run(cfg, args.cnn, args.json, args.plot)
        except ValueError as exc:
            parser.error(str(exc))
    if args.experiment == "train":
        from .experiments import train

        schemes = args.init or list(train.SCHEMES)
        unknown = [s for s in schemes if s not in train.SCHEMES]
        if unknown or args.epochs < 1:
            parser.error(f"--init: unknown scheme(s) {unknown}" if unknown else "--epochs: must be positive")
        try:
            train.run(schemes, args.model, args.data_dir, args.epochs, args.seed, args.json, args.plot)
        except ValueError as exc:
            parser.error(str(exc))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

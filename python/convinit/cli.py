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
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

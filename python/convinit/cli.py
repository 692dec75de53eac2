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
    add_verify_parser(sub)
    return parser


def _seed(text: str) -> int:
    value = int(text)
    if not 0 <= value < 2 ** 63:
        raise argparse.ArgumentTypeError(f"expected an integer in [0, 2^63), got {text}")
    return value


def add_verify_parser(sub: argparse._SubParsersAction) -> None:
    verify = sub.add_parser(
        "verify",
        help="check a backend's convolution, initialization and RNG against references and statistics",
        description="Check a backend against torch, SciPy, a float64 NumPy reference, published known answers "
                    "and distribution tests (family-wise false-alarm rate <= 1e-6 per run). Suites: conv, init, "
                    "rng; none named means every suite the backend has functions for. The last line is "
                    "'N passed, M failed'; exit status 0 when all pass, 1 when any fails, 2 for usage errors.",
    )
    verify.add_argument("suites", nargs="*", metavar="SUITE", help="suites to run (default: all that apply)")
    verify.add_argument("--backend", default="convinit", metavar="NAME|module:attr",
                        help="convinit (default), torch, numpy, scipy, or module:attr exposing convinit's "
                             "function names and signatures")
    size = verify.add_mutually_exclusive_group()
    size.add_argument("--quick", dest="mode", action="store_const", const="quick",
                      help="small grids and samples (under 2 minutes)")
    size.add_argument("--full", dest="mode", action="store_const", const="full", help="large grids and samples")
    verify.set_defaults(mode=None, usage_error=verify.error)
    verify.add_argument("--seed", type=_seed, default=0, help="seed for test data and fills (default 0)")
    verify.add_argument("--json", metavar="PATH", help="write every check's record as JSON")
    verify.add_argument("--html", metavar="PATH", help="write a self-contained HTML report with plots")
    verify.add_argument("--self-test", action="store_true",
                        help="run against a catalog of broken implementations; fail unless every one is caught "
                             "and the correct backend passes (quick-sized unless --full)")


def run_verify(args: argparse.Namespace) -> int:
    from .verify import BackendError, Options, UsageError

    options = Options(args.backend, args.suites, args.mode or ("quick" if args.self_test else "standard"),
                      args.seed, args.json, args.html)
    try:
        if args.self_test:
            from .verify.selftest import run as run_self_test

            return run_self_test(options)
        from .verify.runner import run

        return run(options)
    except (BackendError, UsageError) as exc:
        args.usage_error(str(exc))  # exits with status 2
        raise  # pragma: no cover


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "demo":
        from .demo import run_demo

        return run_demo(seed=args.seed)
    if args.command == "verify":
        return run_verify(args)
    parser.print_help()
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

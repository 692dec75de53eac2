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
    add_bench_parser(sub)
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
    add_verify_parser(sub)
    return parser


def add_bench_parser(sub: argparse._SubParsersAction) -> None:
    from .tools.layers import SUITE_NAMES

    bench = sub.add_parser(
        "bench", help="time convinit side by side with torch and numpy",
        description="Time convinit against torch (each library in its own block after a 0.3 s pause, warm-up, "
                    "median of repeats, in --rounds alternating rounds; both on --threads threads). 'conv' times --suite's layers (readme by "
                    "default), 'init' the fills, 'all' both; --suite alone means conv.")
    bench.add_argument("what", nargs="?", default=None, choices=["conv", "init", "all", "threads"],
                       help="threads: speed-up of 8 Python threads over one on single-threaded conv2d calls")
    bench.add_argument("--suite", choices=SUITE_NAMES, default=None,
                       help="conv layers: readme (the README's six), resnet18 (batch 1, 16), mobilenet_v2 "
                            "(depthwise and pointwise, batch 1, 8), more (ResNeXt grouped, wav2vec 2.0 conv1d, "
                            "R3D-18 conv3d), depthwise (EfficientNet-B0's 3x3 and 5x5, ConvNeXt-T's 7x7; batch 1, 8), "
                            "all (resnet18 + mobilenet_v2 + more)")
    bench.add_argument("--list", action="store_true", help="print the suite's layers and exit")
    bench.add_argument("--algorithm", default="auto", help="convinit's algorithm= (when this build has it)")
    bench.add_argument("--vs", default="torch,numpy", help="comma-separated: torch,numpy,scipy (torch is always timed; scipy is slow)")
    bench.add_argument("--threads", type=int, default=2)
    bench.add_argument("--repeats", type=int, default=None,
                       help="samples per block (default 5; threads and --regions: repeats, default 11)")
    bench.add_argument("--rounds", type=int, default=3,
                       help="blocks per library, alternating with the other libraries' (default 3): each "
                            "time is the median of its rounds, so a burst of other work on a shared machine "
                            "spoils one round, not the ratio")
    bench.add_argument("--dtype", default="float32", choices=["float32", "float64"], help="for conv")
    bench.add_argument("--backward", action="store_true",
                       help="conv: forward + input and weight gradients (torch: autograd)")
    bench.add_argument("--size", type=int, default=16 * 2**20, help="init: values per fill")
    bench.add_argument("--regions", action="store_true",
                       help="init: region fills (rows of 256, 512, 1024 of a wider tensor) vs a contiguous fill of "
                            "as many values, one thread, CPU time (float32 and float64)")
    bench.add_argument("--distributed", action="store_true",
                       help="init: a >= 1B-parameter Llama-like bfloat16 model on 4 local processes (gloo, FSDP2), "
                            "convinit.init_module vs torch's meta-device path, time and per-rank peak memory; then "
                            "a >= 8 GiB Dask tensor to Zarr on a LocalCluster (see convinit.tools.bench_distributed; "
                            "minutes, ~10 GB of RAM and disk)")
    bench.add_argument("--markdown", action="store_true")
    bench.add_argument("--json", metavar="PATH")
    bench.add_argument("--plot", metavar="PATH", help="bar chart of the speed-ups over torch (PNG)")


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
    verify.add_argument("-k", dest="select", metavar="TEXT",
                        help="run only the checks whose name contains TEXT (Bonferroni over those)")
    verify.add_argument("-v", "--verbose", action="store_true",
                        help="print every check's row (default: one line per suite, failures in full)")
    verify.add_argument("--json", metavar="PATH", help="write every check's record as JSON")
    verify.add_argument("--html", metavar="PATH", help="write a self-contained HTML report with plots")
    verify.add_argument("--self-test", action="store_true",
                        help="run against a catalog of broken implementations; fail unless every one is caught "
                             "and the correct backend passes (quick-sized unless --full)")


def run_verify(args: argparse.Namespace) -> int:
    from .verify import BackendError, Options, UsageError

    options = Options(args.backend, args.suites, args.mode or ("quick" if args.self_test else "standard"),
                      args.seed, args.json, args.html, args.verbose, args.select)
    try:
        if args.self_test:
            from .verify.selftest import run as run_self_test

            return run_self_test(options)
        from .verify.runner import run

        return run(options)
    except (BackendError, UsageError) as exc:
        args.usage_error(str(exc))  # exits with status 2
        raise  # pragma: no cover


# 128 + SIGINT, the status shells report for a command stopped by Ctrl-C.
INTERRUPTED = 130


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Runs a command; Ctrl-C stops it with one line on stderr and status 130."""
    try:
        return run_command(argv)
    except KeyboardInterrupt:
        print("\nconvinit: interrupted", file=sys.stderr, flush=True)
        return INTERRUPTED


def run_command(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "demo":
        from .tools.demo import run_demo

        return run_demo(seed=args.seed)
    if args.command == "bench":
        return run_bench(parser, args)
    if args.command == "experiment":
        return run_experiment(parser, args)
    if args.command == "verify":
        return run_verify(args)
    parser.print_help()
    return 0


def run_bench(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    from .tools import bench

    if args.repeats is None:
        args.repeats = 11 if args.what == "threads" or args.regions else 5
    if args.what == "threads":
        from .tools import bench_threads

        print(bench_threads.render(bench_threads.speedup(repeats=args.repeats)))
        return 0
    if args.suite and args.what == "init":
        parser.error("--suite: picks conv layers, not fills")
    if (args.regions or args.distributed) and args.what != "init":
        parser.error("--regions, --distributed: options of 'convinit bench init'")
    if args.regions:
        from .tools import bench_regions

        rows = bench_regions.run(rounds=args.repeats, progress=lambda msg: print(f"  timing {msg} ...", file=sys.stderr))
        print(bench_regions.render(rows, args.markdown))
        return 0
    if args.distributed:
        from .tools import bench_distributed

        return bench_distributed.main(markdown=args.markdown)
    suite = args.suite or "readme"
    if args.list:
        print(list_layers(suite))
        return 0
    what = args.what or ("conv" if args.suite else "all")
    vs = [v for v in args.vs.split(",") if v]
    unknown = [v for v in vs if v not in bench.BACKENDS]
    if unknown or min(args.threads, args.repeats, args.rounds, args.size) < 1:
        parser.error(f"--vs: unknown backend(s) {unknown}" if unknown
                     else "--threads, --repeats, --rounds and --size must be positive")
    suites = ("conv", "init") if what == "all" else (what,)
    try:
        bench.check_algorithm(args.algorithm)
    except ValueError as exc:
        parser.error(str(exc))
    report = bench.run(suites, vs, args.threads, args.repeats, args.dtype, args.backward, args.size,
                       progress=lambda msg: print(f"  timing {msg} ...", file=sys.stderr, flush=True),
                       suite=suite, algorithm=args.algorithm, rounds=args.rounds)
    if not report["rows"]:
        print("convinit bench: no case could be timed (see the skipped lines above)", file=sys.stderr)
        return 1
    print(bench.render(report, args.markdown))
    print(bench.summary(report))
    if args.json:
        bench.write_json(report, args.json)
    if args.plot:
        bench.plot(report, args.plot)
    return 0


def list_layers(suite: str) -> str:
    from .tools.layers import suite_layers

    lines = []
    for part, layers in suite_layers(suite).items():
        lines += [f"{part}: {name}  ({layer.label}; {layer.flops() / 1e9:.3f} GFLOP)" for name, layer in layers.items()]
    return "\n".join(lines)


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

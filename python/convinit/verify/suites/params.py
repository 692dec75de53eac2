"""params: parameter counts, tensor shapes and per-layer output shapes of
text 003's CNN (with and without batch norm) and AlexNet, computed by
`experiment params` with the backend's ``conv_output_size``, against the same
nets built in torch and the published totals."""

from __future__ import annotations

from ...experiments import params
from ..context import Budget, Context
from ..records import Check, Task, equal_check
from . import register

# Published totals: text 003's printout and torchvision's AlexNet.
KNOWN_TOTALS = {"text-003-cnn": 119_530, "alexnet": 61_100_840}


def model_task(spec: dict) -> Task:
    name = spec["name"]

    def run(ctx: Context) -> list[Check]:
        output_size = ctx.backend.get("conv_output_size")
        rows = params.compare_with_torch(spec, output_size)
        wrong = [f"{what}: {mine} != {theirs}" for what, mine, theirs in rows if mine != theirs]
        checks = [equal_check(f"{name}: {len(rows)} counts and shapes", "the same net in torch.nn", len(wrong),
                              "; ".join(wrong[:3]), metric="differences")]
        if name in KNOWN_TOTALS:
            total = params.analyze(spec, output_size).total
            checks.append(equal_check(f"{name}: total {KNOWN_TOTALS[name]:,}", "published count",
                                      int(total != KNOWN_TOTALS[name]), f"counted {total:,}", metric="differs"))
        return checks

    return Task("params", name, ("conv_output_size",), run)


@register("params", "parameter counts and output shapes vs torch modules (text 003)")
def plan(budget: Budget, seed: int) -> list[Task]:
    return [model_task(params.text_cnn_spec()), model_task(params.text_cnn_spec(batchnorm=True)),
            model_task(params.alexnet_spec())]

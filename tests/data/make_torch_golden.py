"""Records tests/data/torch_golden.json from PyTorch: for every case of
tests/torchgen_cases.py, torch.nn.init's values (SHA-256 of their bytes in C
order, and the first four as hex floats) and the generator state after the
call (SHA-256). Run with the pinned torch: python tests/data/make_torch_golden.py"""

import json
import pathlib
import sys
import warnings

import torch

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
from torchgen_cases import case_id, cases, digest, empty  # noqa: E402


def record(case):
    dtype = getattr(torch, case["dtype"])
    generator = torch.Generator().manual_seed(case["seed"])
    target = empty(case, lambda shape: torch.empty(shape, dtype=dtype))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        getattr(torch.nn.init, case["fill"])(target, *case["args"], **case["kwargs"], generator=generator)
    values = target.contiguous().numpy()
    return {
        "id": case_id(case),
        "values_sha256": digest(values),
        "head": [float(v).hex() for v in values.ravel()[:4]],
        "state_sha256": digest(generator.get_state().numpy()),
    }


def main():
    out = {"torch_version": torch.__version__.split("+")[0], "cpu_capability": torch.backends.cpu.get_cpu_capability(),
           "cases": [record(case) for case in cases()]}
    path = pathlib.Path(__file__).with_name("torch_golden.json")
    path.write_text(json.dumps(out, indent=0) + "\n")
    print(f"{len(out['cases'])} cases -> {path}")


if __name__ == "__main__":
    main()

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
from torchgen_cases import MODEL_SEEDS, case_id, cases, digest, empty  # noqa: E402
from torch import nn  # noqa: E402


class ConvLstmEmbedding(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)
        self.norm = nn.BatchNorm2d(8)
        self.embed = nn.Embedding(100, 16, padding_idx=0)
        self.lstm = nn.LSTM(16, 12)


MODEL_BUILDERS = {
    "mlp": lambda: nn.Sequential(nn.Linear(20, 64), nn.ReLU(), nn.Linear(64, 10)),
    "conv_lstm_embedding": ConvLstmEmbedding,
    "attention": lambda: nn.MultiheadAttention(16, 4),
}


def record_model(name, seed):
    torch.manual_seed(seed)
    model = MODEL_BUILDERS[name]()
    return {
        "id": f"{name}-seed{seed}",
        "values_sha256": {n: digest(p.detach().numpy()) for n, p in model.named_parameters()},
        "state_sha256": digest(torch.get_rng_state().numpy()),
    }


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
           "cases": [record(case) for case in cases()],
           "models": [record_model(name, seed) for name in MODEL_BUILDERS for seed in MODEL_SEEDS]}
    path = pathlib.Path(__file__).with_name("torch_golden.json")
    path.write_text(json.dumps(out, indent=0) + "\n")
    print(f"{len(out['cases'])} cases -> {path}")


if __name__ == "__main__":
    main()

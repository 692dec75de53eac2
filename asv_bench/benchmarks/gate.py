"""The regression gate's benchmarks: the `readme` layers on ONE thread,
timed in CPU time (asv's `timer = time.process_time`).

On a shared machine, wall time of multi-threaded calls is mostly a
measure of the other processes: a descheduled worker stalls its peers at
every barrier, OpenMP's and rayon's idle workers spin, and the same commit
measured twice moved by up to 7x here (README, asv section). The CPU time of
a single-threaded call counts only this process's own work, so it stays
put while the load changes, and a kernel that does 15% more work takes 15%
more of it. `asv continuous -b gate ...` runs these only.
"""

import time

from .common import SUITES, block_seconds, forward_call, gradient_call, layer_names, pin_threads

LAYERS = layer_names("readme")
BACKENDS = ["convinit", "torch"]


class GateTimes:
    params = (LAYERS, BACKENDS)
    param_names = ["layer", "backend"]
    timer = time.process_time
    rounds = 2
    repeat = (5, 10, 5.0)
    sample_time = 0.02
    warmup_time = 0.3
    timeout = 600

    def setup(self, layer, backend):
        pin_threads(1)
        spec = SUITES["readme"][layer]
        self.forward = forward_call(spec, backend, threads=1)
        self.grad_input = gradient_call(spec, backend, "input", threads=1)
        self.grad_weight = gradient_call(spec, backend, "weight", threads=1)

    def time_forward(self, layer, backend):
        self.forward()

    def time_grad_input(self, layer, backend):
        self.grad_input()

    def time_grad_weight(self, layer, backend):
        self.grad_weight()


class GateRatios:
    """convinit CPU time / torch CPU time, one process, one thread each,
    each library in its own block (lower is better)."""

    params = (LAYERS,)
    param_names = ["layer"]
    rounds = 2
    timeout = 600

    def setup(self, layer):
        pin_threads(1)
        self.layer = SUITES["readme"][layer]

    def _vs_torch(self, make_call, *args) -> float:
        ours = block_seconds(make_call(self.layer, "convinit", *args, threads=1), time.process_time)
        return ours / block_seconds(make_call(self.layer, "torch", *args, threads=1), time.process_time)

    def track_forward_vs_torch(self, layer):
        return self._vs_torch(forward_call)

    track_forward_vs_torch.unit = "convinit CPU time / torch CPU time"

    def track_grad_input_vs_torch(self, layer):
        return self._vs_torch(gradient_call, "input")

    track_grad_input_vs_torch.unit = "convinit CPU time / torch CPU time"

    def track_grad_weight_vs_torch(self, layer):
        return self._vs_torch(gradient_call, "weight")

    track_grad_weight_vs_torch.unit = "convinit CPU time / torch CPU time"

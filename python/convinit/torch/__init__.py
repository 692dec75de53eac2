"""``convinit.torch``: everything in convinit that needs PyTorch.

* ``Conv2d``, a drop-in ``torch.nn.Conv2d`` computing with convinit's
  kernels, and ``conv2d_function``, the differentiable functional form;
* ``init_module``, which initializes every Conv/Linear/BatchNorm/RNN layer of
  a module with convinit's seeded fills.

The layering is one-way: this package builds on ``convinit.init`` and
``convinit.conv``; nothing outside it imports torch at import time.
"""

from .autograd import Conv2d, conv2d_function
from .module_init import init_module

__all__ = ["Conv2d", "conv2d_function", "init_module"]

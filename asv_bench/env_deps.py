"""Run by asv in its benchmark environment before each build: installs
maturin (to build the wheel) and the benchmarks' dependencies, once.

- CONVINIT_ASV_SITE_PACKAGES=/path/to/site-packages: reuse numpy, scipy and
  torch from an existing environment through a .pth file (no download, no
  extra disk; the env's own packages, convinit's wheel included, come first).
- otherwise: pip installs them, torch from PyTorch's CPU-only index (about
  0.2 GB of wheel instead of the 5+ GB of the default CUDA build).
"""

import importlib.util
import os
import subprocess
import sys
import sysconfig
from pathlib import Path


def pip(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", *args], check=True)


def main() -> None:
    if importlib.util.find_spec("maturin") is None:
        pip("maturin>=1.7,<2")
    base = os.environ.get("CONVINIT_ASV_SITE_PACKAGES")
    if base:
        Path(sysconfig.get_paths()["purelib"], "convinit_asv_base.pth").write_text(base + "\n")
        return
    if importlib.util.find_spec("torch") is None:
        pip("torch", "--index-url", "https://download.pytorch.org/whl/cpu")
    if importlib.util.find_spec("scipy") is None:
        pip("numpy", "scipy")


if __name__ == "__main__":
    main()

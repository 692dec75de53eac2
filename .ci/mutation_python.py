"""cosmic-ray over python/convinit/init.py (``.ci/mutation python``).

Copies the package (with its built extension) and the tests to OUT/tree, where
cosmic-ray may rewrite init.py, makes a session of every mutant, runs a
seeded random sample of them (the rest are marked skipped) with the killer
below, and writes OUT/summary.json: counts, the score and each survivor's diff.

    python .ci/mutation_python.py OUT [FRACTION]
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SEED = 20261130
# The relevant unit tests first (fast to fail), then the harness's init and rng suites at --quick size.
KILLER = ("python -m pytest -x -q -p no:cacheprovider tests/test_init.py"
          " && python -m convinit.cli verify init rng --quick")
CONFIG = """[cosmic-ray]
module-path = "python/convinit/init.py"
timeout = 600.0
excluded-modules = []
test-command = "{killer}"

[cosmic-ray.distributor]
name = "local"
"""


def copy_tree(tree: Path) -> None:
    shutil.rmtree(tree, ignore_errors=True)
    shutil.copytree(ROOT / "python", tree / "python", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "tests", tree / "tests", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tree / "pyproject.toml")


def sample(session: Path, fraction: float) -> int:
    """Mark all but a seeded random ``fraction`` of the mutants skipped; returns how many run."""
    from cosmic_ray.work_db import use_db
    from cosmic_ray.work_item import WorkerOutcome, WorkResult

    with use_db(str(session)) as db:
        jobs = sorted(item.job_id for item in db.pending_work_items)
        keep = set(random.Random(SEED).sample(jobs, round(len(jobs) * fraction)))
        db.set_multiple_results([job for job in jobs if job not in keep],
                                WorkResult(worker_outcome=WorkerOutcome.SKIPPED))
    return len(keep)


def summarize(session: Path) -> dict:
    from cosmic_ray.work_db import use_db
    from cosmic_ray.work_item import TestOutcome, WorkerOutcome

    with use_db(str(session)) as db:
        results = [(item, result) for item, result in db.completed_work_items
                   if result.worker_outcome != WorkerOutcome.SKIPPED]
        total = db.num_work_items
    killed = [r for _, r in results if r.test_outcome in (TestOutcome.KILLED, TestOutcome.INCOMPETENT)]
    survived = [(i, r) for i, r in results if r.test_outcome == TestOutcome.SURVIVED]
    return {"mutants": total, "run": len(results), "killed": len(killed), "survived": len(survived),
            "score": len(killed) / max(len(results), 1), "seed": SEED, "killer": KILLER,
            "survivors": [{"job": i.job_id, "operator": m.operator_name, "line": m.start_pos[0], "diff": r.diff}
                          for i, r in survived for m in i.mutations]}


def main() -> None:
    out, fraction = Path(sys.argv[1]).resolve(), float(sys.argv[2]) if len(sys.argv) > 2 else 1.0
    tree, session = out / "tree", out / "session.sqlite"
    out.mkdir(parents=True, exist_ok=True)
    copy_tree(tree)
    (tree / "config.toml").write_text(CONFIG.format(killer=KILLER))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(tree / "python"),
                                                                     os.environ.get("PYTHONPATH")]))}
    session.unlink(missing_ok=True)
    subprocess.run(["cosmic-ray", "init", "config.toml", str(session)], cwd=tree, env=env, check=True)
    print(f"running {sample(session, fraction)} mutants (seed {SEED})", flush=True)
    subprocess.run(["nice", "-n", "19", "cosmic-ray", "exec", "config.toml", str(session)], cwd=tree, env=env,
                   check=True)
    summary = summarize(session)
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    print(f"{summary['killed']} killed, {summary['survived']} survived of {summary['run']} run "
          f"({summary['mutants']} generated): score {summary['score']:.1%}")


if __name__ == "__main__":
    main()

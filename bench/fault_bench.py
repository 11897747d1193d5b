"""Fault-injection sweep -> bench/results/faults.json.

SIGKILL at seeded random points of ingest, build and train (20 trials per stage by default, up to
two kills per trial), then re-run to completion. A trial passes when the re-run's manifests and
shards are byte-equal to an uninterrupted run's (ingest: equal manifest, no item done twice, no
orphaned object; build: equal shards, sidecars, manifest, labels and vocabulary; train: same final
step and weights, resumed from the checkpoint that was on disk), and when no partial or temporary
file was visible to a reader after any kill. The trials themselves live in
tests/robustness/faults.py, shared with the short version in `make test`.

Run: `.venv/bin/python bench/fault_bench.py [--trials N] [--first-seed S]` (or `make bench`,
`make robustness`). Exit status is non-zero when any trial failed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "bench" / "results" / "faults.json"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20, help="trials per stage")
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

    import torch

    from tests.robustness.faults import run_sweep

    torch.set_num_threads(1)
    started = time.perf_counter()
    done: list = []

    def record(trial) -> None:
        done.append(trial)
        print(f"{trial.stage:6s} seed={trial.seed:3d} kills={trial.killed}/{len(trial.kill_points)} "
              f"{'pass' if trial.passed else 'FAIL ' + trial.detail} ({trial.seconds:.1f} s)", flush=True)
        write_results(args, done, started)  # after every trial: a cut-short sweep still leaves its results

    with tempfile.TemporaryDirectory(prefix="mmpipe-faults-") as work:
        run_sweep(Path(work), args.trials, args.first_seed, on_trial=record)
    results = write_results(args, done, started)
    print(json.dumps(results["stages"], indent=1))
    return 0 if results["all_passed"] and len(done) == 3 * args.trials else 1


def write_results(args, trials: list, started: float) -> dict:
    stages: dict[str, dict] = {}
    for stage in ("ingest", "build", "train"):
        mine = [t for t in trials if t.stage == stage]
        kinds = Counter(p.split(":", 1)[0] for t in mine for p in t.kill_points)
        stages[stage] = {"trials": len(mine), "passed": sum(t.passed for t in mine),
                         "kills_aimed": sum(len(t.kill_points) for t in mine), "kills_landed": sum(t.killed for t in mine),
                         "kill_point_kinds": dict(sorted(kinds.items())),
                         "median_trial_s": sorted(t.seconds for t in mine)[len(mine) // 2] if mine else None}
    results = {
        "trials_per_stage": args.trials, "first_seed": args.first_seed,
        "all_passed": bool(trials) and all(t.passed for t in trials), "stages": stages,
        "seconds": round(time.perf_counter() - started, 1),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
        "trials": [t.as_dict() for t in trials],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1) + "\n")
    return results


if __name__ == "__main__":
    sys.exit(main())

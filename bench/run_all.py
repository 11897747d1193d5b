"""Run every benchmark script in bench/ (each writes its own JSON under bench/results/).

A failing benchmark does not hide the others: each runs in its own process, and the summary
at the end says which ones failed. Exit status is non-zero when any failed.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
RESULTS_DIR = BENCH_DIR / "results"
# Order: data path first, then model, then faults; the robustness report reads faults.json, so it comes last.
SCRIPTS = ("ingest_bench.py", "build_bench.py", "model_bench.py", "fault_bench.py", "robustness_report.py")


def main() -> int:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    outcomes: dict[str, dict] = {}
    for name in SCRIPTS:
        script = BENCH_DIR / name
        if not script.is_file():
            outcomes[name] = {"status": "missing"}
            continue
        print(f"== {name}", flush=True)
        started = time.perf_counter()
        proc = subprocess.run([sys.executable, str(script)], cwd=BENCH_DIR.parent)
        outcomes[name] = {
            "status": "ok" if proc.returncode == 0 else f"failed (exit {proc.returncode})",
            "seconds": round(time.perf_counter() - started, 1),
        }
    (RESULTS_DIR / "run_all.json").write_text(json.dumps(outcomes, indent=1) + "\n")
    for name, outcome in outcomes.items():
        print(f"{name:24s} {outcome['status']:20s} {outcome.get('seconds', '')}")
    return 0 if all(o["status"] in ("ok", "missing") for o in outcomes.values()) else 1


if __name__ == "__main__":
    sys.exit(main())

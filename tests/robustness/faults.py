"""SIGKILL at seeded random points of ingest, build and train, then re-run: the result must equal
an uninterrupted run's, and a reader must never see a partial file.

Shared by the short test (`test_faults.py`, a few trials per stage, part of `make test`) and the
long sweep (`bench/fault_bench.py`, 20+ trials per stage). Each stage is a small class that makes
its reference once (`prepare`) and then runs independent trials (`trial(seed)`), each in a fresh
output directory. Kill points come from ``random.Random(seed)``: either a delay after the child
process started (a fraction ``span`` of an uninterrupted run's wall time, startup included; the
wall time is re-measured whenever a child finishes a whole run before its kill) or, for ingest,
the library's own fault hook (`MMPIPE_INGEST_KILL_AFTER`: after N finished items, or between
journal and manifest).
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import tarfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd
import yaml

from mmdata.build.config import BuildConfig
from mmdata.build.run import run_build
from mmdata.manifest import read_raw_manifest
from mmdata.safety import validate_shard
from tests.mmdata.build.test_run import _shard_bytes
from tests.mmdata.ingest.test_resume import journal_ids, mm_ingest
from tests.robustness.hostile_corpus import write_hostile_corpus

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Trial:
    """One kill-and-rerun trial and what was observed."""

    stage: str
    seed: int
    kill_points: list[str] = field(default_factory=list)  # where each kill was aimed
    killed: int = 0  # how many of them landed before the process finished on its own
    passed: bool = False
    detail: str = ""
    seconds: float = 0.0

    def as_dict(self) -> dict:
        return asdict(self)


def _kill_after(proc: subprocess.Popen, delay_s: float) -> tuple[bool, float]:
    """SIGKILL ``proc`` ``delay_s`` after now unless it ends first: (whether the kill landed, seconds run).

    A process that ends on its own must have succeeded: any other exit is a failure, not a miss.
    """
    started = time.perf_counter()
    try:
        _, err = proc.communicate(timeout=delay_s)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
        return True, time.perf_counter() - started
    assert proc.returncode == 0, f"exit {proc.returncode} without a kill: {(err or b'')[-1500:]!r}"
    return False, time.perf_counter() - started


def _delay(rng: random.Random, kill: int, wall_s: float, span: tuple[float, float]) -> float:
    # A re-run after a kill has less left to do: aim later kills into the first half of a full run.
    low, high = span
    return rng.uniform(low, high if kill == 0 else (low + high) / 2) * wall_s


def _temporaries(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob(".tmp-*"))


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _run_trial(stage: str, seed: int, body) -> Trial:
    trial = Trial(stage, seed)
    started = time.perf_counter()
    try:
        body(trial)
        trial.passed = True
    except AssertionError as failure:
        trial.detail = str(failure)[:500]
    except Exception as error:  # a trial that errors is a failed trial, recorded; the sweep goes on
        trial.detail = f"{type(error).__name__}: {error}"[:500]
    trial.seconds = round(time.perf_counter() - started, 2)
    return trial


# ---- ingest -------------------------------------------------------------------------------------


class IngestFaults:
    """`mm ingest` of the hostile corpus (directory + table), killed and resumed."""

    stage = "ingest"

    def __init__(self, work: Path):
        self.work = Path(work)

    def prepare(self) -> None:
        write_hostile_corpus(self.work)
        values = {"dirs": [str(self.work / "corpus")], "tables": [str(self.work / "table.csv")],
                  "journal_batch": 4, "concurrency": 4, "progress": False}
        self.params = self.work / "params.yaml"
        self.params.write_text(yaml.safe_dump({"ingest": values}))
        started = time.perf_counter()
        done = mm_ingest(self.params, self.work / "reference")
        assert done.returncode == 0, done.stdout + done.stderr
        self.wall_s = time.perf_counter() - started
        self.expected = read_raw_manifest(self.work / "reference")
        self.n_work_items = len(journal_ids(self.work / "reference"))

    def _visible_state_is_whole(self, out: Path) -> None:
        # Objects are content addressed: every visible one must hold exactly the bytes its name says.
        for obj in (out / "objects").rglob("*"):
            if obj.is_file() and not obj.name.startswith(".tmp-"):
                assert _sha256(obj) == obj.name, f"partial object visible: {obj}"
        if (out / "manifest.parquet").exists():
            read_raw_manifest(out)  # a visible manifest is a complete one

    def trial(self, seed: int, max_kills: int = 2, span: tuple[float, float] = (0.05, 1.0)) -> Trial:
        rng = random.Random(seed)
        out = self.work / f"trial-{seed}"

        def body(trial: Trial) -> None:
            for kill in range(rng.randint(1, max_kills)):
                if rng.random() < 0.5:
                    point = "manifest" if rng.random() < 0.2 else str(rng.randint(1, self.n_work_items))
                    trial.kill_points.append(f"hook:{point}")
                    proc = mm_ingest(self.params, out, point)
                    trial.killed += proc.returncode == -signal.SIGKILL
                    assert proc.returncode in (0, -signal.SIGKILL), proc.stderr[-2000:]
                else:
                    delay = _delay(rng, kill, self.wall_s, span)
                    trial.kill_points.append(f"time:{delay:.2f}s")
                    proc = subprocess.Popen(_mm_ingest_argv(self.params, out), cwd=self.params.parent,
                                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                    landed, ran_s = _kill_after(proc, delay)
                    trial.killed += landed
                    if not landed and kill == 0:  # a whole run from scratch: calibrates later delays
                        self.wall_s = min(self.wall_s, ran_s)
                self._visible_state_is_whole(out)
            finished = mm_ingest(self.params, out)
            assert finished.returncode == 0, finished.stderr[-2000:]
            got = read_raw_manifest(out)
            assert got.equals(self.expected), "manifest differs from the uninterrupted run"
            ids = journal_ids(out)
            assert len(ids) == len(set(ids)), "an item was done twice"
            objects = {p.name for p in (out / "objects").rglob("*") if p.is_file()}
            assert objects == set(got.loc[got["status"] == "ok", "sha256"]), "orphaned or missing objects"
            assert not _temporaries(out), f"temporaries left: {_temporaries(out)}"

        return _run_trial(self.stage, seed, body)


def _mm_ingest_argv(params: Path, out: Path) -> list[str]:
    return [str(Path(sys.executable).parent / "mm"), "ingest", "--params", str(params), "--out", str(out)]


# ---- build --------------------------------------------------------------------------------------

_BUILD_CODE = (
    "import sys; sys.path.insert(0, sys.argv[1]);"
    "from mmdata.build.config import BuildConfig; from mmdata.build.run import run_build;"
    "run_build(BuildConfig.model_validate_json(sys.argv[2]))"
)


class BuildFaults:
    """`run_build` of the ingested hostile corpus in a child process, killed at a random time, re-run."""

    stage = "build"

    def __init__(self, work: Path, raw: Path):
        self.work = Path(work)
        self.raw = Path(raw)

    def config(self, out: Path) -> BuildConfig:
        return BuildConfig(raw=str(self.raw), out=str(out), partitions=3, shards={"maxcount": 4})

    def _start(self, out: Path) -> subprocess.Popen:
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        return subprocess.Popen([sys.executable, "-c", _BUILD_CODE, str(REPO), self.config(out).model_dump_json()],
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def prepare(self) -> None:
        reference = self.work / "reference"
        started = time.perf_counter()
        proc = self._start(reference)
        _, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err.decode()[-2000:]
        self.wall_s = time.perf_counter() - started
        self.shards = _shard_bytes(reference)
        self.manifest = (reference / "manifest.parquet").read_bytes()
        self.sidecars = {name: (reference / name).read_bytes() for name in ("labels.json", "vocab.json")}

    @staticmethod
    def _visible_state_is_whole(out: Path) -> None:
        for shard in out.glob("*/shard-*.tar"):
            validate_shard(shard)
            with tarfile.open(shard) as tar:  # every member's bytes are all there
                for member in tar:
                    assert len(tar.extractfile(member).read()) == member.size, f"short member in {shard}"
        for table in [*out.glob("*/shard-*.parquet"), *out.glob("manifest.parquet")]:
            pd.read_parquet(table)
        for meta in out.glob("*.json"):
            json.loads(meta.read_text())

    def trial(self, seed: int, max_kills: int = 2, span: tuple[float, float] = (0.05, 1.0)) -> Trial:
        rng = random.Random(seed)
        out = self.work / f"trial-{seed}"

        def body(trial: Trial) -> None:
            for kill in range(rng.randint(1, max_kills)):
                delay = _delay(rng, kill, self.wall_s, span)
                trial.kill_points.append(f"time:{delay:.2f}s")
                landed, ran_s = _kill_after(self._start(out), delay)
                trial.killed += landed
                if not landed and kill == 0:
                    self.wall_s = min(self.wall_s, ran_s)
                self._visible_state_is_whole(out)
            run_build(self.config(out))  # the re-run, in this process
            assert _shard_bytes(out) == self.shards, "shards differ from the uninterrupted build"
            assert (out / "manifest.parquet").read_bytes() == self.manifest, "build manifest differs"
            for name, data in self.sidecars.items():
                assert (out / name).read_bytes() == data, f"{name} differs"
            assert not _temporaries(out), f"temporaries left: {_temporaries(out)}"

        return _run_trial(self.stage, seed, body)


# ---- train --------------------------------------------------------------------------------------


class TrainFaults:
    """A tiny training run in a child process, killed at a random time, resumed from its checkpoint."""

    stage = "train"
    common = dict(epochs=3, checkpoint_every=3, modalities=["image", "audio"], fusion="attention")

    def __init__(self, work: Path, shards: Path):
        self.work = Path(work)
        self.shards = Path(shards)

    def prepare(self) -> None:
        from tests.mmmodel.test_resume import _start

        self._start = _start
        cfg = self._config("reference")
        cfg_path = self.work / "reference.json"
        cfg_path.write_text(cfg.model_dump_json())
        started = time.perf_counter()
        proc = _start(cfg_path, self.work)
        _, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err.decode()[-2000:]
        self.wall_s = time.perf_counter() - started
        self.reference = json.loads((self.work / "summary-rank0.json").read_text())

    def _config(self, name: str):
        from tests.mmmodel.conftest import tiny_config

        return tiny_config(self.work / name, self.shards, **self.common)

    def trial(self, seed: int, max_kills: int = 2, span: tuple[float, float] = (0.05, 1.0)) -> Trial:
        import torch

        rng = random.Random(seed)
        cfg = self._config(f"trial-{seed}")
        cfg_path = self.work / f"trial-{seed}.json"
        cfg_path.write_text(cfg.model_dump_json())
        out = Path(cfg.out)
        checkpoint = out / "checkpoints" / "last.pt"

        def body(trial: Trial) -> None:
            for kill in range(rng.randint(1, max_kills)):
                delay = _delay(rng, kill, self.wall_s, span)
                trial.kill_points.append(f"time:{delay:.2f}s")
                landed, ran_s = _kill_after(self._start(cfg_path, self.work / f"trial-{seed}"), delay)
                trial.killed += landed
                if not landed and kill == 0:
                    self.wall_s = min(self.wall_s, ran_s)
                if (out / "model.pt").exists():
                    torch.load(out / "model.pt", weights_only=True)  # visible weights are whole
            saved_step = 0
            if checkpoint.exists():  # a visible checkpoint is a whole one
                saved_step = torch.load(checkpoint, map_location="cpu", weights_only=False)["state"]["step"]
            # The resume runs in a fresh process too: the same code the killed run had, on disk now.
            proc = self._start(cfg_path, self.work / f"trial-{seed}")
            _, err = proc.communicate(timeout=600)
            assert proc.returncode == 0, err.decode()[-2000:]
            resumed = json.loads((self.work / f"trial-{seed}" / "summary-rank0.json").read_text())
            assert resumed["steps"] == self.reference["steps"], "resumed run ended at another step"
            assert resumed["steps_this_run"] == self.reference["steps"] - saved_step, (
                f"did not resume from the checkpoint at step {saved_step}")
            assert resumed["weights_sha256"] == self.reference["weights_sha256"] or _weights_close(
                out / "model.pt", self.work / "reference" / "model" / "model.pt"), "weights differ"
            assert not _temporaries(out), f"temporaries left: {_temporaries(out)}"

        return _run_trial(self.stage, seed, body)


def _weights_close(a: Path, b: Path) -> bool:
    import torch

    left, right = torch.load(a, weights_only=True), torch.load(b, weights_only=True)
    return left.keys() == right.keys() and all(torch.allclose(left[k], right[k], atol=1e-5) for k in left)


def run_sweep(work: Path, trials_per_stage: int, first_seed: int = 0, stages=("ingest", "build", "train"),
              on_trial=print) -> list[Trial]:
    """Prepare ``stages`` under ``work`` and run ``trials_per_stage`` seeded trials of each;
    ``on_trial(trial)`` is called after each one."""
    from tests.mmmodel.synthetic import write_synthetic_shards

    work = Path(work)
    runners = []
    if "ingest" in stages or "build" in stages:
        ingest = IngestFaults(work / "ingest")
        ingest.prepare()
        runners += [ingest] if "ingest" in stages else []
    if "build" in stages:
        build = BuildFaults(work / "build", work / "ingest" / "reference")
        build.work.mkdir(parents=True, exist_ok=True)
        build.prepare()
        runners.append(build)
    if "train" in stages:
        shards = write_synthetic_shards(work / "train" / "shards", {"train": 160, "val": 32, "test": 32}, per_shard=40)
        train = TrainFaults(work / "train", shards)
        train.prepare()
        runners.append(train)
    trials = []
    for runner in runners:
        for seed in range(first_seed, first_seed + trials_per_stage):
            trials.append(runner.trial(seed))
            on_trial(trials[-1])
    return trials

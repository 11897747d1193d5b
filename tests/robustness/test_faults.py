"""SIGKILL at seeded random points of ingest, build and train; the re-run equals an uninterrupted run.

A short version of `bench/fault_bench.py` (which runs 20+ trials per stage, up to two kills each):
two trials per stage, one kill each.
"""

from __future__ import annotations

import pytest

from tests.mmmodel.synthetic import write_synthetic_shards
from tests.robustness.faults import BuildFaults, IngestFaults, TrainFaults

SEEDS = (101, 202)
SPAN = (0.1, 0.6)  # kills early enough to land even when this machine speeds up after calibration
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def ingest_faults(tmp_path_factory):
    faults = IngestFaults(tmp_path_factory.mktemp("ingest_faults"))
    faults.prepare()
    return faults


@pytest.fixture(scope="module")
def build_faults(ingest_faults, tmp_path_factory):
    faults = BuildFaults(tmp_path_factory.mktemp("build_faults"), ingest_faults.work / "reference")
    faults.prepare()
    return faults


@pytest.fixture(scope="module")
def train_faults(tmp_path_factory):
    work = tmp_path_factory.mktemp("train_faults")
    shards = write_synthetic_shards(work / "shards", {"train": 160, "val": 32, "test": 32}, per_shard=40)
    faults = TrainFaults(work, shards)
    faults.prepare()
    return faults


@pytest.mark.parametrize("seed", SEEDS)
def test_killed_ingest_resumes_to_the_uninterrupted_manifest(ingest_faults, seed):
    trial = ingest_faults.trial(seed, max_kills=1, span=SPAN)
    assert trial.passed, trial


@pytest.mark.parametrize("seed", SEEDS)
def test_killed_build_reruns_to_the_uninterrupted_shards(build_faults, seed):
    trial = build_faults.trial(seed, max_kills=1, span=SPAN)
    assert trial.passed, trial


@pytest.mark.parametrize("seed", SEEDS)
def test_killed_training_resumes_from_its_checkpoint_to_the_same_weights(train_faults, seed):
    trial = train_faults.trial(seed, max_kills=1, span=SPAN)
    assert trial.passed, trial

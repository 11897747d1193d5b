"""Prefect flow of the embedded demo: write the corpus, then ingest -> build -> train -> evaluate."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from flows.build import build_flow
from flows.evaluate import evaluate_flow
from flows.ingest import ingest_flow
from flows.train import train_flow
from mmdata.build.config import BuildConfig
from mmdata.demo import default_corpus_dir, write_demo_corpus
from mmdata.ingest.config import IngestConfig
from mmdata.params import DEFAULT_PARAMS, load_config
from mmmodel.config import EvaluateConfig, TrainConfig
from mmmodel.registry import Registry, register_model_dir


@task(name="write-demo-corpus", cache_policy=NO_CACHE)
def write_corpus(out: str, seed: int) -> dict[str, Any]:
    return write_demo_corpus(out, seed=seed)


@task(name="register-demo-model", cache_policy=NO_CACHE)
def register_if_no_champion(model_dir: str, metrics: dict[str, Any]) -> str:
    """Make the demo model the champion (what `mm predict` uses) unless the registry already has one."""
    registry = Registry()
    champion = registry.champion()
    if champion is not None:
        return f"registry champion stays {champion.id} ({champion.model_dir})"
    record = register_model_dir(registry, model_dir, metrics, reason="demo model (registry had no champion)")
    return f"registered {model_dir} as champion {record.id} in {registry.path}"


@flow(name="demo", log_prints=True)
def demo_flow(
    corpus: str | None = None, seed: int = 0, params: str = str(DEFAULT_PARAMS), unimodal_baselines: bool = True
) -> dict[str, Any]:
    """Write the demo corpus to ``corpus`` (default: first ``ingest.dirs``) and run every stage on it.

    Stage settings come from ``params``; the corpus folder replaces the ingest sources, and training
    starts fresh (no resume), so a re-run never continues a model of an earlier corpus. With
    ``unimodal_baselines`` one single-modality model per modality is trained too (same budget), so
    the metrics compare the fused model with each modality alone as well as with each one removed.
    """
    started = time.perf_counter()
    ingest_cfg = load_config(IngestConfig, "ingest", params)
    corpus = corpus or default_corpus_dir(ingest_cfg.dirs)
    ingest_cfg = ingest_cfg.model_copy(update={"dirs": [corpus], "tables": [], "crawl": []})
    build_cfg = load_config(BuildConfig, "build", params)
    train_cfg = load_config(TrainConfig, "train", params, {"resume": False, "unimodal_baselines": unimodal_baselines})
    evaluate_cfg = load_config(EvaluateConfig, "evaluate", params)

    written = write_corpus(corpus, seed)
    corpus_seconds = time.perf_counter() - started
    ingested = ingest_flow(ingest_cfg)
    built = build_flow(build_cfg)
    trained = train_flow(train_cfg)
    metrics = evaluate_flow(evaluate_cfg)
    print(register_if_no_champion(trained["model_dir"], metrics))
    outputs = {
        "corpus": corpus,
        "raw": str(Path(ingest_cfg.out) / "manifest.parquet"),
        "shards": build_cfg.out,
        "model": trained["model_dir"],
        "metrics": str(Path(evaluate_cfg.out) / "metrics.json"),
        "confusion": str(Path(evaluate_cfg.out) / "confusion_matrix.png"),
    }
    return {"corpus": written, "ingest": ingested, "build": built, "train": trained, "metrics": metrics,
            "outputs": outputs, "corpus_seconds": corpus_seconds, "seconds": time.perf_counter() - started}


if __name__ == "__main__":
    demo_flow()

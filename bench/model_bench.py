"""Model benchmarks -> bench/results/model.json.

1. Throughput (synthetic shards made in code): loader samples/s with 1, 2 and 4 workers against a
   bare webdataset read of the same tars (ratio reported), training steps/s, the share of training
   time spent waiting on the loader, and GPU utilisation when a GPU is present.
2. AV-MNIST on real data (skipped when ../shared/data or $MMPIPE_SHARED_DATA is absent): the
   `avmnist` recipe -> `mm ingest` -> `mm build`; train on three FSDD speakers, test on the
   fourth (MNIST images are drawn without replacement, so train and test images are disjoint);
   fused vs image-only vs audio-only, on clean images and on a noisy-image variant.

The noisy variant blends 80% uniform noise into every image (train and test), calibrated so that
image-only lands near MultiBench AV-MNIST's ~60-70%; `--occlude` also covers a block of each image.

Usage: python bench/model_bench.py [--quick] [--device auto|cpu|cuda] [--skip-real] [--skip-throughput]
       [--variants clean,noisy] [--work DIR] [--out FILE] [--set KEY=VALUE ...]
       python bench/model_bench.py --holdout yweweler --exclude theo ...   (validation fold for tuning)
       python bench/model_bench.py --merge A.json B.json [--out FILE]   (combine per-variant runs)
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
RESULTS = REPO / "bench" / "results" / "model.json"
HELD_OUT_SPEAKER = "theo"


def shared_data() -> Path | None:
    path = Path(os.environ.get("MMPIPE_SHARED_DATA", REPO.parent / "shared" / "data"))
    return path if (path / "fsdd").is_dir() and (path / "mnist").is_dir() else None


class GpuSampler:
    """Samples GPU utilisation (nvidia-smi) in a thread while a block runs."""

    def __init__(self) -> None:
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self):
        if shutil.which("nvidia-smi"):
            self._thread = threading.Thread(target=self._run, daemon=True)
            self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            out = subprocess.run(["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits"],
                                 capture_output=True, text=True)
            if out.returncode == 0 and out.stdout.strip():
                self.samples.append(float(out.stdout.split()[0]))
            self._stop.wait(0.2)

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join()

    def summary(self) -> dict | None:
        if not self.samples:
            return None
        return {"mean_util_pct": round(sum(self.samples) / len(self.samples), 1), "max_util_pct": max(self.samples),
                "n_samples": len(self.samples)}


# ---------------------------------------------------------------- throughput


def throughput(work: Path, device: str, quick: bool) -> dict:
    import torch
    from rich.console import Console

    from mmmodel.config import TrainConfig
    from mmmodel.data import ShardStream, make_loader, probe_shards, read_raw_samples, shard_paths
    from mmmodel.train import train
    from tests.mmmodel.synthetic import write_synthetic_shards

    n = 1024 if quick else 4096
    shards = write_synthetic_shards(work / "synthetic", {"train": n, "val": 256}, per_shard=256)
    paths = shard_paths(shards, "train")
    dims, _ = probe_shards(shards, "train", 64, None)
    started = time.perf_counter()
    bare = sum(1 for _ in read_raw_samples(paths))  # bare webdataset read of the same tars, no decoding
    bare_rate = bare / (time.perf_counter() - started)
    loader = {}
    for workers in (1, 2, 4):
        stream = ShardStream(paths, dims, train=False)
        started = time.perf_counter()
        count = sum(len(batch["label"]) for batch in make_loader(stream, 64, workers))
        rate = count / (time.perf_counter() - started)
        loader[f"workers_{workers}"] = {"samples_per_s": round(rate, 1), "ratio_to_bare_read": round(rate / bare_rate, 3)}
    results = {"bare_webdataset_read_samples_per_s": round(bare_rate, 1), "loader": loader,
               "cpu_count": os.cpu_count()}
    for name, overrides in {"default": {}, "gpu_sized": dict(dim=256, conv_width=64, batch_size=256)}.items():
        if name == "gpu_sized" and not torch.cuda.is_available():
            continue
        cfg = TrainConfig(shards=str(shards), out=str(work / f"tp-model-{name}"), reports=str(work / "tp-reports"),
                          epochs=2, num_workers=min(4, os.cpu_count() or 1), device=device, progress=False,
                          early_stopping_patience=0, **overrides)
        with GpuSampler() as gpu:
            summary = train(cfg, Console(quiet=True))
        train_s = summary["seconds"]
        results[f"training_{name}"] = {
            "config": overrides or "TrainConfig defaults", "device": summary["device"], "steps": summary["steps"],
            "steps_per_s": round(summary["steps"] / train_s, 2),
            "samples_per_s": round(summary["steps"] * cfg.batch_size / train_s, 1),
            "loader_wait_fraction": round(summary["data_wait_s"] / train_s, 3),
            "gpu": gpu.summary(),
        }
    return results


# ---------------------------------------------------------------- AV-MNIST on real data


PLACES: dict[str, str] = {}  # absolute prefix -> what the recorded commands show instead


def portable(text: str) -> str:
    """``text`` with machine paths replaced (scratch -> $WORK, data -> ../shared/data, repo -> relative)."""
    for prefix, shown in sorted(PLACES.items(), key=lambda item: -len(item[0])):
        text = text.replace(prefix, shown)
    return text


def run(cmd: list[str], log: list[str], cwd: Path) -> None:
    """Run one `mm` command, record it (with portable paths), fail loudly with its output."""
    log.append(portable(" ".join(cmd)))
    print("$", " ".join(cmd), flush=True)
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")


def split_by_speaker(corpus: Path, train_dir: Path, test_dir: Path, held_out: str,
                     exclude: frozenset[str] = frozenset()) -> dict:
    """Copy the recipe folder into a training corpus of the other speakers and a held-out-speaker test corpus.

    In the training corpus each sample is its own group, so val is a random share of the training
    speakers (it only drives early stopping); the held-out speaker never enters training. Speakers
    in ``exclude`` are left out entirely: a validation fold (--holdout yweweler --exclude theo)
    tunes choices without ever seeing the test speaker.
    """
    rows = list(csv.DictReader((corpus / "labels.csv").open()))
    counts = {"train": 0, "test": 0}
    for target in (train_dir, test_dir):
        target.mkdir(parents=True, exist_ok=True)
    writers = {}
    for target, name in ((train_dir, "train"), (test_dir, "test")):
        handle = (target / "labels.csv").open("w", newline="")
        writers[name] = (handle, csv.writer(handle))
        writers[name][1].writerow(["key", "label", "group"])
    for row in rows:
        if row["group"] in exclude:
            continue
        side = "test" if row["group"] == held_out else "train"
        target = test_dir if side == "test" else train_dir
        for file in (corpus / row["label"]).glob(f"{row['key']}.*"):
            (target / row["label"]).mkdir(exist_ok=True)
            shutil.copyfile(file, target / row["label"] / file.name)
        writers[side][1].writerow([row["key"], row["label"], row["key"] if side == "train" else row["group"]])
        counts[side] += 1
    for handle, _ in writers.values():
        handle.close()
    return counts


def prepare_variant(work: Path, data: Path, variant: str, recipe_flags: list[str], quick: bool, log: list[str],
                    held_out: str = HELD_OUT_SPEAKER, exclude: frozenset[str] = frozenset()) -> dict:
    """recipe -> speaker split -> ingest -> build (train shards and a held-out-speaker test set)."""
    mm = str(Path(sys.executable).with_name("mm"))
    root = work / variant
    per_digit = ["--per-digit", "40"] if quick else []
    run([mm, "recipe", "avmnist", "--data", str(data), "--out", str(root / "corpus"), *recipe_flags, *per_digit], log, work)
    dropped = f", {'+'.join(sorted(exclude))} left out" if exclude else ""
    log.append(f"# split {portable(str(root / 'corpus'))} by speaker: {held_out} -> test corpus, others -> train corpus"
               + dropped)
    counts = split_by_speaker(root / "corpus", root / "train_corpus", root / "test_corpus", held_out, exclude)
    params = root / "params.yaml"
    params.write_text(json.dumps({"build": {"splits": {"train": 0.9, "val": 0.1}}}))  # JSON is YAML
    run([mm, "ingest", "--dir", str(root / "train_corpus"), "--out", str(root / "raw_train"), "--no-progress"], log, work)
    run([mm, "build", "--raw", str(root / "raw_train"), "--out", str(root / "shards"), "--params", str(params)], log, work)
    run([mm, "ingest", "--dir", str(root / "test_corpus"), "--out", str(root / "raw_test"), "--no-progress"], log, work)
    run([mm, "build", "--raw", str(root / "raw_test"), "--out", str(root / "shards_test"), "--split", "test",
         "--reuse-from", str(root / "shards")], log, work)
    return counts


def fit_variant(root: Path, device: str, epochs: int, log: list[str], use_cli: bool, size: dict,
                held_out: str = HELD_OUT_SPEAKER, built: Path | None = None) -> dict:
    """Train fused + unimodal baselines on <built>/shards, evaluate on <built>/shards_test (built: root)."""
    import torch

    built = built or root
    # A fresh model every run: `mm train` would resume a model folder left in <root> by an earlier run.
    shutil.rmtree(root / "model", ignore_errors=True)
    root.mkdir(parents=True, exist_ok=True)

    # Loader workers only where cores are plentiful beside an accelerator; the CPU box has two cores.
    workers = min(4, os.cpu_count() or 1) if torch.cuda.is_available() else 0
    train_args = dict(epochs=epochs, batch_size=32, lr=0.002, early_stopping_patience=8, num_workers=workers, **size)
    log.append(f"# {portable(str(root / 'train_params.yaml'))}: {json.dumps({'train': train_args})}")
    train_cmd = ["mm", "train", "--shards", str(built / "shards"), "--out", str(root / "model"), "--reports",
                 str(root / "reports_train"), "--device", device, "--unimodal-baselines", "--no-progress",
                 "--params", str(root / "train_params.yaml")]
    eval_cmd = ["mm", "evaluate", "--model", str(root / "model"), "--shards", str(built / "shards_test"), "--split",
                "test", "--out", str(root / "report"), "--device", device, "--no-progress"]
    (root / "train_params.yaml").write_text(json.dumps({"train": train_args}))
    started = time.perf_counter()
    with GpuSampler() as gpu:
        if use_cli:
            run([str(Path(sys.executable).with_name("mm")), *train_cmd[1:]], log, root)
        else:  # a machine without the data stack (prefect, librosa): same code path through the API
            from rich.console import Console

            from mmmodel.config import TrainConfig
            from mmmodel.train import train

            log.append(portable(" ".join(train_cmd)) + "   # run through mmmodel.train.train")
            summary = train(TrainConfig(shards=str(built / "shards"), out=str(root / "model"), progress=False,
                                        reports=str(root / "reports_train"), device=device, unimodal_baselines=True,
                                        **train_args), Console(quiet=True))
    train_s = time.perf_counter() - started
    if use_cli:
        run([str(Path(sys.executable).with_name("mm")), *eval_cmd[1:]], log, root)
        summary = json.loads((root / "model" / "config.json").read_text())
    else:
        from rich.console import Console

        from mmmodel.config import EvaluateConfig
        from mmmodel.evaluate import evaluate

        log.append(portable(" ".join(eval_cmd)) + "   # run through mmmodel.evaluate.evaluate")
        evaluate(EvaluateConfig(model=str(root / "model"), shards=str(built / "shards_test"), split="test",
                                out=str(root / "report"), device=device, progress=False), Console(quiet=True))
    metrics = json.loads((root / "report" / "metrics.json").read_text())
    best_unimodal = max(s["accuracy"] for s in metrics["unimodal"].values())
    return {
        "held_out_speaker": held_out, "train_seconds_incl_baselines": round(train_s, 1),
        "fused_accuracy": metrics["accuracy"], "fused_macro_f1": metrics["macro_f1"],
        "image_only_accuracy": metrics["unimodal"]["image"]["accuracy"],
        "audio_only_accuracy": metrics["unimodal"]["audio"]["accuracy"],
        "fused_minus_best_unimodal_points": round(100 * (metrics["accuracy"] - best_unimodal), 2),
        "ablations": {k: v["accuracy"] for k, v in metrics["ablations"].items()},
        "n_test": metrics["n_samples"], "gpu": gpu.summary(), "best_epoch": summary.get("best_epoch"),
        "train_params": train_args,
    }


def parse_override(item: str) -> tuple[str, object]:
    """``key=value`` -> (key, value read as JSON, or the bare string when it is not JSON)."""
    key, _, value = item.partition("=")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


# Issue item 7, per variant: (target name, the number judged, its threshold).
TARGETS = {"clean": ("clean_fused_ge_0.99", "fused_accuracy", 0.99),
           "noisy": ("noisy_fused_ge_best_unimodal_plus_10_points", "fused_minus_best_unimodal_points", 10)}


def targets(avmnist: dict) -> dict:
    """Issue item 7 on one run per variant: clean fused accuracy >= 99%; noisy fused >= best unimodal + 10 points."""
    return {name: avmnist[variant][number] >= threshold
            for variant, (name, number, threshold) in TARGETS.items() if variant in avmnist}


def targets_over_seeds(summary: dict) -> dict:
    """Each target judged over every seed of its variant (``seed_summary``): met on the mean, and on how many
    seeds. The headline seed alone would call a target met that other seeds miss."""
    verdicts = {}
    for variant, (name, number, threshold) in TARGETS.items():
        if variant not in summary:
            continue
        per_seed = summary[variant]["per_seed"]
        mean = sum(row[number] for row in per_seed) / len(per_seed)
        missed = [row["seed"] for row in per_seed if not row["target_met"]]
        met = len(per_seed) - len(missed)
        verdict = (f"{'met' if mean >= threshold else 'NOT met'} on the mean of {len(per_seed)} seeds "
                   f"({round(mean, 4)} vs {threshold}); met on {met} of {len(per_seed)} seeds"
                   + (f", not on seed{'s' if len(missed) > 1 else ''} {', '.join(map(str, missed))}" if missed else ""))
        verdicts[name] = {"met_on_mean": mean >= threshold, "seeds_met": f"{met}/{len(per_seed)}",
                          "met_on_every_seed": not missed, "mean": round(mean, 4), "threshold": threshold,
                          "verdict": verdict}
    return verdicts


def seed_summary(avmnist: dict) -> dict:
    """Per variant, every seed run (the headline seed 0 and the seed checks): its numbers, the means and
    how many seeds meet the target. One seed meeting a target is weak evidence; the count says more."""
    runs = [(v, r) for v, r in avmnist.items() if v in ("clean", "noisy")]
    runs += [(name.rsplit("_seed", 1)[0], r) for name, r in avmnist.get("seed_checks", {}).items()]
    numbers = ("fused_accuracy", "image_only_accuracy", "audio_only_accuracy", "fused_minus_best_unimodal_points")
    rows: dict[str, list[dict]] = {}
    names: dict[str, str] = {}
    for variant, result in runs:
        ((names[variant], met),) = targets({variant: result}).items()
        rows.setdefault(variant, []).append({"seed": result.get("train_params", {}).get("seed", 0),
                                             **{k: result[k] for k in numbers}, "target_met": met})
    summary = {}
    for variant, per_seed in sorted(rows.items()):
        per_seed.sort(key=lambda row: row["seed"])
        means = {f"mean_{k}": round(sum(row[k] for row in per_seed) / len(per_seed), 2 if "points" in k else 4)
                 for k in numbers}
        summary[variant] = {"target": names[variant], "seeds": [row["seed"] for row in per_seed],
                            "n_seeds_met": sum(row["target_met"] for row in per_seed), "n_seeds": len(per_seed),
                            **means, "per_seed": per_seed}
    return summary


def tuning_row(command: str, result: dict) -> dict:
    """The few numbers of a validation-fold run that a choice was made on."""
    keys = ("held_out_speaker", "fused_accuracy", "image_only_accuracy", "audio_only_accuracy",
            "fused_minus_best_unimodal_points", "ablations", "best_epoch", "train_params")
    return {"command": command, **{k: result[k] for k in keys if k in result}}


def merge_reports(paths: list[Path], out: Path, note: str | None = None) -> dict:
    """One results file from per-variant runs (e.g. clean and noisy run as two concurrent processes).

    Runs on a validation fold (another held-out speaker) go into a compact ``tuning`` section, after
    the tuning records already in ``out`` (kept; a run of the same name replaces its record); a
    throughput section already in ``out`` is kept unless one of the runs measured it again.
    ``avmnist.seed_summary`` lists every seed of each variant with the means and the seeds meeting the target;
    with several seeds of a variant, ``avmnist.targets`` judges each target over them (``targets_over_seeds``),
    otherwise it holds one true/false per target, as a single run's report does.
    """
    merged: dict = {"command": portable(" ".join([".venv/bin/python", *sys.argv])), "runs": [], "avmnist": {}}
    for path in paths:
        report = json.loads(path.read_text())
        results = {k: v for k, v in report.get("avmnist", {}).items() if k != "targets"}
        if any(r.get("held_out_speaker") != HELD_OUT_SPEAKER for r in results.values()):
            for variant, result in results.items():
                merged.setdefault("tuning", {})[f"{path.stem}_{variant}"] = tuning_row(report["command"], result)
            continue
        merged["runs"].append({"command": report["command"], "variants": sorted(results)})
        merged.setdefault("machine", report["machine"])
        merged.setdefault("quick", report["quick"])
        if "throughput" in report:
            merged["throughput"] = report["throughput"]
        for variant, result in results.items():
            seed = result.get("train_params", {}).get("seed", 0)
            if seed == 0:
                merged["avmnist"][variant] = result
            else:  # reruns with other seeds: how far the headline numbers move with the seed
                merged["avmnist"].setdefault("seed_checks", {})[f"{variant}_seed{seed}"] = {
                    **result, "targets": targets({variant: result})}
    summary = seed_summary(merged["avmnist"])
    several_seeds = any(row["n_seeds"] > 1 for row in summary.values())
    merged["avmnist"]["targets"] = targets_over_seeds(summary) if several_seeds else targets(merged["avmnist"])
    merged["avmnist"]["seed_summary"] = summary
    previous = json.loads(out.read_text()) if out.is_file() else {}
    if "throughput" not in merged and "throughput" in previous:  # measured by an earlier full run: keep it
        merged["throughput"] = previous["throughput"]
    if previous.get("tuning"):  # earlier choices stay on record
        merged["tuning"] = {**previous["tuning"], **merged.get("tuning", {})}
    if note:
        merged["note"] = note
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(merged, indent=1) + "\n")
    return merged


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke run, not the reported numbers)")
    parser.add_argument("--device", default="auto")
    # 12 epochs x (fused + two unimodal) models: ~5 min per variant on two busy CPU cores.
    parser.add_argument("--epochs", type=int, default=12)
    # Calibrated so that image-only lands near MultiBench AV-MNIST's ~60-70% (uniform noise blended at
    # 80%: the digit's contrast is below the noise's spread). With --occlude the image is far harder.
    parser.add_argument("--noise", type=float, default=0.8, help="image noise of the noisy variant (0..1)")
    parser.add_argument("--occlude", action="store_true", help="noisy variant: also cover a block of each image")
    parser.add_argument("--skip-real", action="store_true")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results JSON")
    parser.add_argument("--dim", type=int, default=64, help="model width (TrainConfig.dim)")
    parser.add_argument("--conv-width", type=int, default=16, help="first conv block channels")
    parser.add_argument("--fusion", default="concat", help="concat | attention | projection | lowrank | late | hybrid")
    # Higher than the library default: with one strong and one weak modality, hiding the strong one
    # often is what makes the weak encoder learn enough to correct it.
    parser.add_argument("--modality-dropout", type=float, default=0.3)
    parser.add_argument("--seed", type=int, default=0, help="TrainConfig.seed of every model")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="another TrainConfig override (VALUE read as JSON), e.g. --set unimodal_loss_weight=0.5")
    parser.add_argument("--variants", default="clean,noisy", help="AV-MNIST variants to run (comma-separated)")
    # The reported numbers hold out theo; choices are tuned on a validation fold that never sees theo:
    # --holdout yweweler --exclude theo (train george+nicolas, score yweweler).
    parser.add_argument("--holdout", default=HELD_OUT_SPEAKER, help="FSDD speaker of the test set")
    parser.add_argument("--exclude", default="", help="FSDD speakers left out of train and test (comma-separated)")
    parser.add_argument("--work", type=Path, default=None, help="scratch folder (default: a temporary one)")
    parser.add_argument("--prebuilt", type=Path, default=None,
                        help="folder with <variant>/shards and <variant>/shards_test built earlier by this script: "
                             "skip recipe/ingest/build and train through the Python API (GPU machines without the data stack)")
    parser.add_argument("--merge", type=Path, nargs="+", default=None,
                        help="only combine results files of earlier per-variant runs into --out (no training)")
    parser.add_argument("--note", default=None, help="with --merge: a note on how the runs were made")
    args = parser.parse_args()
    if args.merge:
        PLACES.update({str(REPO) + "/": "", str(args.merge[0].resolve().parent): "$WORK"})
        print(json.dumps(merge_reports(args.merge, args.out, args.note)["avmnist"]["targets"]))
        return 0

    import torch

    torch.set_num_threads(max(1, (os.cpu_count() or 2) // 2))
    work = (args.work or Path(tempfile.mkdtemp(prefix="mmpipe-model-bench-"))).resolve()
    work.mkdir(parents=True, exist_ok=True)
    data = shared_data()
    PLACES.update({str(work): "$WORK", str(REPO) + "/": ""})
    if data is not None:
        PLACES[str(data.resolve())] = "../shared/data"
        PLACES[str(data)] = "../shared/data"
    report: dict = {
        "command": portable(" ".join([".venv/bin/python", *sys.argv])),
        "machine": {"platform": platform.platform(), "cpu_count": os.cpu_count(), "torch": torch.__version__,
                    "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None},
        "quick": args.quick,
    }
    if not args.skip_throughput:
        report["throughput"] = throughput(work, args.device, args.quick)
        print(json.dumps(report["throughput"], indent=1), flush=True)
    exclude = frozenset(filter(None, args.exclude.split(",")))
    if args.holdout in exclude:
        parser.error("--holdout must not be in --exclude")
    overrides = dict(parse_override(item) for item in args.set)
    variants = {"clean": [], "noisy": ["--image-noise", str(args.noise), *(["--occlude"] if args.occlude else [])]}
    if args.skip_real:
        report["avmnist"] = {"skipped": "--skip-real"}
    elif data is None and args.prebuilt is None:
        report["avmnist"] = {"skipped": "no ../shared/data (or $MMPIPE_SHARED_DATA) with fsdd/ and mnist/"}
    else:
        report["avmnist"] = {}
        for name, flags in variants.items():
            if name not in args.variants.split(","):
                continue
            log: list[str] = []
            root, built = work / name, (args.prebuilt or work) / name
            if args.prebuilt is not None:
                counts = json.loads((built / "counts.json").read_text()) if (built / "counts.json").is_file() else None
            else:
                counts = prepare_variant(work, data, name, flags, args.quick, log, args.holdout, exclude)
                (root / "counts.json").write_text(json.dumps(counts))
            size = {"dim": args.dim, "conv_width": args.conv_width, "fusion": args.fusion,
                    "modality_dropout": args.modality_dropout, "seed": args.seed, **overrides}
            result = fit_variant(root, args.device, args.epochs, log, args.prebuilt is None, size, args.holdout, built)
            report["avmnist"][name] = {"samples": counts, **result, "commands": log}
            print(json.dumps({k: v for k, v in result.items() if k != "commands"}), flush=True)
        report["avmnist"]["targets"] = targets(report["avmnist"])
        print(json.dumps(report["avmnist"]["targets"]), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

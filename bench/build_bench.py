"""Build throughput, scaling and memory benchmark -> bench/results/build.json.

Per modality, over the same raw bytes in one run:
- bare loop: images decode -> resize (short side, center crop 224) -> JPEG q95 with OpenCV; audio
  soundfile decode -> soxr_hq resample to 16 kHz -> 64-bin log-mel with librosa (both from bytes in
  memory, as ../shared/bench/anchor_bench.py times them); text read (each document's file in the raw
  store, the file the build reads: the issue's "read -> normalise -> tokenize") -> NFC + lower-case +
  whitespace -> wordpunct tokens. Text also times that loop from bytes in memory
  (`build_vs_in_memory_bare_median`), the stricter yardstick it was held to before;
- full build path: `run_build` (raw store read, every check and filter, standardization, exact dedup,
  partition files, vocabulary, shards, sidecars, manifests) on one worker. Near-duplicate search is off
  (the bench photos are near-identical copies, and no bare loop has it); text also reports a build with
  it on (`near_dedup_ratio`: MinHash signatures and the LSH index on top), for information.
Runs alternate (bare, build) for ROUNDS rounds; the paired ratio of each round is reported with its
median, so load from other processes on a shared machine hits both sides alike.
Scaling: the audio+image corpus built with 1 and 2 workers (ratio of wall times).
Memory: peak RSS and peak traced heap of a build of a 1x and a 10x image corpus, each in a fresh process.
Peers: img2dataset's resizer and lhotse's Fbank are timed beside the same bare loops when they are
importable (bench/requirements.txt); else the reference ratios of ../shared/bench/anchor_bench.py
measured on this machine are reported, marked as such. Audio also times lhotse in every round, on the
same clips, right after that round's build: `build_vs_lhotse` (build / lhotse items per second) is the
project's yardstick ("at least as fast as each peer"), per round and as a median. Each audio rate is also
given per CPU second of the process that ran it (`*_per_cpu_s`, `*_cpu` ratios): on a machine shared with
other work, wall-clock rates swing with their load, CPU time much less.

Data: scikit-image's bundled photos (JPEG q95), FSDD recordings from $MMPIPE_SHARED_DATA or
../shared/data (synthetic tones when absent), text made of real English prose (license texts of the
installed packages, cut into ~1.5 KB documents).
Run: `.venv/bin/python bench/build_bench.py` (or `make bench`); `--only audio` (any of image, audio,
text) measures those modalities alone and updates just their entries of build.json; `--rounds N`.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import unicodedata
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "bench" / "results" / "build.json"
ROUNDS = 3
# Reference ratios from ../shared/bench/anchor_bench.py (peer / bare loop), used when peers are not installed.
ANCHOR_RATIOS = {"image_img2dataset_vs_bare": 0.85, "audio_lhotse_vs_bare": 1.32}

from mmdata.build.config import BuildConfig  # noqa: E402
from mmdata.build.run import run_build  # noqa: E402
from mmdata.manifest import objects_dir, write_raw_manifest  # noqa: E402
from mmdata.store import RawStore, sha256_of  # noqa: E402


def shared_data() -> Path:
    return Path(os.environ.get("MMPIPE_SHARED_DATA", ROOT.parent / "shared" / "data"))


def photo_bytes(copies: int) -> list[bytes]:
    import skimage.data as skd

    photos = []
    for name in ("astronaut", "coffee", "chelsea", "rocket", "cat", "immunohistochemistry", "retina", "colorwheel"):
        try:
            rgb = getattr(skd, name)()
        except Exception:  # noqa: BLE001 -- a sample image missing from this install only shrinks the set
            continue
        bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR) if rgb.ndim == 3 else rgb
        photos.append(bgr)
    out = []
    for i in range(copies):
        # A one-pixel mark per copy keeps the bytes distinct, so the build's exact-dup check keeps all of them.
        img = photos[i % len(photos)].copy()
        img[0, 0] = (i * 7 % 256, i * 13 % 256, i // len(photos) % 256) if img.ndim == 3 else i % 256
        out.append(cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 95])[1].tobytes())
    return out


def audio_bytes(limit: int) -> list[bytes]:
    files = sorted((shared_data() / "fsdd").glob("*.flac"))[:limit]
    if files:
        return [f.read_bytes() for f in files]
    import soundfile as sf

    out = []
    for i in range(limit):
        t = np.arange(4000 + 37 * (i % 50)) / 8000
        buffer = io.BytesIO()
        sf.write(buffer, (0.4 * np.sin(2 * np.pi * (150 + i) * t)).astype(np.float32), 8000, format="FLAC")
        out.append(buffer.getvalue())
    return out


def text_bytes(limit: int) -> list[bytes]:
    prose = []
    for path in sorted(Path(sys.prefix).glob("lib/python*/site-packages/*.dist-info/**/LICENSE*")):
        if path.is_file():
            prose.append(path.read_text(errors="replace"))
    words = " ".join(prose).split()
    docs, size = [], 250  # ~1.5 KB of words per document
    for i in range(limit):
        start = (i * 97) % max(1, len(words) - size)
        docs.append((" ".join(words[start : start + size]) + f" doc {i}").encode())
    return docs


def write_raw(root: Path, modality_items: dict[str, list[bytes]]) -> Path:
    store = RawStore(objects_dir(root))
    rows = []
    n = max(len(v) for v in modality_items.values())
    for i in range(n):
        for modality, items in modality_items.items():
            if i < len(items):
                sha, _ = store.put(items[i])
                rows.append({"key": f"s{i:06d}", "modality": modality, "uri": f"bench:{i}", "status": "ok",
                             "sha256": sha, "bytes": len(items[i]), "label": str(i % 10), "group": f"g{i % 40}"})
    write_raw_manifest(pd.DataFrame(rows), root)
    return root


def bare_image(data: bytes) -> bytes:
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    h, w = img.shape[:2]
    s = 224 / min(h, w)
    img = cv2.resize(img, (max(224, round(w * s)), max(224, round(h * s))), interpolation=cv2.INTER_AREA)
    h, w = img.shape[:2]
    y, x = (h - 224) // 2, (w - 224) // 2
    return cv2.imencode(".jpg", img[y : y + 224, x : x + 224], [cv2.IMWRITE_JPEG_QUALITY, 95])[1].tobytes()


def bare_audio(data: bytes) -> np.ndarray:
    import librosa
    import soundfile as sf

    wave, rate = sf.read(io.BytesIO(data), dtype="float32")
    wave = librosa.resample(wave, orig_sr=rate, target_sr=16000, res_type="soxr_hq")
    return librosa.power_to_db(librosa.feature.melspectrogram(y=wave, sr=16000, n_fft=400, hop_length=160, n_mels=64))


def bare_text(data: bytes) -> list[str]:
    from nltk.tokenize import wordpunct_tokenize

    text = unicodedata.normalize("NFC", data.decode("utf-8")).lower()
    return wordpunct_tokenize(" ".join(text.split()))


def bare_text_file(path: str) -> list[str]:
    with open(path, "rb") as handle:
        return bare_text(handle.read())


CONFIGS = {
    "image": {"image": {"size": 224, "format": "jpg", "quality": 95, "resize_mode": "center_crop"}},
    "audio": {"audio": {"sample_rate": 16000, "n_mels": 64, "n_fft": 400, "hop_length": 160}},
    "text": {},
}
BARE = {"image": bare_image, "audio": bare_audio, "text": bare_text_file}


def build_config(raw: Path, out: Path, modality_cfg: dict, workers: int = 1, partitions: int = 4) -> BuildConfig:
    # Every sample is kept (no dedup of near-identical bench photos) so both sides process the same items.
    return BuildConfig(raw=str(raw), out=str(out), workers=workers, partitions=partitions,
                       dedup={"exact": True, "near": False}, **modality_cfg)


def time_bare(fn, items: list[bytes]) -> float:
    started = time.perf_counter()
    for item in items:
        fn(item)
    return len(items) / (time.perf_counter() - started)


def timed(run, n: int) -> tuple[float, float]:
    """(items per wall second, items per CPU second of this process) of ``run()`` over ``n`` items.

    CPU seconds are what other processes on a shared machine disturb least."""
    wall, cpu = time.perf_counter(), time.process_time()
    run()
    return n / (time.perf_counter() - wall), n / (time.process_time() - cpu)


def time_build(cfg: BuildConfig, n: int) -> float:
    import shutil

    shutil.rmtree(cfg.out, ignore_errors=True)
    started = time.perf_counter()
    stats = run_build(cfg)
    seconds = time.perf_counter() - started
    assert stats["samples"]["ok"] == n, stats["samples"]
    return n / seconds


PEER_PACKAGES = ["img2dataset", "lhotse", "librosa", "soundfile", "numpy"]
# img2dataset and lhotse pin older pandas / webdataset / opencv than mmpipe uses, so they live in
# their own virtual environment, made on first use (pip -c constraints.txt keeps torch on CPU).
PEER_CODE = r"""
import io, json, sys, time
import cv2, librosa, numpy as np, soundfile as sf
from img2dataset.resizer import Resizer, ResizeMode
from lhotse.features import Fbank, FbankConfig
cv2.setNumThreads(1)
images = [open(p, "rb").read() for p in sorted(__import__("glob").glob(sys.argv[1] + "/img-*"))]
clips = [open(p, "rb").read() for p in sorted(__import__("glob").glob(sys.argv[1] + "/aud-*"))]
REPS = int(sys.argv[2])
CPU = {}
def rate(fn, items, reps=REPS):
    best = best_cpu = 0
    for _ in range(reps):
        t, c = time.perf_counter(), time.process_time()
        for it in items: fn(it)
        best = max(best, len(items) / (time.perf_counter() - t))
        best_cpu = max(best_cpu, len(items) / (time.process_time() - c))
    CPU[fn] = best_cpu
    return best
def bare_image(b):
    im = cv2.imdecode(np.frombuffer(b, np.uint8), cv2.IMREAD_COLOR)
    h, w = im.shape[:2]; s = 224 / min(h, w)
    im = cv2.resize(im, (max(224, round(w * s)), max(224, round(h * s))), interpolation=cv2.INTER_AREA)
    h, w = im.shape[:2]; y, x = (h - 224) // 2, (w - 224) // 2
    return cv2.imencode(".jpg", im[y:y + 224, x:x + 224], [cv2.IMWRITE_JPEG_QUALITY, 95])[1]
rz = Resizer(image_size=224, resize_mode=ResizeMode.center_crop, resize_only_if_bigger=False, encode_quality=95)
def bare_audio(b):
    a, sr = sf.read(io.BytesIO(b), dtype="float32")
    a = librosa.resample(a, orig_sr=sr, target_sr=16000, res_type="soxr_hq")
    return librosa.power_to_db(librosa.feature.melspectrogram(y=a, sr=16000, n_fft=400, hop_length=160, n_mels=64))
fb = Fbank(FbankConfig(num_mel_bins=64, sampling_rate=16000))
def lhotse_audio(b):
    a, sr = sf.read(io.BytesIO(b), dtype="float32")
    return fb.extract(librosa.resample(a, orig_sr=sr, target_sr=16000, res_type="soxr_hq"), 16000)
bare_audio(clips[0]); lhotse_audio(clips[0])
out = {"audio_bare_per_s": rate(bare_audio, clips), "audio_lhotse_per_s": rate(lhotse_audio, clips)}
out.update(audio_bare_per_cpu_s=CPU[bare_audio], audio_lhotse_per_cpu_s=CPU[lhotse_audio])
out["audio_lhotse_vs_bare"] = out["audio_lhotse_per_s"] / out["audio_bare_per_s"]
if images:
    out.update(image_bare_per_s=rate(bare_image, images), image_img2dataset_per_s=rate(lambda b: rz(io.BytesIO(b)), images))
    out["image_img2dataset_vs_bare"] = out["image_img2dataset_per_s"] / out["image_bare_per_s"]
print(json.dumps(out))
"""


def peer_python() -> Path | None:
    """Python of the peers' virtual environment ($MMPIPE_BENCH_PEER_PYTHON or a cached one), made if missing."""
    if os.environ.get("MMPIPE_BENCH_PEER_PYTHON"):
        return Path(os.environ["MMPIPE_BENCH_PEER_PYTHON"])
    venv = Path(tempfile.gettempdir()) / "mmpipe-bench-peers"
    python = venv / "bin" / "python"
    check = [str(python), "-c", "import img2dataset, lhotse"]
    if python.exists() and subprocess.run(check, capture_output=True).returncode == 0:
        return python
    try:
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "-c", str(ROOT / "constraints.txt"), *PEER_PACKAGES],
                       check=True, timeout=1800)
    except (subprocess.SubprocessError, OSError) as err:
        print(f"peers unavailable ({err}); reporting the anchor_bench reference ratios", file=sys.stderr)
        return None
    return python


def peers(images: list[bytes], clips: list[bytes], reps: int = 3) -> dict:
    """Peer / bare-loop ratios measured side by side in the peers' environment, on the same bytes
    (best of ``reps`` passes; no images: audio only)."""
    python = peer_python()
    if python is None:
        return {**ANCHOR_RATIOS, "source": "anchor_bench reference ratios (peers could not be installed)"}
    with tempfile.TemporaryDirectory() as tmp:
        for i, data in enumerate(images):
            Path(tmp, f"img-{i:05d}").write_bytes(data)
        for i, data in enumerate(clips):
            Path(tmp, f"aud-{i:05d}").write_bytes(data)
        result = subprocess.run([str(python), "-c", PEER_CODE, tmp, str(reps)], capture_output=True, text=True, timeout=1800,
                                env={**os.environ, "OMP_NUM_THREADS": "1"})
    if result.returncode != 0:
        print(result.stderr[-2000:], file=sys.stderr)
        return {**ANCHOR_RATIOS, "source": "anchor_bench reference ratios (peer run failed)"}
    return {**json.loads(result.stdout.strip().splitlines()[-1]), "source": "measured beside the same bare loops"}


def peak_memory_of_build(raw: Path, out: Path) -> tuple[int, int]:
    """(peak RSS in KiB, peak traced heap in KiB during the build) of a one-worker build in a fresh process.

    Imports alone take a few hundred MB of RSS, which would hide growth with corpus size, so the
    Python/numpy heap peak of the build itself (tracemalloc, started after the imports) is reported too.
    """
    code = (f"import sys, resource, tracemalloc; sys.path.insert(0, {str(ROOT)!r});"
            "from mmdata.build.config import BuildConfig; from mmdata.build.run import run_build;"
            "tracemalloc.start();"
            f"run_build(BuildConfig(raw={str(raw)!r}, out={str(out)!r}, partitions=4, dedup={{'near': False}},"
            " image={'size': 224, 'format': 'jpg'}));"
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, tracemalloc.get_traced_memory()[1] // 1024)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    rss, heap = result.stdout.strip().splitlines()[-1].split()
    return int(rss), int(heap)


def machine() -> dict:
    return {"python": platform.python_version(), "cpus": os.cpu_count(), "omp_threads": os.environ.get("OMP_NUM_THREADS"),
            "load_average_at_start": os.getloadavg()}


def measure_modality(tmp: Path, modality: str, items: list[bytes], rounds: int) -> dict:
    """Alternating bare loop / one-worker build rounds; audio adds lhotse (and its bare loop) each round."""
    raw = write_raw(tmp / f"raw-{modality}", {modality: items})
    cfg = build_config(raw, tmp / f"out-{modality}", CONFIGS[modality])
    store = RawStore(objects_dir(raw))
    # Text's bare loop reads each document's file (the raw-store object the build reads too).
    bare_inputs = [str(store.path_of(sha256_of(item))) for item in items] if modality == "text" else items
    BARE[modality](bare_inputs[0])
    time_build(cfg, len(items))  # warm-up: imports, numba/librosa caches
    rows = []
    for _ in range(rounds):
        bare, bare_cpu = timed(lambda: time_bare(BARE[modality], bare_inputs), len(items))
        built, built_cpu = timed(lambda: time_build(cfg, len(items)), len(items))
        row = {"bare_per_s": round(bare, 1), "build_per_s": round(built, 1), "ratio": round(built / bare, 3),
               "bare_per_cpu_s": round(bare_cpu, 1), "build_per_cpu_s": round(built_cpu, 1),
               "ratio_cpu": round(built_cpu / bare_cpu, 3)}
        if modality == "text":
            in_memory = time_bare(bare_text, items)
            row.update(in_memory_bare_per_s=round(in_memory, 1), in_memory_ratio=round(built / in_memory, 3))
            # The yardstick build has near-duplicate search off, as for the other modalities (the bare
            # loop has none); with it on, MinHash signatures and the LSH index come on top.
            near = cfg.model_copy(update={"out": str(tmp / "out-text-near"),
                                          "dedup": cfg.dedup.model_copy(update={"near": True})})
            # The bench documents are overlapping windows of one text, so many are near-duplicates and
            # dropped: rates count input documents.
            started = time.perf_counter()
            dropped = run_build(near)["samples"]["dropped"]
            with_near = len(items) / (time.perf_counter() - started)
            row.update(build_near_dedup_per_s=round(with_near, 1), near_dedup_ratio=round(with_near / bare, 3),
                       near_duplicates_dropped=dropped)
        if modality == "audio":
            peer = peers([], items, reps=1)
            if "audio_lhotse_per_s" in peer:
                row.update(peer_bare_per_s=round(peer["audio_bare_per_s"], 1),
                           lhotse_per_s=round(peer["audio_lhotse_per_s"], 1),
                           build_vs_lhotse=round(built / peer["audio_lhotse_per_s"], 3),
                           peer_bare_per_cpu_s=round(peer["audio_bare_per_cpu_s"], 1),
                           lhotse_per_cpu_s=round(peer["audio_lhotse_per_cpu_s"], 1),
                           build_vs_lhotse_cpu=round(built_cpu / peer["audio_lhotse_per_cpu_s"], 3))
        rows.append(row)
        print(modality, row, flush=True)
    entry = {"items": len(items), "rounds": rows,
             "bare_per_s": max(r["bare_per_s"] for r in rows), "build_per_s": max(r["build_per_s"] for r in rows),
             "build_vs_bare_median": statistics.median(r["ratio"] for r in rows),
             "build_vs_bare_cpu_median": statistics.median(r["ratio_cpu"] for r in rows), "target": 0.9}
    if all("in_memory_ratio" in r for r in rows):
        entry["build_vs_in_memory_bare_median"] = statistics.median(r["in_memory_ratio"] for r in rows)
    if all("near_dedup_ratio" in r for r in rows):
        entry["near_dedup_ratio_median"] = statistics.median(r["near_dedup_ratio"] for r in rows)
    if all("build_vs_lhotse" in r for r in rows):
        entry.update(lhotse_per_s=max(r["lhotse_per_s"] for r in rows),
                     build_vs_lhotse_median=statistics.median(r["build_vs_lhotse"] for r in rows),
                     build_vs_lhotse_cpu_median=statistics.median(r["build_vs_lhotse_cpu"] for r in rows),
                     target_vs_lhotse=1.0)
    return entry


SIZES = {"image": 600, "audio": 1000, "text": 3000}  # large enough that per-build fixed costs are a small share
CORPORA = {"image": photo_bytes, "audio": audio_bytes, "text": text_bytes}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=list(SIZES),
                        help="measure only these modalities (no peers table, scaling or memory); other entries of "
                             "build.json are kept")
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    args = parser.parse_args(argv)
    cv2.setNumThreads(1)
    modalities = args.only or list(SIZES)
    corpora = {m: CORPORA[m](SIZES[m]) for m in modalities}
    if args.only and RESULTS.is_file():
        results = json.loads(RESULTS.read_text())
    else:
        results = {"machine": machine(), "modalities": {}}
    with tempfile.TemporaryDirectory(prefix="mmpipe-build-bench-") as tmp:
        tmp = Path(tmp)
        for modality, items in corpora.items():
            started = machine()
            results["modalities"][modality] = measure_modality(tmp, modality, items, args.rounds)
            if args.only:
                results["modalities"][modality]["machine"] = started
        if args.only:
            return write_results(results)
        peer = peers(corpora["image"][:120], corpora["audio"][:150])
        results["peers"] = peer
        results["modalities"]["image"]["peer_img2dataset_vs_bare"] = peer["image_img2dataset_vs_bare"]
        results["modalities"]["audio"]["peer_lhotse_vs_bare"] = peer["audio_lhotse_vs_bare"]

        # Scaling: a corpus of paired audio + image samples, 1 vs 2 worker processes, alternating.
        n = 1200  # large enough that planning, finalizing and worker start-up are a small share
        mixed = write_raw(tmp / "raw-mixed", {"audio": audio_bytes(n), "image": photo_bytes(n)})
        time_build(build_config(mixed, tmp / "out-mixed", {**CONFIGS["image"], **CONFIGS["audio"]}, 1, 8), n)
        scaling = []
        for _ in range(2):
            one = time_build(build_config(mixed, tmp / "out-mixed", {**CONFIGS["image"], **CONFIGS["audio"]}, 1, 8), n)
            two = time_build(build_config(mixed, tmp / "out-mixed", {**CONFIGS["image"], **CONFIGS["audio"]}, 2, 8), n)
            scaling.append({"one_worker_per_s": round(one, 1), "two_workers_per_s": round(two, 1),
                            "speedup": round(two / one, 3)})
            print("scaling", scaling[-1], flush=True)
        # Only meaningful with two idle cores: the load average shows what else was running.
        results["scaling"] = {"samples": n, "rounds": scaling, "speedup_best": max(r["speedup"] for r in scaling),
                              "target": 1.7, "load_average_after": os.getloadavg()}

        # Memory: 1x and 10x image corpora, each built in a fresh process.
        small = write_raw(tmp / "raw-mem1", {"image": photo_bytes(100)})
        large = write_raw(tmp / "raw-mem10", {"image": photo_bytes(1000)})
        rss_small, heap_small = peak_memory_of_build(small, tmp / "out-mem1")
        rss_large, heap_large = peak_memory_of_build(large, tmp / "out-mem10")
        results["memory"] = {"samples_1x": 100, "samples_10x": 1000, "peak_rss_kib_1x": rss_small,
                             "peak_rss_kib_10x": rss_large, "ratio": round(rss_large / rss_small, 3),
                             "peak_heap_kib_1x": heap_small, "peak_heap_kib_10x": heap_large,
                             "heap_ratio": round(heap_large / heap_small, 3), "target": 1.2}
    write_results(results)
    print("scaling", results["scaling"]["speedup_best"], "memory ratio", results["memory"]["ratio"],
          "heap ratio", results["memory"]["heap_ratio"])
    return 0


def write_results(results: dict) -> int:
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=1) + "\n")
    print(json.dumps({m: {k: v for k, v in r.items() if k not in ("rounds", "machine")}
                      for m, r in results["modalities"].items()}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

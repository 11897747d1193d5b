"""Ingest throughput and memory benchmark -> bench/results/ingest.json.

1. Throughput: 10,000 URLs of ~10 KB each served over loopback by an aiohttp server in its
   own process. The same URLs are fetched by a bare async fetch-and-write loop (aiohttp,
   same concurrency, one plain file per item) and by the full ingest (`run_ingest` on a
   jsonl URL table: guarded downloader, sniffing, content-addressed store, journal,
   manifest). The runs alternate, three rounds of (bare, ingest); each round gives a paired
   ratio, so load from other processes on a shared machine hits both sides alike, and the
   median ratio is reported with the best rate of each side.
   Targets (issue 3): >= 1,500 items/s and >= 80% of the bare loop.
2. Memory: peak RSS of an ingest of a 10,000-row and a 100,000-row table (each in a fresh
   process; rows point at 100 local files), to show it grows with the manifest only.

Throughput is measured twice: writing to the default temp dir on disk (what users get) and to
a tmpfs (``$MMPIPE_BENCH_TMP`` or /dev/shm). On the shared 2-core machine, disk writeback
throttling of the 100 MB each run writes makes single disk runs vary by 3x; tmpfs removes
that noise and shows the CPU cost per item, where the bookkeeping (journal, manifest,
content addressing, sniffing) weighs most.

Run: `.venv/bin/python bench/ingest_bench.py` (or `make bench`).
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "ingest.json"
N_ITEMS = 10_000
ITEM_BYTES = 10_240
CONCURRENCY = 64
ROUNDS = 3
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def serve(port: int) -> None:
    """Serve /item/<n>: ~10 KB, unique per n, starting with PNG magic (sniffed as an image)."""
    from aiohttp import web

    filler = bytes(range(256)) * (ITEM_BYTES // 256)

    async def item(request: web.Request) -> web.Response:
        n = int(request.match_info["n"])
        body = PNG_MAGIC + n.to_bytes(8, "big") + filler[: ITEM_BYTES - 16]
        return web.Response(body=body, content_type="image/png")

    app = web.Application()
    app.router.add_get("/item/{n}", item)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None, backlog=1024)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(port: int, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"benchmark server did not start on port {port}")


async def bare_loop(urls: list[str], out: Path) -> float:
    """The baseline: fetch with aiohttp at the same concurrency, write each body to a file."""
    import aiohttp

    out.mkdir(parents=True, exist_ok=True)
    semaphore = asyncio.Semaphore(CONCURRENCY)
    started = time.perf_counter()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=CONCURRENCY)) as session:

        async def one(index: int, url: str) -> None:
            async with semaphore, session.get(url) as resp:
                data = await resp.read()
            (out / str(index)).write_bytes(data)

        await asyncio.gather(*(one(i, u) for i, u in enumerate(urls)))
    return len(urls) / (time.perf_counter() - started)


def mmpipe_ingest(urls: list[str], work: Path) -> float:
    from mmdata.ingest.config import IngestConfig
    from mmdata.ingest.run import run_ingest

    table = work / "urls.jsonl"
    table.write_text("".join(json.dumps({"key": f"k{i:06d}", "image": u}) + "\n" for i, u in enumerate(urls)))
    cfg = IngestConfig(tables=[str(table)], out=str(work / "raw"), allow_private_network=True,
                       concurrency=CONCURRENCY, per_host_concurrency=CONCURRENCY, progress=False)
    started = time.perf_counter()
    summary = run_ingest(cfg)
    seconds = time.perf_counter() - started
    if summary.by_status != {"ok": len(urls)}:
        raise RuntimeError(f"benchmark ingest did not fetch everything: {summary.by_status} {summary.by_reason}")
    return len(urls) / seconds


def memory_child(rows: int, work: str) -> None:
    """In a fresh process: ingest a table of ``rows`` rows, print the peak RSS in MB."""
    from mmdata.ingest.config import IngestConfig
    from mmdata.ingest.run import run_ingest

    work_path = Path(work)
    files = work_path / "files"
    files.mkdir(parents=True, exist_ok=True)
    for i in range(100):
        (files / f"{i}.txt").write_text(f"words of file {i}\n" * 20)
    table = work_path / f"rows{rows}.jsonl"
    with open(table, "w") as fh:
        for i in range(rows):
            fh.write(json.dumps({"key": f"r{i:07d}", "text": f"files/{i % 100}.txt", "label": str(i % 7)}) + "\n")
    summary = run_ingest(IngestConfig(tables=[str(table)], out=str(work_path / f"raw{rows}"), progress=False))
    assert summary.items == rows, summary
    print(json.dumps({"rows": rows, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "seconds": summary.seconds}))


def measure_memory(rows: int) -> dict:
    with tempfile.TemporaryDirectory() as work:
        proc = subprocess.run([sys.executable, __file__, "--memory-child", str(rows), work],
                              capture_output=True, text=True, check=True, cwd=ROOT)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def tmpfs_root() -> str | None:
    """A writable tmpfs (``$MMPIPE_BENCH_TMP`` or /dev/shm), or None when there is none."""
    chosen = os.environ.get("MMPIPE_BENCH_TMP") or "/dev/shm"
    return chosen if os.path.isdir(chosen) and os.access(chosen, os.W_OK) else None


def paired_rounds(urls: list[str], scratch: str | None, console) -> dict:
    """Alternate bare and ingest runs writing under ``scratch``; paired ratios per round."""
    runs: dict[str, list[float]] = {"bare": [], "mmpipe": []}
    with tempfile.TemporaryDirectory(dir=scratch) as warm:  # first connections and page cache: not measured
        asyncio.run(bare_loop(urls[:2000], Path(warm)))
    for round_ in range(ROUNDS):
        for name in ("bare", "mmpipe"):
            work = Path(tempfile.mkdtemp(prefix=f"ingest-bench-{name}-", dir=scratch))
            try:
                rate = asyncio.run(bare_loop(urls, work)) if name == "bare" else mmpipe_ingest(urls, work)
            finally:
                shutil.rmtree(work, ignore_errors=True)
            runs[name].append(round(rate, 1))
            console.print(f"{scratch or tempfile.gettempdir():10s} round {round_ + 1} {name:7s} {rate:8.0f} items/s")
    ratios = sorted(m / b for m, b in zip(runs["mmpipe"], runs["bare"], strict=True))
    median_ratio = ratios[len(ratios) // 2]
    return {
        "scratch_dir": scratch or tempfile.gettempdir(),
        "bare_items_per_s": runs["bare"],
        "mmpipe_items_per_s": runs["mmpipe"],
        "best_bare_items_per_s": max(runs["bare"]),
        "best_mmpipe_items_per_s": max(runs["mmpipe"]),
        "paired_ratios": [round(r, 3) for r in ratios],
        "ratio_mmpipe_to_bare": round(median_ratio, 3),
        "meets_throughput_target": max(runs["mmpipe"]) >= 1500,
        "meets_ratio_target": median_ratio >= 0.8,
    }


def main() -> int:
    from rich.console import Console

    console = Console()
    port = free_port()
    server = subprocess.Popen([sys.executable, __file__, "--serve", str(port)], cwd=ROOT)
    try:
        wait_for(port)
        urls = [f"http://127.0.0.1:{port}/item/{i}" for i in range(N_ITEMS)]
        # Disk (what users get) and tmpfs (no writeback throttling: shows the CPU cost per item).
        settings = {"disk": paired_rounds(urls, None, console)}
        if tmpfs_root():
            settings["tmpfs"] = paired_rounds(urls, tmpfs_root(), console)
    finally:
        server.terminate()
        server.wait(timeout=10)
    memory = [measure_memory(rows) for rows in (10_000, 100_000)]
    result = {
        "benchmark": "ingest",
        "items": N_ITEMS,
        "item_bytes": ITEM_BYTES,
        "concurrency": CONCURRENCY,
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "target_items_per_s": 1500,
        "target_ratio": 0.8,
        **settings,
        "memory": memory,
        "memory_growth_10k_to_100k": round(memory[1]["peak_rss_mb"] / memory[0]["peak_rss_mb"], 2),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=1) + "\n")
    console.print_json(json.dumps(result))
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        serve(int(sys.argv[2]))
    elif len(sys.argv) > 1 and sys.argv[1] == "--memory-child":
        memory_child(int(sys.argv[2]), sys.argv[3])
    else:
        sys.exit(main())

"""A small HTML + PNG report of a shard set: class histogram, audio durations, image and text sizes."""

from __future__ import annotations

import html
import json
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; no display on build machines
import matplotlib.pyplot as plt  # noqa: E402

from mmdata.atomic import write_text_atomic  # noqa: E402
from mmdata.shards.inspect import load_sidecars, summarize  # noqa: E402


def _quality_series(sidecars, modality: str, field: str) -> list[float]:
    values = []
    for text in sidecars["quality"]:
        value = json.loads(text).get(modality, {}).get(field)
        if isinstance(value, int | float):
            values.append(float(value))
    return values


def _save(fig, path: Path) -> str:
    fig.tight_layout()
    fig.savefig(path, dpi=90, metadata={"Software": None})
    plt.close(fig)
    return path.name


def write_report(shards: str | os.PathLike, report_dir: str | os.PathLike) -> Path:
    """Write ``classes.png``, ``distributions.png`` and ``report.html`` into ``report_dir``; return the HTML path."""
    report_dir = Path(report_dir)
    report_dir.mkdir(parents=True, exist_ok=True)
    summary = summarize(shards)
    sidecars = load_sidecars(shards)
    fig, ax = plt.subplots(figsize=(7, 3.5))
    splits = list(summary["splits"])
    classes = sorted({c for s in splits for c in summary["splits"][s]["classes"]},
                     key=lambda c: (0, int(c), "") if c.isdigit() else (1, 0, c))
    width = 0.8 / max(1, len(splits))
    for i, split in enumerate(splits):
        counts = [summary["splits"][split]["classes"].get(c, 0) for c in classes]
        ax.bar([x + i * width for x in range(len(classes))], counts, width=width, label=split)
    ax.set_xticks([x + width * (len(splits) - 1) / 2 for x in range(len(classes))], classes, rotation=45)
    ax.set_ylabel("samples")
    ax.set_title("samples per class and split")
    ax.legend()
    classes_png = _save(fig, report_dir / "classes.png")
    panels = [("audio", "duration_s", "audio duration after trim (s)"), ("image", "width", "image width (px, input)"),
              ("text", "chars", "text length (chars)")]
    fig, axes = plt.subplots(1, 3, figsize=(11, 3))
    for ax, (modality, field, title) in zip(axes, panels, strict=True):
        values = _quality_series(sidecars, modality, field)
        if values:
            ax.hist(values, bins=30)
        else:
            ax.text(0.5, 0.5, f"no {modality}", ha="center", va="center")
        ax.set_title(title, fontsize=9)
    dist_png = _save(fig, report_dir / "distributions.png")
    rows = "".join(
        f"<tr><td>{html.escape(s)}</td><td>{i['samples']}</td><td>{i['shards']}</td><td>{i['bytes']:,}</td>"
        f"<td>{len(i['groups'])}</td><td>{i['modalities']['image']}</td><td>{i['modalities']['audio']}</td>"
        f"<td>{i['modalities']['text']}</td></tr>" for s, i in summary["splits"].items())
    drops = "".join(f"<tr><td>{html.escape(r)}</td><td>{n}</td></tr>" for r, n in summary["drop_reasons"].items())
    leaks = html.escape(json.dumps(summary["group_leaks"])) if summary["group_leaks"] else "none"
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>mmpipe shards: {html.escape(str(shards))}</title>
<style>body{{font-family:sans-serif;margin:2em}}td,th{{padding:2px 10px;border-bottom:1px solid #ddd}}</style></head>
<body><h1>Shard set {html.escape(Path(shards).name)}</h1>
<table><tr><th>split</th><th>samples</th><th>shards</th><th>bytes</th><th>groups</th><th>image</th><th>audio</th><th>text</th></tr>{rows}</table>
<p>groups shared between splits: {leaks}</p>
<h2>Classes</h2><img src="{classes_png}"><h2>Distributions</h2><img src="{dist_png}">
<h2>Dropped / failed by reason</h2><table>{drops or "<tr><td>none</td></tr>"}</table></body></html>"""
    path = report_dir / "report.html"
    write_text_atomic(path, page)
    return path

"""Asterisk prompts recipe: spoken telephony prompts (audio) with their transcripts (text).

Data origin and license: Debian package ``asterisk-core-sounds-en-wav`` (voice: Allison Smith,
2003-2010) with transcripts from ``asterisk-core-sounds-en`` (``core-sounds-en.txt.gz``);
license CC BY-SA 3.0 (see /usr/share/doc/asterisk-core-sounds-en-wav/copyright).
Install: ``apt-get install asterisk-core-sounds-en-wav``.

label = prompt category: the sub-folder (``digits``, ``letters``, ``phonetic``...) or the
name prefix before the first '-' (``vm``, ``conf``, ``agent``...) when at least
``min_per_category`` prompts share it, else ``misc``.
"""

from __future__ import annotations

import gzip
import os
from collections import Counter
from pathlib import Path

from mmdata.atomic import write_text_atomic
from mmdata.recipes.common import (
    RecipeSourceMissing,
    check_output_dir,
    copy_if_changed,
    prune_stale,
    write_labels,
)
from mmdata.sources.keys import sanitize_key

SOUNDS_DIR = Path("/usr/share/asterisk/sounds/en")
TRANSCRIPTS = Path("/usr/share/doc/asterisk-core-sounds-en/core-sounds-en.txt.gz")
SKIPPED_FOLDERS = ("silence",)  # silence has no words and no category worth learning


def read_transcripts(path: Path) -> dict[str, str]:
    """``prompt name (with sub-folder) -> transcript`` from core-sounds-en.txt(.gz)."""
    opener = gzip.open if path.suffix == ".gz" else open
    found: dict[str, str] = {}
    with opener(path, "rt", encoding="utf-8", errors="replace") as fh:
        for line in fh:
            name, sep, text = line.partition(":")
            if sep and not line.startswith(";") and name.strip():
                found[name.strip()] = text.strip()
    return found


def prepare_asterisk(
    output_dir: str | os.PathLike,
    sounds_dir: str | os.PathLike = SOUNDS_DIR,
    transcripts: str | os.PathLike = TRANSCRIPTS,
    min_per_category: int = 5,
) -> Path:
    """Write ``<output_dir>/<category>/<key>.wav + .txt`` and ``labels.csv``; return ``output_dir``."""
    sounds_dir, out = Path(sounds_dir), Path(output_dir)
    if not sounds_dir.is_dir():
        raise RecipeSourceMissing(f"{sounds_dir} not found: apt-get install asterisk-core-sounds-en-wav")
    texts = read_transcripts(Path(transcripts)) if Path(transcripts).is_file() else {}
    prompts = sorted(
        p for p in sounds_dir.rglob("*.wav") if p.relative_to(sounds_dir).parts[0] not in SKIPPED_FOLDERS
    )
    names = [p.relative_to(sounds_dir).with_suffix("").as_posix() for p in prompts]
    prefixes = Counter(n.split("-", 1)[0] for n in names if "/" not in n)
    check_output_dir(out)
    rows = []
    written: set[Path] = set()
    for path, name in zip(prompts, names, strict=True):
        if "/" in name:
            category = name.split("/", 1)[0]
        else:
            prefix = name.split("-", 1)[0]
            category = prefix if prefixes[prefix] >= min_per_category else "misc"
        key = sanitize_key(name.replace("/", "_"))
        copy_if_changed(path, out / category / f"{key}.wav")
        written.add(out / category / f"{key}.wav")
        if texts.get(name):
            write_text_atomic(out / category / f"{key}.txt", texts[name] + "\n")
            written.add(out / category / f"{key}.txt")
        rows.append((key, category, ""))
    prune_stale(out, written, (".wav", ".txt"))
    write_labels(out, rows, {"recipe": "asterisk", "origin": "Debian asterisk-core-sounds-en-wav (Allison Smith)",
                             "license": "CC BY-SA 3.0", "min_per_category": min_per_category})
    return out

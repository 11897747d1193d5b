"""Icons recipe: Adwaita icons (image) with their names as words (text), label = icon context.

Data origin and license: Debian package ``adwaita-icon-theme`` (GNOME Project), license
LGPL-3 or CC BY-SA 3.0 (see /usr/share/doc/adwaita-icon-theme/copyright).
Install: ``apt-get install adwaita-icon-theme``.

Icons live in ``<theme>/<size>/<context>/<name>.png``; the context (``places``, ``devices``,
``status``...) is the label and the name, split into words, is the text. ``legacy`` mixes
contexts, so it is left out.
"""

from __future__ import annotations

import os
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

THEME_DIR = Path("/usr/share/icons/Adwaita")
SKIPPED_CONTEXTS = ("legacy",)


def icon_words(name: str) -> str:
    """``folder-pictures-symbolic.symbolic`` -> ``folder pictures symbolic``."""
    stem = name.split(".", 1)[0]
    return " ".join(stem.replace("_", "-").split("-"))


def prepare_icons(output_dir: str | os.PathLike, theme_dir: str | os.PathLike = THEME_DIR, size: str = "48x48") -> Path:
    """Write ``<output_dir>/<context>/<key>.png + .txt`` and ``labels.csv``; return ``output_dir``."""
    folder, out = Path(theme_dir) / size, Path(output_dir)
    if not folder.is_dir():
        raise RecipeSourceMissing(f"{folder} not found: apt-get install adwaita-icon-theme")
    check_output_dir(out)
    rows = []
    written: set[Path] = set()
    for path in sorted(folder.glob("*/*.png")):
        context = path.parent.name
        if context in SKIPPED_CONTEXTS:
            continue
        name = path.name[: -len(".png")]
        key = sanitize_key(name)
        copy_if_changed(path, out / context / f"{key}.png")
        write_text_atomic(out / context / f"{key}.txt", icon_words(name) + "\n")
        written.update((out / context / f"{key}.png", out / context / f"{key}.txt"))
        rows.append((key, context, ""))
    if not rows:
        raise RecipeSourceMissing(f"no icons under {folder}/<context>/*.png")
    prune_stale(out, written, (".png", ".txt"))
    write_labels(out, rows, {"recipe": "icons", "origin": "Debian adwaita-icon-theme (GNOME)",
                             "license": "LGPL-3 or CC BY-SA 3.0", "size": size})
    return out

"""AV-MNIST-style recipe: a spoken digit (audio) paired with a handwritten digit (image).

Data origin and licenses:
- Free Spoken Digit Dataset (Jakobovski et al., https://github.com/Jakobovski/free-spoken-digit-dataset),
  files ``fsdd/{digit}_{speaker}_{index}.flac`` (8 kHz mono). License: CC BY-SA 4.0.
- MNIST (LeCun, Cortes, Burges, http://yann.lecun.com/exdb/mnist/), IDX files
  ``mnist/*images-idx3-ubyte.gz`` and ``mnist/*labels-idx1-ubyte.gz``. Made available under the
  terms of CC BY-SA 3.0 (as redistributed by most mirrors).

Each recording becomes one sample: its FLAC bytes unchanged, plus an MNIST image of the same
digit drawn deterministically from ``seed`` and without replacement (no image is paired twice, so
samples split by speaker never share a picture). label = digit, group = speaker (so splits keep a
speaker's voice out of the other splits). The optional image noise / occlusion makes the image
alone unreliable, so a model has to use both modalities (the benchmark's "noisy" variant).
"""

from __future__ import annotations

import gzip
import os
import re
import zlib
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np

from mmdata.atomic import write_bytes_atomic
from mmdata.recipes.common import check_output_dir, copy_if_changed, prune_stale, write_labels

OCCLUDE_SIZE = 0.6  # side of the occluding block / image side (0.6: 36% of the area)
FSDD_NAME = re.compile(r"^(?P<digit>\d)_(?P<speaker>[A-Za-z]+)_(?P<index>\d+)\.(flac|wav)$")


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (gzip or plain) into a uint8 array of its declared shape."""
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rb") as fh:
        data = fh.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise ValueError(f"{path} is not an unsigned-byte IDX file")
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    body = np.frombuffer(data, np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(dims)):
        raise ValueError(f"{path}: {body.size} values, header says {dims}")
    return body.reshape(dims)


def _find(folder: Path, pattern: str) -> Path:
    matches = sorted(folder.glob(pattern))
    if not matches:
        raise FileNotFoundError(f"no file matching {pattern} in {folder}")
    return matches[0]


def degrade_image(image: np.ndarray, noise: float, occlude: bool, rng: np.random.Generator,
                  occlude_size: float = OCCLUDE_SIZE) -> np.ndarray:
    """Blend ``noise`` (0..1) of uniform noise into a grey image and optionally cover a square block
    (side ``occlude_size`` of the image side, at a random place) with one random grey level."""
    out = image.astype(np.float32)
    if noise > 0:
        out = (1.0 - noise) * out + noise * rng.uniform(0, 255, size=out.shape)
    if occlude:
        h, w = out.shape[:2]
        bh, bw = int(h * occlude_size), int(w * occlude_size)
        top, left = rng.integers(0, h - bh + 1), rng.integers(0, w - bw + 1)
        out[top : top + bh, left : left + bw] = rng.uniform(0, 255)
    return np.clip(out, 0, 255).astype(np.uint8)


def prepare_avmnist(
    data_dir: str | os.PathLike,
    output_dir: str | os.PathLike,
    seed: int = 0,
    per_digit: int | None = None,
    image_noise: float = 0.0,
    occlude: bool = False,
) -> Path:
    """Write ``<output_dir>/<digit>/<key>.png + .flac`` and ``labels.csv`` (key,label,group).

    ``data_dir`` holds ``fsdd/`` and ``mnist/`` (e.g. ``../shared/data``); ``per_digit`` caps
    recordings per digit (taken in name order). Returns ``output_dir``.
    """
    if not 0.0 <= image_noise <= 1.0:
        raise ValueError(f"image_noise must be within 0..1, got {image_noise}")
    data_dir, out = Path(data_dir), Path(output_dir)
    images = read_idx(_find(data_dir / "mnist", "*images-idx3-ubyte*"))
    labels = read_idx(_find(data_dir / "mnist", "*labels-idx1-ubyte*"))
    if len(images) != len(labels):
        raise ValueError(f"MNIST images ({len(images)}) and labels ({len(labels)}) differ in count")

    recordings: dict[int, list[tuple[Path, str, int]]] = defaultdict(list)
    for path in sorted((data_dir / "fsdd").iterdir()):
        match = FSDD_NAME.match(path.name)
        if match:
            recordings[int(match["digit"])].append((path, match["speaker"], int(match["index"])))
    if not recordings:
        raise FileNotFoundError(f"no {{digit}}_{{speaker}}_{{index}}.flac recordings in {data_dir / 'fsdd'}")

    check_output_dir(out)
    rng = np.random.default_rng(seed)
    rows: list[tuple[str, str, str]] = []
    written: set[Path] = set()
    for digit in sorted(recordings):
        pool = np.flatnonzero(labels == digit)
        if not len(pool):
            raise ValueError(f"MNIST has no image of digit {digit}")
        pool = rng.permutation(pool)
        # Index-major order interleaves speakers, so a cap keeps every speaker represented.
        chosen = sorted(recordings[digit], key=lambda r: (r[2], r[1]))[:per_digit]
        if len(chosen) > len(pool):
            # Reusing an image would put the same picture beside two speakers, i.e. in train and test.
            raise ValueError(f"digit {digit}: {len(chosen)} recordings but only {len(pool)} MNIST images; "
                             "every recording needs its own image (lower per_digit)")
        for n, (path, speaker, index) in enumerate(chosen):
            key = f"{digit}_{speaker}_{index}"
            image = images[pool[n]]
            if image_noise or occlude:
                sample_rng = np.random.default_rng([seed, zlib.crc32(key.encode())])
                image = degrade_image(image, image_noise, occlude, sample_rng)
            folder = out / str(digit)
            write_bytes_atomic(folder / f"{key}.png", cv2.imencode(".png", image)[1].tobytes())
            copy_if_changed(path, folder / f"{key}{path.suffix}")
            written.update((folder / f"{key}.png", folder / f"{key}{path.suffix}"))
            rows.append((key, str(digit), speaker))
    prune_stale(out, written, (".png", ".flac", ".wav"))
    write_labels(out, rows, {
        "recipe": "avmnist", "seed": seed, "per_digit": per_digit, "image_noise": image_noise, "occlude": occlude,
        "sources": {"fsdd": "Free Spoken Digit Dataset, CC BY-SA 4.0, Jakobovski et al.",
                    "mnist": "MNIST test set, LeCun, Cortes, Burges"},
    })
    return out

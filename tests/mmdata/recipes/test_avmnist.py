"""AV-MNIST recipe: pairs by digit, group = speaker, deterministic, optional degradation; ingests."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from mmdata.ingest.config import IngestConfig
from mmdata.ingest.run import run_ingest
from mmdata.manifest import read_raw_manifest
from mmdata.recipes.avmnist import degrade_image, prepare_avmnist, read_idx
from tests.mmdata.recipes.data import fake_shared_data, real_shared_data


def files(root):
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_pairs_each_recording_with_an_image_of_its_digit(tmp_path):
    data = fake_shared_data(tmp_path / "shared")
    out = prepare_avmnist(data, tmp_path / "av", seed=3)
    labels = (out / "labels.csv").read_text().splitlines()
    assert labels[0] == "key,label,group" and len(labels) == 1 + 3 * 2 * 2
    images, digits = read_idx(data / "mnist" / "images-idx3-ubyte.gz"), read_idx(data / "mnist" / "labels-idx1-ubyte.gz")
    for line in labels[1:]:
        key, label, group = line.split(",")
        assert key.split("_")[0] == label and key.split("_")[1] == group
        image = cv2.imread(str(out / label / f"{key}.png"), cv2.IMREAD_GRAYSCALE)
        matches = [i for i in range(len(images)) if np.array_equal(images[i], image)]
        assert matches and all(digits[i] == int(label) for i in matches)
        assert (out / label / f"{key}.flac").read_bytes() == (data / "fsdd" / f"{key}.flac").read_bytes()


def test_same_seed_same_corpus_and_noise_is_deterministic(tmp_path):
    data = fake_shared_data(tmp_path / "shared")
    clean = files(prepare_avmnist(data, tmp_path / "a", seed=1))
    assert files(prepare_avmnist(data, tmp_path / "b", seed=1)) == clean
    noisy = files(prepare_avmnist(data, tmp_path / "n1", seed=1, image_noise=0.8, occlude=True))
    assert files(prepare_avmnist(data, tmp_path / "n2", seed=1, image_noise=0.8, occlude=True)) == noisy
    changed = [k for k in clean if k.endswith(".png") and clean[k] != noisy[k]]
    assert len(changed) == 12
    flacs = [k for k in clean if k.endswith(".flac")]
    assert all(clean[k] == noisy[k] for k in flacs)  # only images are degraded


def test_per_digit_cap_keeps_every_speaker(tmp_path):
    out = prepare_avmnist(fake_shared_data(tmp_path / "shared"), tmp_path / "av", per_digit=2)
    groups = [line.split(",")[2] for line in (out / "labels.csv").read_text().splitlines()[1:]]
    assert len(groups) == 6 and set(groups) == {"ann", "bob"}


def test_bad_noise_level_is_refused(tmp_path):
    with pytest.raises(ValueError, match="image_noise"):
        prepare_avmnist(fake_shared_data(tmp_path / "shared"), tmp_path / "av", image_noise=1.5)


@pytest.mark.skipif(real_shared_data() is None, reason="../shared/data (fsdd + mnist) is not present")
def test_real_data_recipe_ingests_end_to_end(tmp_path):
    out = prepare_avmnist(real_shared_data(), tmp_path / "av", per_digit=4)
    run_ingest(IngestConfig(dirs=[str(out)], out=str(tmp_path / "raw"), progress=False))
    frame = read_raw_manifest(tmp_path / "raw")
    assert len(frame) == 80 and set(frame["status"]) == {"ok"}
    per_key = frame.groupby("key")["modality"].apply(lambda m: tuple(sorted(m)))
    assert set(per_key) == {("audio", "image")} and len(per_key) == 40
    assert set(frame["group"]) == {"george", "nicolas", "theo", "yweweler"}
    assert set(frame["mime"]) == {"audio/flac", "image/png"}


def test_rerun_with_fewer_samples_leaves_no_stale_files(tmp_path):
    data = fake_shared_data(tmp_path / "shared")
    out = prepare_avmnist(data, tmp_path / "av")
    assert len(list(out.glob("*/*.png"))) == 12
    prepare_avmnist(data, out, per_digit=1)
    assert len(list(out.glob("*/*.png"))) == len(list(out.glob("*/*.flac"))) == 3


def test_refuses_a_foreign_non_empty_folder(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.txt").write_text("do not prune me")
    with pytest.raises(FileExistsError, match="recipe.json"):
        prepare_avmnist(fake_shared_data(tmp_path / "shared"), tmp_path / "mine")


def test_no_image_is_paired_twice_and_a_short_pool_is_refused(tmp_path):
    data = fake_shared_data(tmp_path / "shared")
    out = prepare_avmnist(data, tmp_path / "av")
    pngs = [p.read_bytes() for p in out.glob("*/*.png")]
    assert len(pngs) == 12 and len(set(pngs)) == 12  # 4 images per digit, 4 recordings per digit
    more = fake_shared_data(tmp_path / "more", recordings_per_speaker=3)  # 6 recordings per digit, 4 images
    with pytest.raises(ValueError, match="only 4 MNIST images"):
        prepare_avmnist(more, tmp_path / "av2")


def test_occlusion_covers_a_square_of_the_given_side():
    image = np.zeros((28, 28), np.uint8)
    out = degrade_image(image, 0.0, True, np.random.default_rng(0), occlude_size=0.5)
    covered = np.argwhere(out != 0)
    assert len(covered) == 14 * 14
    assert np.ptp(covered[:, 0]) == 13 and np.ptp(covered[:, 1]) == 13
    assert np.array_equal(degrade_image(image, 0.0, False, np.random.default_rng(0)), image)

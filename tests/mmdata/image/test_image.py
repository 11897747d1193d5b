"""Image kernels and filters on images made in code, including hostile ones."""

from __future__ import annotations

import io
import struct
import zlib

import cv2
import numpy as np
import pytest
from PIL import Image

from mmdata.image.config import ImageConfig
from mmdata.image.filters import AspectFilter, BlurFilter, MinSizeFilter, PixelCapFilter
from mmdata.image.kernels import (
    ImageDropped,
    blur_variance,
    decode_image,
    perceptual_hash,
    probe_header,
    resize_image,
)
from mmdata.image.process import process_image


def textured(h: int, w: int, seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).random((h, w, 3)) * 255).astype(np.uint8)


def encode(img: np.ndarray, ext: str = ".png") -> bytes:
    return cv2.imencode(ext, img)[1].tobytes()


def pil_bytes(img: Image.Image, fmt: str, **kwargs) -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, fmt, **kwargs)
    return buffer.getvalue()


def png_bomb_header(width: int, height: int) -> bytes:
    """A PNG whose IHDR announces width x height but carries almost no data."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 10)) + chunk(b"IEND", b"")


def test_pixel_bomb_refused_from_header_before_decoding():
    data = png_bomb_header(50_000, 50_000)
    assert probe_header(data)[:2] == (50_000, 50_000)
    with pytest.raises(ImageDropped, match="image_too_many_pixels"):
        process_image(data, ImageConfig())


@pytest.mark.parametrize(("check", "value", "reason"), [
    (PixelCapFilter(100), (20, 20), "image_too_many_pixels"),
    (MinSizeFilter(8), (4, 100), "image_too_small"),
    (AspectFilter(3.0), (10, 40), "image_bad_aspect"),
    (BlurFilter(10.0), 1.5, "image_blurry"),
])
def test_filters_drop_with_reason(check, value, reason):
    assert check.filter(value) == (False, reason)


@pytest.mark.parametrize(("check", "value"), [
    (PixelCapFilter(400), (20, 20)), (MinSizeFilter(8), (8, 100)), (AspectFilter(4.0), (10, 40)), (BlurFilter(1.0), 1.5),
])
def test_filters_keep(check, value):
    assert check.filter(value) is True


def test_process_drops_with_exact_reasons():
    with pytest.raises(ImageDropped, match="^image_undecodable"):
        process_image(b"GIF89a truncated", ImageConfig())
    with pytest.raises(ImageDropped, match="^image_too_small$"):
        process_image(encode(textured(4, 4)), ImageConfig(min_side=8))
    with pytest.raises(ImageDropped, match="^image_bad_aspect$"):
        process_image(encode(textured(10, 200)), ImageConfig(max_aspect=5))
    flat = np.full((40, 40, 3), 128, np.uint8)
    with pytest.raises(ImageDropped, match="^image_blurry$"):
        process_image(encode(flat), ImageConfig(min_blur_var=5.0))


def test_truncated_image_is_dropped_not_crashed():
    data = encode(textured(64, 64), ".jpg")
    with pytest.raises(ImageDropped, match="image_undecodable"):
        process_image(data[:200], ImageConfig())


@pytest.mark.parametrize("mode", ["center_crop", "border", "keep_ratio"])
def test_resize_modes_give_fixed_size(mode):
    out = resize_image(textured(30, 60), 16, mode)
    assert out.shape == (16, 16, 3)


def test_border_and_keep_ratio_pad_where_expected():
    img = np.full((10, 40, 3), 255, np.uint8)
    border = resize_image(img, 20, "border")
    keep = resize_image(img, 20, "keep_ratio")
    assert border[0].max() == 0 and border[10].min() == 255  # letterbox above and below
    assert keep[0].min() == 255 and keep[-1].max() == 0  # image top-left, padding below


@pytest.mark.parametrize("make", [
    lambda: pil_bytes(Image.fromarray((np.arange(64 * 64).reshape(64, 64) % 65535).astype(np.uint16) * 16), "PNG"),
    lambda: pil_bytes(Image.new("CMYK", (40, 40), (0, 255, 255, 0)), "JPEG"),
    lambda: pil_bytes(Image.new("P", (40, 40), 3), "PNG"),
    lambda: pil_bytes(Image.new("L", (40, 40), 90), "PNG"),
    lambda: pil_bytes(Image.new("LA", (40, 40), (90, 128)), "PNG"),
    lambda: pil_bytes(Image.new("RGBA", (40, 40), (255, 0, 0, 0)), "PNG"),
    lambda: pil_bytes(Image.new("RGB", (40, 40), (10, 200, 30)), "WEBP"),
    lambda: pil_bytes(Image.new("RGB", (40, 40), (10, 200, 30)), "BMP"),
])
def test_modes_and_formats_become_3_channel_uint8(make):
    result = process_image(make(), ImageConfig(size=16, format="png"))
    img = cv2.imdecode(np.frombuffer(result.encoded, np.uint8), cv2.IMREAD_UNCHANGED)
    assert img.shape == (16, 16, 3) and img.dtype == np.uint8


def test_cmyk_red_stays_red_and_transparent_becomes_white():
    red = process_image(pil_bytes(Image.new("CMYK", (40, 40), (0, 255, 255, 0)), "JPEG"), ImageConfig(size=8))
    b, g, r = cv2.imdecode(np.frombuffer(red.encoded, np.uint8), cv2.IMREAD_COLOR)[4, 4]
    assert r > 200 and g < 60 and b < 60
    clear = process_image(pil_bytes(Image.new("RGBA", (40, 40), (255, 0, 0, 0)), "PNG"), ImageConfig(size=8))
    assert cv2.imdecode(np.frombuffer(clear.encoded, np.uint8), cv2.IMREAD_COLOR).min() == 255


def test_animated_gif_uses_the_first_frame():
    frames = [Image.new("RGB", (32, 32), color) for color in ((255, 0, 0), (0, 0, 255))]
    data = pil_bytes(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=50)
    result = process_image(data, ImageConfig(size=8))
    b, g, r = cv2.imdecode(np.frombuffer(result.encoded, np.uint8), cv2.IMREAD_COLOR)[4, 4]
    assert r > 200 and b < 60


def test_exif_orientation_is_applied():
    # A 20x40 (w x h) image whose top half is white, stored with EXIF orientation 6 (rotate 90 CW).
    pixels = np.zeros((40, 20, 3), np.uint8)
    pixels[:20] = 255
    exif = Image.Exif()
    exif[0x0112] = 6
    data = pil_bytes(Image.fromarray(pixels), "JPEG", exif=exif, quality=95)
    img = decode_image(data, has_alpha=False)
    assert img.shape[:2] == (20, 40)  # displayed landscape
    assert img[:, 30:].mean() > 200 and img[:, :10].mean() < 60  # white half now on the right


@pytest.mark.parametrize(("fmt", "magic"), [("jpg", b"\xff\xd8"), ("png", b"\x89PNG"), ("webp", b"RIFF")])
def test_encode_formats(fmt, magic):
    result = process_image(encode(textured(40, 40)), ImageConfig(size=16, format=fmt, quality=80))
    assert result.encoded.startswith(magic) and result.ext == fmt


def test_blur_and_phash():
    sharp = textured(64, 64)
    assert blur_variance(sharp) > blur_variance(cv2.GaussianBlur(sharp, (9, 9), 5))
    a, b = perceptual_hash(sharp), perceptual_hash(cv2.convertScaleAbs(sharp, alpha=0.95))
    other = perceptual_hash(textured(64, 64, seed=7))
    distance = lambda x, y: bin(int(x, 16) ^ int(y, 16)).count("1")  # noqa: E731
    assert distance(a, b) <= 4 < distance(a, other)


def test_standardization_is_deterministic():
    data = encode(textured(50, 70))
    assert process_image(data, ImageConfig()).encoded == process_image(data, ImageConfig()).encoded


def test_reduced_jpeg_decode_matches_full_decode():
    from mmdata.image.kernels import jpeg_reduction

    assert jpeg_reduction(800, 600, 64, "center_crop") == 8
    assert jpeg_reduction(800, 600, 224, "center_crop") == 2
    assert jpeg_reduction(800, 600, 224, "border") == 2
    assert jpeg_reduction(300, 200, 224, "center_crop") == 1
    smooth = cv2.GaussianBlur(textured(600, 800), (0, 0), 6)
    data = encode(smooth, ".jpg")
    full = resize_image(decode_image(data, has_alpha=False), 64, "center_crop")
    reduced = resize_image(decode_image(data, has_alpha=False, reduction=8), 64, "center_crop")
    assert reduced.shape == full.shape == (64, 64, 3)
    assert np.abs(reduced.astype(int) - full.astype(int)).mean() < 4


def test_reduced_decode_keeps_exif_orientation():
    pixels = np.zeros((400, 200, 3), np.uint8)
    pixels[:200] = 255
    exif = Image.Exif()
    exif[0x0112] = 6
    data = pil_bytes(Image.fromarray(pixels), "JPEG", exif=exif, quality=95)
    img = decode_image(data, has_alpha=False, reduction=4)
    assert img.shape[:2] == (50, 100) and img[:, 75:].mean() > 200 and img[:, :25].mean() < 60


def test_perceptual_hash_is_computed_only_when_asked():
    data = encode(textured(50, 70))
    with_hash, without = process_image(data, ImageConfig()), process_image(data, ImageConfig(), signature=False)
    assert len(with_hash.phash) == 16 and int(with_hash.phash, 16) >= 0  # 64-bit pHash, hex
    assert without.phash is None and without.encoded == with_hash.encoded and without.stats == with_hash.stats

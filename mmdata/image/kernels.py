"""Pure image kernels on OpenCV arrays (uint8 BGR, HxWx3)."""

from __future__ import annotations

import io
import warnings

import cv2
import imagehash
import numpy as np
from PIL import Image

from mmdata.errors import describe_error


class ImageDropped(Exception):
    """The image was rejected; ``args[0]`` is the reason."""


def probe_header(data: bytes) -> tuple[int, int, str, str]:
    """(width, height, format, mode) read from the header only (PIL's lazy open decodes no pixels)."""
    with warnings.catch_warnings():
        # We enforce our own pixel cap; PIL's bomb warning is noise here.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        previous = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = None  # the caller compares against its own cap before any decode
        try:
            with Image.open(io.BytesIO(data)) as img:
                return img.width, img.height, (img.format or "").lower(), img.mode
        except (OSError, SyntaxError, ValueError) as err:
            raise ImageDropped(f"image_undecodable: {describe_error(err)}") from None
        finally:
            Image.MAX_IMAGE_PIXELS = previous


def _composite_on_white(img: np.ndarray) -> np.ndarray:
    alpha = img[:, :, 3:4].astype(np.float32) / (65535.0 if img.dtype == np.uint16 else 255.0)
    color = img[:, :, :3].astype(np.float32)
    white = 65535.0 if img.dtype == np.uint16 else 255.0
    return (color * alpha + white * (1.0 - alpha)).astype(img.dtype)


def to_bgr8(img: np.ndarray) -> np.ndarray:
    """Any decoded array (gray, gray+alpha, BGR, BGRA; 8/16-bit or float) -> uint8 BGR."""
    if img.dtype == np.uint16:
        img = (img >> 8).astype(np.uint8) if img.ndim == 2 else img
    if img.ndim == 3 and img.shape[2] == 4:
        img = _composite_on_white(img)
    elif img.ndim == 3 and img.shape[2] == 2:
        gray, alpha = img[:, :, 0], img[:, :, 1]
        img = _composite_on_white(np.dstack([gray, gray, gray, alpha]))
    if img.dtype == np.uint16:
        img = (img >> 8).astype(np.uint8)
    elif img.dtype != np.uint8:
        img = np.clip(np.nan_to_num(img.astype(np.float32)) * (255.0 if img.max() <= 1.0 else 1.0), 0, 255).astype(np.uint8)
    if img.ndim == 2:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    elif img.shape[2] == 1:
        img = cv2.cvtColor(img[:, :, 0], cv2.COLOR_GRAY2BGR)
    return img


_REDUCED_FLAGS = {8: cv2.IMREAD_REDUCED_COLOR_8, 4: cv2.IMREAD_REDUCED_COLOR_4, 2: cv2.IMREAD_REDUCED_COLOR_2}


def jpeg_reduction(width: int, height: int, size: int, mode: str) -> int:
    """Largest JPEG decode reduction (8, 4, 2 or 1) that still leaves enough pixels for a ``size`` output.

    libjpeg can decode at 1/2, 1/4, 1/8 scale in the DCT domain, far faster than a full decode
    followed by a large INTER_AREA downscale, with comparable quality (PIL's ``draft`` does the same).
    """
    side = min(width, height) if mode == "center_crop" else max(width, height)
    for factor in (8, 4, 2):
        if side // factor >= size:
            return factor
    return 1


def decode_image(data: bytes, has_alpha: bool, reduction: int = 1) -> np.ndarray:
    """Decode to uint8 BGR: EXIF orientation applied (IMREAD_COLOR), alpha composited on white.

    OpenCV drops alpha under IMREAD_COLOR, so images with alpha are read UNCHANGED and composited;
    formats OpenCV cannot read (e.g. some GIFs) fall back to PIL (the pixel cap was checked already).
    ``reduction`` > 1 decodes a JPEG at 1/reduction scale.
    """
    buffer = np.frombuffer(data, np.uint8)
    flags = cv2.IMREAD_UNCHANGED if has_alpha else _REDUCED_FLAGS.get(reduction, cv2.IMREAD_COLOR)
    img = cv2.imdecode(buffer, flags)
    if img is None:
        try:
            with Image.open(io.BytesIO(data)) as pil:
                pil.seek(0)  # first frame of an animation
                rgba = np.asarray(pil.convert("RGBA"))
        except (OSError, SyntaxError, ValueError) as err:
            raise ImageDropped(f"image_undecodable: {describe_error(err)}") from None
        img = cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGRA)
    if img.size == 0:
        raise ImageDropped("image_undecodable: empty image")
    return to_bgr8(img)


def resize_image(img: np.ndarray, size: int, mode: str = "center_crop", border_value: int = 0) -> np.ndarray:
    """Resize to ``size`` x ``size``: ``center_crop`` (fill then crop), ``border`` / ``keep_ratio`` (fit then pad).

    ``border`` centers the fitted image in the letterbox; ``keep_ratio`` puts it top-left so the
    original aspect ratio and origin are kept.
    """
    h, w = img.shape[:2]
    if mode == "center_crop":
        scale = size / min(h, w)
    elif mode in ("border", "keep_ratio"):
        scale = size / max(h, w)
    else:
        raise ValueError(f"unknown resize mode {mode!r}")
    new_w, new_h = max(1, round(w * scale)), max(1, round(h * scale))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    resized = cv2.resize(img, (new_w, new_h), interpolation=interp)
    if mode == "center_crop":
        top, left = (new_h - size) // 2, (new_w - size) // 2
        return np.ascontiguousarray(resized[top : top + size, left : left + size])
    pad_h, pad_w = size - new_h, size - new_w
    top, left = (pad_h // 2, pad_w // 2) if mode == "border" else (0, 0)
    return cv2.copyMakeBorder(resized, top, pad_h - top, left, pad_w - left, cv2.BORDER_CONSTANT,
                              value=(border_value,) * 3)


def encode_image(img: np.ndarray, fmt: str, quality: int) -> bytes:
    """Encode to JPEG/PNG/WebP bytes at ``quality`` (deterministic: no metadata is written)."""
    if fmt == "jpg":
        params = [cv2.IMWRITE_JPEG_QUALITY, quality]
    elif fmt == "webp":
        params = [cv2.IMWRITE_WEBP_QUALITY, quality]
    elif fmt == "png":
        params = [cv2.IMWRITE_PNG_COMPRESSION, min(9, quality // 10)]
    else:
        raise ValueError(f"unknown image format {fmt!r}")
    ok, encoded = cv2.imencode(f".{fmt}", img, params)
    if not ok:
        raise ValueError(f"OpenCV could not encode a {img.shape} image as {fmt}")
    return encoded.tobytes()


def blur_variance(img: np.ndarray) -> float:
    """Variance of the Laplacian of the gray image (low = blurry or flat)."""
    gray = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY) if img.ndim == 3 else img
    _, std = cv2.meanStdDev(cv2.Laplacian(gray, cv2.CV_32F))
    return float(std[0, 0] ** 2)


def perceptual_hash(img: np.ndarray) -> str:
    """imagehash pHash (64 bits, hex) of the image.

    The 32x32 gray thumbnail pHash works on is made with OpenCV first, so imagehash's own
    PIL resize has nothing left to do.
    """
    gray = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY) if img.ndim == 3 else img
    thumb = cv2.resize(gray, (32, 32), interpolation=cv2.INTER_AREA)
    return str(imagehash.phash(Image.fromarray(thumb)))


def denoise_image(img: np.ndarray) -> np.ndarray:
    """Non-local means denoising (OpenCV); slow, off by default."""
    return cv2.fastNlMeansDenoisingColored(img, None, 5, 5, 7, 21)

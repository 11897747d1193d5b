"""A hostile corpus made in code: every kind of bad input, with the final state it must reach.

`write_hostile_corpus(root)` writes a directory source (``root/corpus``, labels from the parent
folder ``cat`` / ``dog``) and a hostile table (``root/table.csv``) and returns the cases. Each case
says the manifest state its items must reach after ingest and the state its sample must reach after
build, with the prefix the reason must start with. The 100 MB text is written only when asked
(``big=True``) because it costs a second of disk I/O.
"""

from __future__ import annotations

import io
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import soundfile as sf
from PIL import Image

OK, DROPPED, FAILED = "ok", "dropped", "failed"


@dataclass(frozen=True)
class HostileCase:
    """One bad input and what the pipeline must make of it."""

    name: str
    modality: str
    files: tuple[str, ...]  # paths relative to the corpus root (or the table) that hold the case
    ingest: str  # status of its raw item(s) after ingest
    ingest_reason: str = ""  # prefix the ingest reason must start with ("" = any, or none for ok)
    build: str | None = None  # status of its sample after build (None = never reaches build)
    build_reason: str = ""
    key: str | None = None  # the sample key, when it differs from the file stem
    note: str = ""


# ---- media makers (tiny, deterministic) -------------------------------------------------------


def _image_bytes(mode: str, fmt: str, size: tuple[int, int] = (48, 40), seed: int = 0, **save) -> bytes:
    rng = np.random.default_rng(seed)
    rgb = rng.integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8)
    image = Image.fromarray(rgb, "RGB")
    if mode == "P":
        image = image.quantize(16)
    elif mode != "RGB":
        image = image.convert(mode)
    buf = io.BytesIO()
    image.save(buf, fmt, **save)
    return buf.getvalue()


def png_16bit(seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    rgb16 = rng.integers(0, 65535, size=(40, 48, 3), dtype=np.uint16)
    ok, encoded = cv2.imencode(".png", rgb16)  # PIL cannot write 16-bit colour PNGs; OpenCV can
    assert ok
    return encoded.tobytes()


def png_declaring(width: int, height: int) -> bytes:
    """A valid-looking PNG whose IHDR declares ``width x height`` pixels; the file stays tiny."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    # One compressed empty scanline: decoders must refuse from the header, before inflating.
    idat = zlib.compress(b"\0" * (1 + 3 * min(width, 1024)))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def animated_gif(seed: int = 0) -> bytes:
    frames = [Image.fromarray(np.full((32, 32, 3), 40 * i + seed % 50, np.uint8)) for i in range(4)]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    return buf.getvalue()


def tone(seconds: float, rate: int, channels: int = 1, freq: float = 440.0) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    wave = 0.4 * np.sin(2 * np.pi * freq * t)
    return np.repeat(wave[:, None], channels, axis=1).astype(np.float32)


def audio_bytes(data: np.ndarray, rate: int, fmt: str = "WAV", subtype: str = "PCM_16") -> bytes:
    buf = io.BytesIO()
    sf.write(buf, data, rate, format=fmt, subtype=subtype)
    return buf.getvalue()


def wav_with_values(value: float, rate: int = 8000) -> bytes:
    """Float WAV whose middle holds non-finite samples (NaN or inf)."""
    data = tone(0.5, rate)
    data[1000:3000, 0] = value
    return audio_bytes(data, rate, subtype="FLOAT")


def wav_corrupt_header() -> bytes:
    good = audio_bytes(tone(0.5, 8000), 8000)
    # Keep RIFF/WAVE (it still sniffs as audio) but smash the fmt chunk: channels 0, rate 0.
    return good[:22] + b"\0\0" + b"\0\0\0\0" + b"\xff" * 10 + good[38:]


# ---- the corpus --------------------------------------------------------------------------------

GOOD_TEXTS = [
    "The quick brown fox jumps over the lazy dog near the river bank today.",
    "A small red boat drifted slowly along the calm water of the lake at dawn.",
    "Engineers measured the bridge and found every bolt tight and every beam true.",
    "Fresh bread from the village bakery smelled of butter, salt and warm crust.",
]


def _good_files() -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    for i in range(8):
        label = "cat" if i % 2 == 0 else "dog"
        files[f"{label}/good{i:02d}.png"] = _image_bytes("RGB", "PNG", seed=100 + i)
        files[f"{label}/good{i:02d}.flac"] = audio_bytes(tone(0.6, 8000, freq=300 + 50 * i), 8000, "FLAC")
        files[f"{label}/good{i:02d}.txt"] = (GOOD_TEXTS[i % 4] + f" Sample number {i} of {label}.").encode()
    return files


def _hostile_files() -> tuple[dict[str, bytes], list[HostileCase]]:
    f: dict[str, bytes] = {}
    cases: list[HostileCase] = []

    def add(name: str, rel: str, data: bytes, modality: str, ingest: str, ingest_reason: str = "",
            build: str | None = None, build_reason: str = "", key: str | None = None, note: str = "") -> None:
        f[rel] = data
        cases.append(HostileCase(name, modality, (rel,), ingest, ingest_reason, build, build_reason, key, note))

    jpeg = _image_bytes("RGB", "JPEG", seed=1)
    png = _image_bytes("RGB", "PNG", seed=2)
    # images
    add("jpeg_truncated", "cat/jpeg_truncated.jpg", jpeg[: len(jpeg) // 2], "image", OK, build=DROPPED,
        build_reason="image:image_undecodable")
    add("png_truncated", "cat/png_truncated.png", png[: len(png) // 2], "image", OK, build=DROPPED,
        build_reason="image:image_undecodable")
    add("image_zero_byte", "cat/image_zero_byte.png", b"", "image", DROPPED, "empty_file")
    add("png_magic_garbage", "cat/png_magic_garbage.png", b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4, "image", OK,
        build=DROPPED, build_reason="image:image_undecodable", note="PNG signature, then garbage")
    add("png_named_jpg", "dog/png_named_jpg.jpg", _image_bytes("RGB", "PNG", seed=3), "image", OK, build=OK,
        note="wrong extension: content decides")
    add("png_pixel_bomb", "dog/png_pixel_bomb.png", png_declaring(50_000, 50_000), "image", OK,
        build=DROPPED, build_reason="image:image_too_many_pixels", note="50,000 x 50,000 declared in a tiny file")
    add("jpeg_cmyk", "cat/jpeg_cmyk.jpg", _image_bytes("CMYK", "JPEG", seed=4), "image", OK, build=OK)
    add("png_16bit", "dog/png_16bit.png", png_16bit(5), "image", OK, build=OK)
    add("png_palette", "cat/png_palette.png", _image_bytes("P", "PNG", seed=6), "image", OK, build=OK)
    add("png_alpha", "dog/png_alpha.png", _image_bytes("RGBA", "PNG", seed=7), "image", OK, build=OK)
    add("gif_animated", "cat/gif_animated.gif", animated_gif(8), "image", OK, build=OK)
    add("text_named_png", "dog/text_named_png.png", b"just some words, not an image at all\n" * 3, "image",
        DROPPED, "unexpected_type")
    add("image_tiny_2px", "cat/image_tiny_2px.png", _image_bytes("RGB", "PNG", size=(2, 2)), "image", OK,
        build=DROPPED, build_reason="image:image_too_small")
    # audio
    add("wav_corrupt_header", "dog/wav_corrupt_header.wav", wav_corrupt_header(), "audio", OK,
        build=DROPPED, build_reason="audio:audio_undecodable")
    add("wav_zero_frames", "cat/wav_zero_frames.wav", audio_bytes(np.zeros((0, 1), np.float32), 8000), "audio",
        OK, build=DROPPED, build_reason="audio:audio_empty")
    add("audio_zero_byte", "cat/audio_zero_byte.flac", b"", "audio", DROPPED, "empty_file")
    add("wav_nan", "dog/wav_nan.wav", wav_with_values(float("nan")), "audio", OK, build=DROPPED,
        build_reason="audio:audio_non_finite")
    add("wav_inf", "cat/wav_inf.wav", wav_with_values(float("inf")), "audio", OK, build=DROPPED,
        build_reason="audio:audio_non_finite")
    add("wav_24bit", "dog/wav_24bit.wav", audio_bytes(tone(0.5, 8000), 8000, subtype="PCM_24"), "audio", OK, build=OK)
    add("wav_96khz", "cat/wav_96khz.wav", audio_bytes(tone(0.5, 96_000), 96_000), "audio", OK, build=OK)
    add("wav_6ch", "dog/wav_6ch.wav", audio_bytes(tone(0.5, 8000, channels=6), 8000), "audio", OK, build=OK)
    add("audio_too_long", "cat/audio_too_long.flac", audio_bytes(tone(90.0, 4000), 4000, "FLAC"), "audio", OK,
        build=DROPPED, build_reason="audio:audio_too_long", note="90 s against a 60 s cap")
    add("audio_hour_long", "dog/audio_hour_long.wav", audio_bytes(tone(3600.0, 1000, freq=110.0), 1000, subtype="PCM_U8"),
        "audio", OK, build=DROPPED, build_reason="audio:audio_too_long",
        note="one hour against a 60 s cap: refused from the header, never decoded")
    add("flac_named_wav", "dog/flac_named_wav.wav", audio_bytes(tone(0.5, 8000), 8000, "FLAC"), "audio", OK, build=OK)
    add("wav_silent", "cat/wav_silent.wav", audio_bytes(np.zeros((4000, 1), np.float32), 8000), "audio", OK,
        build=DROPPED, build_reason="audio:audio_silent")
    # text
    latin1 = "Café crème brûlée à la française, naïve façade et garçon.".encode("latin-1")
    add("text_latin1", "cat/text_latin1.txt", latin1, "text", OK, build=OK)
    add("text_mixed_encoding", "dog/text_mixed_encoding.txt",
        "Ünïcödé line in UTF-8 here.\n".encode() + "Zweite Zeile in Latin-1: Grüße aus Köln.\n".encode("latin-1"),
        "text", OK, build=OK)
    add("text_mojibake", "cat/text_mojibake.txt", "The cafÃ© served crÃ¨me brÃ»lÃ©e and â€œgoodâ€\x9d coffee.".encode(),
        "text", OK, build=OK)
    html = ("<html><head><style>body{color:red}</style><script>alert('SCRIPTPAYLOAD')</script></head><body>"
            "<iframe src='http://evil.example/'>IFRAMEPAYLOAD</iframe><p>Real article text about rivers and "
            "mountains that a reader would want to keep.</p><script>var x='SCRIPTPAYLOAD';</script></body></html>")
    add("html_script_style_iframe", "dog/html_script_style_iframe.txt", html.encode(), "text", OK, build=OK)
    add("text_zero_byte", "cat/text_zero_byte.txt", b"", "text", DROPPED, "empty_file")
    add("text_whitespace_only", "dog/text_whitespace_only.txt", b"   \n\t\n   \n", "text", OK,
        build=DROPPED, build_reason="text:text_too_short")
    add("text_binary_garbage", "cat/text_binary_garbage.txt", bytes(range(256)) * 8, "text", DROPPED, "unsupported_type")
    add("text_utf16_bom", "dog/text_utf16_bom.txt", "A line of UTF-16 text with a byte order mark here.".encode("utf-16"),
        "text", OK, build=OK)
    add("text_control_chars", "cat/text_control_chars.txt",
        b"Plain words with a\x07 bell and\x1b escape control characters inside them.", "text", OK, build=OK)
    # keys
    add("key_spaces", "dog/key with spaces.txt", b"A sample whose key has spaces in it, fine to keep.", "text", OK,
        build=OK, key="key_with_spaces")
    add("key_dots", "cat/key.with.dots.txt", b"A sample whose key has dots, which WebDataset splits on.", "text", OK,
        build=OK, key="key_with_dots", note="dots would split WebDataset fields")
    add("key_unicode", "dog/ключ_猫_é.txt", b"Unicode key sample with enough words to pass filters.", "text", OK,
        build=OK, key="ключ_猫_é")
    f["cat/dupkey.txt"] = b"First of two files sharing the stem dupkey in different label folders."
    f["dog/dupkey.txt"] = b"Second of two files sharing the stem dupkey in different label folders."
    cases.append(HostileCase("duplicate_key_first", "text", ("cat/dupkey.txt",), OK, build=OK, key="dupkey"))
    cases.append(HostileCase("duplicate_key_second", "text", ("dog/dupkey.txt",), DROPPED, "duplicate_key", build=OK,
                             key="dupkey", note="same stem in another label folder: the first file wins"))
    return f, cases


def write_table(root: Path) -> tuple[Path, list[HostileCase]]:
    """A CSV with hostile rows: `../` keys, file:// and private URLs, missing files, malformed rows."""
    table = root / "table.csv"
    rows = [
        "key,text,image,label,group",
        "tbl_ok,A perfectly normal inline text row about gardens and flowers.,,cat,g1",
        "../../escape,Inline text whose key tries to climb out of the output directory.,,dog,g2",
        "tbl_file_scheme,file:///etc/passwd,,cat,g3",
        "tbl_missing_file,,no_such_dir/missing.png,dog,g4",
        "tbl_private_url,,http://169.254.169.254/latest/meta-data.png,cat,g5",
        "tbl_short_row,Only a key and a text cell here",
        "tbl_long_row,Text with too many cells in its row for the header.,,cat,g6,extra,more",
        'tbl_malformed,"unterminated quote,cat',
    ]
    table.write_text("\n".join(rows) + "\n", encoding="utf-8")
    cases = [
        HostileCase("table_ok_row", "text", ("table.csv",), OK, build=OK, key="tbl_ok"),
        HostileCase("key_dotdot", "text", ("table.csv",), OK, build=OK, key="escape",
                    note="must not escape the output; member names stay safe"),
        HostileCase("url_file_scheme", "text", ("table.csv",), DROPPED, "unsupported_scheme", key="tbl_file_scheme"),
        HostileCase("table_missing_file", "image", ("table.csv",), FAILED, "file_not_found", key="tbl_missing_file"),
        HostileCase("url_link_local", "image", ("table.csv",), DROPPED, "private_address", key="tbl_private_url",
                    note="cloud metadata address refused without --allow-private-network"),
        HostileCase("table_short_row", "unknown", ("table.csv",), DROPPED, "malformed_row", key="table-000005",
                    note="fewer cells than the header has columns"),
        HostileCase("table_long_row", "unknown", ("table.csv",), DROPPED, "malformed_row", key="table-000006",
                    note="more cells than the header has columns"),
        HostileCase("table_malformed_row", "unknown", ("table.csv",), DROPPED, "malformed_row", key="table-000007",
                    note="unterminated quote swallows the rest of the file"),
    ]
    return table, cases


def write_missing_columns_table(root: Path) -> Path:
    """A table with none of the modality columns: ingest must refuse it with a clear message."""
    table = root / "no_columns.csv"
    table.write_text("key,label,colour\nx1,cat,red\nx2,dog,blue\n", encoding="utf-8")
    return table


def write_hostile_corpus(root: str | Path, big: bool = False) -> list[HostileCase]:
    """Write the corpus under ``root/corpus`` and ``root/table.csv``; return every case."""
    root = Path(root)
    corpus = root / "corpus"
    files, cases = _hostile_files()
    for rel, data in {**_good_files(), **files}.items():
        path = corpus / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    if big:
        big_path = corpus / "dog" / "text_100mb.txt"
        line = b"All work and no play makes a very long text file that nobody should load whole.\n"
        with open(big_path, "wb") as fh:
            for _ in range(100 * 1024 * 1024 // len(line) + 1):
                fh.write(line)
        cases.append(HostileCase("text_100mb", "text", ("dog/text_100mb.txt",), DROPPED, "too_large"))
    _, table_cases = write_table(root)
    return cases + table_cases


# ---- checking a run against the cases ----------------------------------------------------------


def _raw_rows(case: HostileCase, raw, corpus: Path) -> list[dict]:
    if case.files == ("table.csv",):
        return raw[raw["key"] == case.key].to_dict("records")
    wanted = {str(corpus / rel) for rel in case.files}
    return raw[raw["uri"].isin(wanted)].to_dict("records")


def _state_matches(status: str, reason: str, want_status: str, want_prefix: str) -> bool:
    return status == want_status and reason.startswith(want_prefix)


def observe(cases: list[HostileCase], root: str | Path, raw, built=None) -> list[dict]:
    """One row per case: expected and observed ingest/build state, and whether both match.

    ``raw`` / ``built`` are the ingest and build manifests (pandas frames); ``built`` may be None.
    """
    corpus = Path(root) / "corpus"
    rows = []
    for case in cases:
        raw_rows = _raw_rows(case, raw, corpus)
        if len(raw_rows) == 1:
            ingest_status, ingest_reason = raw_rows[0]["status"], raw_rows[0]["reason"] or ""
        else:
            ingest_status, ingest_reason = "missing" if not raw_rows else "several", ""
        ingest_ok = _state_matches(ingest_status, ingest_reason, case.ingest, case.ingest_reason)
        row = {"case": case.name, "modality": case.modality, "note": case.note,
               "ingest_expected": f"{case.ingest} {case.ingest_reason}".strip(),
               "ingest_observed": f"{ingest_status} {ingest_reason}".strip(), "ingest_pass": ingest_ok}
        if built is not None:
            key = case.key or Path(case.files[0]).stem
            want_status = case.build or (DROPPED if case.ingest != OK else OK)
            want_prefix = case.build_reason if case.build else (f"raw_{case.ingest}" if case.ingest != OK else "")
            found = built[built["key"] == key].to_dict("records")
            if len(found) == 1:
                status, reason = found[0]["status"], found[0]["reason"] or ""
            else:
                status, reason = "missing" if not found else "several", ""
            row.update(build_expected=f"{want_status} {want_prefix}".strip(), build_observed=f"{status} {reason}".strip(),
                       build_pass=_state_matches(status, reason, want_status, want_prefix))
        rows.append(row)
    return rows

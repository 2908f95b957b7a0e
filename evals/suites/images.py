"""Images: read or render once at load time into `ImageInput`, and check them against the model card.

Encoding happens here so that it never falls inside a timed request, and a card's limits are enforced before
anything is sent.
"""

from __future__ import annotations

import base64
import io
import warnings
from collections.abc import Iterable
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from evals.cards import ModelCard
from evals.errors import UserInputError
from evals.types import ImageInput, Sample

# Pillow format name -> Converse format name
_FORMATS = {"PNG": "png", "JPEG": "jpeg", "GIF": "gif", "WEBP": "webp"}
_SAVE_OPTIONS: dict[str, dict[str, object]] = {"jpeg": {"quality": 90}, "webp": {"quality": 90},
                                               "png": {"optimize": False}}


def encode(image: Image.Image, fmt: str, source: str = "") -> ImageInput:
    """Encode a Pillow image into `fmt` (png | jpeg | webp | gif) bytes."""
    fmt = fmt.lower()
    pil_name = {v: k for k, v in _FORMATS.items()}.get(fmt)
    if pil_name is None:
        raise ValueError(f"unsupported image format {fmt!r}")
    if fmt == "jpeg" and image.mode not in ("RGB", "L"):
        image = image.convert("RGB")
    buf = io.BytesIO()
    image.save(buf, format=pil_name, **_SAVE_OPTIONS.get(fmt, {}))
    return ImageInput(format=fmt, data=buf.getvalue(), width=image.width, height=image.height, source=source)


def from_bytes(data: bytes, source: str, origin: str) -> ImageInput:
    """Wrap already-encoded bytes, re-encoding as PNG only when the format is not one Bedrock accepts."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)  # one line, not a stderr warning
            with Image.open(io.BytesIO(data)) as img:
                img.load()
                fmt = _FORMATS.get(img.format or "")
                if fmt is None:
                    return encode(img, "png", source=source)
                return ImageInput(format=fmt, data=data, width=img.width, height=img.height, source=source)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise UserInputError(f"{origin}: image {source or '<bytes>'} is too large to decode safely: "
                             f"{str(err).split(',')[0]}") from None
    except (UnidentifiedImageError, OSError, ValueError) as err:
        raise UserInputError(f"{origin}: image {source or '<bytes>'} is unreadable: {err}") from None


def from_file(path: Path, origin: str) -> ImageInput:
    try:
        data = path.read_bytes()
    except OSError as err:
        raise UserInputError(f"{origin}: image {path} cannot be read: {err.strerror or err}") from None
    return from_bytes(data, str(path), origin)


def check_against_card(samples: tuple[Sample, ...], card: ModelCard, origin: str) -> None:
    """Refuse images a model cannot take: text-only card, too many, wrong format, too large."""
    limits = card.images
    for sample in samples:
        if not sample.images:
            continue
        where = f"{origin}: item {sample.id!r}"
        if "image" not in card.input_modalities:
            raise UserInputError(f"{where}: has images but model {card.name} takes text only")
        if limits.max_count and len(sample.images) > limits.max_count:
            raise UserInputError(f"{where}: {len(sample.images)} images, model {card.name} takes {limits.max_count}")
        for img in sample.images:
            label = img.source or "image"
            if limits.formats and img.format not in limits.formats:
                raise UserInputError(f"{where}: {label} is {img.format}; model {card.name} takes {limits.formats}")
            if limits.max_bytes and len(img.data) > limits.max_bytes:
                raise UserInputError(
                    f"{where}: {label} is {len(img.data)} bytes, over the {limits.max_bytes}-byte limit of {card.name}"
                )
            if limits.max_side_px and max(img.width, img.height) > limits.max_side_px:
                raise UserInputError(
                    f"{where}: {label} is {img.width}x{img.height} px, over the {limits.max_side_px} px limit "
                    f"of {card.name}"
                )


THUMBNAILS_FILE = "thumbnails.json"  # in the run directory, read by the report's sample viewer
THUMBNAIL_PX = 160  # longest side of a report thumbnail
THUMBNAIL_CAP = 300  # samples with thumbnails per run (the report's viewer shows a few hundred items at most)


def thumbnail_uri(image: ImageInput) -> str | None:
    """A small JPEG of the image as a data: URI for the report, or None when it cannot be decoded.

    Re-encoded by Pillow, so what reaches the page is always a plain raster image, whatever the suite held.
    """
    try:
        with Image.open(io.BytesIO(image.data)) as img:
            img.thumbnail((THUMBNAIL_PX, THUMBNAIL_PX))
            buf = io.BytesIO()
            img.convert("RGB").save(buf, format="JPEG", quality=75)
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        return None
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def thumbnails(suites: Iterable[tuple[str, Iterable[Sample]]], cap: int = THUMBNAIL_CAP) -> dict[str, list[str]]:
    """`suite\\tsample_id` -> thumbnails of the sample's images, for the first `cap` samples with images."""
    out: dict[str, list[str]] = {}
    for suite, samples in suites:
        for sample in samples:
            if len(out) >= cap:
                return out
            uris = [uri for img in sample.images if (uri := thumbnail_uri(img)) is not None]
            if uris:
                out[f"{suite}\t{sample.id}"] = uris
    return out

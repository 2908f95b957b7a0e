"""Item sources that read data: a JSONL file, or a Hugging Face dataset through `datasets.load_dataset`.

Both map records to `Item`s the same way (field mapping, image field, cluster field), so a suite can move
between shipped JSONL and a pinned hub dataset without changing its template or scorers.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from evals.errors import UserInputError
from evals.suites import hub
from evals.suites import images as imagelib
from evals.suites.items import Item
from evals.types import ImageInput

LETTERS = "ABCDEFGHIJ"


class Mapper:
    """Turns one record into an `Item` using a suite's field mapping (`fields`, `images`, `cluster`)."""

    def __init__(self, definition: Mapping[str, Any], origin: str, base_dir: Path | None) -> None:
        fields = dict(definition.get("fields") or {})
        unknown = sorted(set(fields) - {"id", "answer", "meta"})
        if unknown:
            raise UserInputError(f"{origin}: fields.{unknown[0]}: unknown mapping (use id, answer, meta)")
        self.origin = origin
        self.base_dir = base_dir
        self.id_field = fields.get("id")
        self.answer_field = fields.get("answer")
        self.meta_field = fields.get("meta", "meta")
        self.answer_letters = bool(definition.get("answer_letters", False))
        image_spec = definition.get("images") or {}
        if isinstance(image_spec, str):
            image_spec = {"field": image_spec}
        if not isinstance(image_spec, Mapping) or set(image_spec) - {"field"}:
            raise UserInputError(f"{origin}: images: must be the image field's name or {{field: NAME}}")
        self.image_field = image_spec.get("field")
        self.cluster_field = definition.get("cluster")

    def check_columns(self, columns: Iterable[str], images_optional: bool = False) -> None:
        """A mapping that names a column the data lacks is a user error, reported before any item is built.

        In JSONL the image field may be absent from every line (a text-only file for an image-capable suite).
        """
        have = set(columns)
        image_field = None if images_optional else self.image_field
        for key, name in (("fields.id", self.id_field), ("fields.answer", self.answer_field),
                          ("images.field", image_field), ("cluster", self.cluster_field)):
            if name and name not in have:
                raise UserInputError(f"{self.origin}: {key}: no field {name!r} (fields: {', '.join(sorted(have))})")

    def item(self, record: Mapping[str, Any], index: int, where: str) -> Item:
        def need(name: str, key: str) -> Any:
            if name not in record:
                raise UserInputError(f"{where}: missing field {name!r} (mapped by {key})")
            return record[name]

        if self.id_field:
            item_id = str(need(self.id_field, "fields.id"))
        else:
            item_id = str(record["id"]) if "id" in record else str(index)
        answer = need(self.answer_field, "fields.answer") if self.answer_field else record.get("answer")
        if self.answer_letters and isinstance(answer, int):
            answer = LETTERS[answer]
        meta = record.get(self.meta_field) if self.meta_field else None
        if meta is not None and not isinstance(meta, Mapping):
            raise UserInputError(f"{where}: field {self.meta_field!r} must be a mapping")
        cluster = str(need(self.cluster_field, "cluster")) if self.cluster_field else None
        images: tuple[ImageInput, ...] = ()
        if self.image_field and record.get(self.image_field) is not None:
            images = self._images(record[self.image_field], where)
        fields = {k: v for k, v in record.items() if k != self.image_field}
        fields.setdefault("id", item_id)
        return Item(id=item_id, fields=fields, answer=answer, images=images, meta=dict(meta or {}), cluster=cluster)

    def _images(self, value: Any, where: str) -> tuple[ImageInput, ...]:
        values = value if isinstance(value, list | tuple) else [value]
        out = []
        for v in values:
            if isinstance(v, str):
                path = Path(v)
                if not path.is_absolute() and self.base_dir is not None:
                    path = self.base_dir / path
                out.append(imagelib.from_file(path, where))
            elif isinstance(v, Mapping) and (v.get("bytes") or v.get("path")):
                if v.get("bytes"):
                    out.append(imagelib.from_bytes(v["bytes"], str(v.get("path") or "dataset image"), where))
                else:
                    out.append(imagelib.from_file(Path(v["path"]), where))
            else:
                raise UserInputError(f"{where}: field {self.image_field!r} is not an image path or image")
        return tuple(out)


def read_jsonl(path: Path, mapper: Mapper, key: str) -> list[Item]:
    """Items from a JSONL file; image paths resolve relative to the file."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise UserInputError(f"{key}: file {path} not found") from None
    except (OSError, UnicodeDecodeError) as err:
        raise UserInputError(f"{key}: cannot read {path}: {err}") from None
    items = []
    columns: set[str] = set()
    records = []
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise UserInputError(f"{path}:{n}: not valid JSON: {err.msg}") from None
        if not isinstance(record, dict):
            raise UserInputError(f"{path}:{n}: each line must be a JSON object")
        columns.update(record)
        records.append((n, record))
    if not records:
        raise UserInputError(f"{path}: no items")
    mapper.check_columns(columns, images_optional=True)
    for index, (n, record) in enumerate(records):
        items.append(mapper.item(record, index, f"{path}:{n}"))
    return items


def read_hf(dataset: Mapping[str, Any], mapper: Mapper, key: str) -> list[Item]:
    """Items from `datasets.load_dataset(path, name, split=..., revision=...)`; image columns come as bytes."""
    import datasets  # heavy import, only for suites that use it

    path = dataset.get("path")
    if not path:
        raise UserInputError(f"{key}.path: missing dataset path")
    local = Path(str(path)).expanduser()
    revision = dataset.get("revision")
    if not local.exists() and hub.looks_local(str(path)):
        raise UserInputError(f"{key}.path: no local dataset at {local} (a hub dataset is NAME or ORG/NAME)")
    if not local.exists() and not revision:
        raise UserInputError(f"{key}.revision: pin a revision (commit sha or tag) for hub dataset {path!r}")
    split = dataset.get("split") or "test"
    kwargs: dict[str, Any] = {"split": split}
    if revision and not local.exists():
        kwargs["revision"] = str(revision)
    for opt in ("data_files", "cache_dir"):
        if dataset.get(opt):
            kwargs[opt] = dataset[opt]
    unreachable = None if local.exists() else hub.hub_unreachable()
    try:
        with hub.quiet_libraries(), hub.offline() if unreachable else contextlib.nullcontext():
            ds = datasets.load_dataset(str(local) if local.exists() else str(path), dataset.get("name"), **kwargs)
    except (FileNotFoundError, ValueError, ConnectionError, OSError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        if unreachable:
            first = f"the Hugging Face Hub cannot be reached ({unreachable}) and it is not in the local cache"
        raise UserInputError(f"{key}: cannot load dataset {path!r} split {split!r}: {first}") from None
    for column, feature in ds.features.items():
        if isinstance(feature, datasets.Image):
            ds = ds.cast_column(column, datasets.Image(decode=False))
    mapper.check_columns(ds.column_names)
    where = f"{key} {path}[{split}]"
    return [mapper.item(record, i, f"{where} row {i}") for i, record in enumerate(ds)]

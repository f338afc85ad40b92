"""Class frequencies from LVIS- or COCO-format annotation files (detection).

The authors' detection code takes ``K`` = number of training images for IIF and
``K`` = number of annotations for IOF (the IDF analogue: documents containing a term
over all documents). :func:`weights_from_annotations` applies that rule explicitly.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from operator import itemgetter
from typing import Any, Mapping, Sequence, Union

import numpy as np
import torch

from .weights import compute_weights

__all__ = ["AnnotationFrequencies", "frequencies_from_annotations", "weights_from_annotations", "FREQUENCY_KINDS"]

#: ``"image"``: IIF (images containing the class, K = #images);
#: ``"instance"``: IOF (object instances, K = #annotations).
FREQUENCY_KINDS = ("image", "instance")


@dataclass(frozen=True)
class AnnotationFrequencies:
    """Per-category counts of one annotation file, categories sorted by id.

    Attributes:
        category_ids: ``(C,)`` dataset category ids; index ``i`` of every array is ``category_ids[i]``.
        names: ``C`` category names.
        image_counts: ``(C,)`` images with at least one annotation of the category.
        instance_counts: ``(C,)`` annotations of the category.
        num_images: images in the file (``K`` for IIF), with or without annotations.
        num_annotations: annotations in the file (``K`` for IOF).
    """

    category_ids: np.ndarray
    names: tuple[str, ...]
    image_counts: np.ndarray
    instance_counts: np.ndarray
    num_images: int
    num_annotations: int

    @property
    def num_classes(self) -> int:
        return len(self.category_ids)

    def in_order(self, category_ids: Sequence[int]) -> "AnnotationFrequencies":
        """The same counts with classes in the order of ``category_ids`` (e.g. a detector's label order).

        Raises ``ValueError`` naming ids the file does not have, or when the number differs.
        """
        ids = np.asarray(list(category_ids), dtype=np.int64)
        uniq, seen = np.unique(ids, return_counts=True)
        if (seen > 1).any():
            raise ValueError(f"category ids {uniq[seen > 1][:10].tolist()} appear more than once in the order given")
        if ids.size != self.num_classes:
            raise ValueError(f"the annotation file has {self.num_classes} categories, the model {ids.size} classes")
        pos = np.searchsorted(self.category_ids, ids)
        pos_c = np.minimum(pos, self.num_classes - 1)
        missing = ids[self.category_ids[pos_c] != ids]
        if missing.size:
            raise ValueError(f"category ids {missing[:10].tolist()} are not in the annotation file")
        return AnnotationFrequencies(ids, tuple(self.names[i] for i in pos), self.image_counts[pos],
                                     self.instance_counts[pos], self.num_images, self.num_annotations)

    def counts(self, kind: str = "image") -> tuple[np.ndarray, int]:
        """``(frequencies, K)`` for ``kind`` in :data:`FREQUENCY_KINDS`."""
        if kind == "image":
            return self.image_counts, self.num_images
        if kind == "instance":
            return self.instance_counts, self.num_annotations
        raise ValueError(f"unknown frequency kind {kind!r}; expected one of {list(FREQUENCY_KINDS)}")


def _load(source: Union[str, os.PathLike, Mapping[str, Any]]) -> Mapping[str, Any]:
    if isinstance(source, Mapping):
        return source
    path = os.fspath(source)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"annotation file {path!r} does not exist")
    with open(path, "rb") as fh:
        try:
            data = json.load(fh)
        except json.JSONDecodeError as exc:
            raise ValueError(f"annotation file {path!r} is not valid JSON ({exc.msg} at line {exc.lineno}, "
                             f"column {exc.colno}): truncated or not an annotation file?") from None
        except UnicodeDecodeError:
            raise ValueError(f"annotation file {path!r} is not UTF-8 JSON") from None
    if not isinstance(data, Mapping):
        raise ValueError(f"annotation file {path!r} holds a JSON {type(data).__name__}, expected an object "
                         f"with 'images', 'annotations' and 'categories'")
    return data


def _int_ids(records: Sequence[Mapping[str, Any]], key: str, what: str) -> np.ndarray:
    """``records[i][key]`` for every record as int64, refusing a missing key or a non-integer value."""
    try:
        # float64 first: int64 would silently truncate 2.7 to 2. Ids up to 2**53 are exact.
        values = np.fromiter(map(itemgetter(key), records), dtype=np.float64, count=len(records))
    except KeyError:
        i = next(i for i, r in enumerate(records) if not isinstance(r, Mapping) or key not in r)
        raise ValueError(f"{what} #{i} has no {key!r}: {_short(records[i])}") from None
    except (TypeError, ValueError):
        i = next(i for i, r in enumerate(records) if not _is_int(r.get(key) if isinstance(r, Mapping) else None))
        raise ValueError(f"{what} #{i} has {key}={_short(records[i].get(key) if isinstance(records[i], Mapping) else records[i])}, "
                         f"expected an integer") from None
    ints = values.astype(np.int64)
    bad = np.flatnonzero(ints != values)
    if bad.size:
        i = int(bad[0])
        raise ValueError(f"{what} #{i} has {key}={records[i][key]!r}, expected an integer "
                         f"({bad.size} {what}s have non-integer {key}s)")
    return ints


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _short(obj: Any) -> str:
    text = repr(obj)
    return text if len(text) <= 80 else text[:77] + "..."


def _members(ids: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``values`` in ``ids`` (bool per value); a lookup table when the ids are dense."""
    if ids.size == 0:
        return np.zeros(values.shape, dtype=bool)
    lo, hi = int(ids.min()), int(ids.max())
    if lo >= 0 and hi < 8 * ids.size + 1024:
        lut = np.zeros(hi + 2, dtype=bool)
        lut[ids] = True
        return lut[np.clip(values, -1, hi + 1)] & (values >= 0)
    return np.isin(values, ids)


def frequencies_from_annotations(
    source: Union[str, os.PathLike, Mapping[str, Any]], verify: bool = True
) -> AnnotationFrequencies:
    """Count per-category image and instance frequencies of an LVIS/COCO annotation file.

    Args:
        source: path to the json file, or the already-loaded dict.
        verify: where categories carry LVIS's ``image_count`` / ``instance_count``,
            require the counts from the annotations to equal them.

    Raises:
        ValueError: missing keys, an annotation of an unknown category, or (``verify``)
            counts that disagree with the file's own fields.
    """
    data = _load(source)
    name = f"annotation file {os.fspath(source)!r}" if not isinstance(source, Mapping) else "annotation data"
    for key in ("images", "annotations", "categories"):
        if key not in data:
            raise ValueError(f"{name} has no {key!r} list; is it LVIS/COCO format? keys: {sorted(data)}")
        if not isinstance(data[key], list):
            raise ValueError(f"{name}: {key!r} must be a list, got {type(data[key]).__name__}")
    if not data["categories"]:
        raise ValueError(f"{name} has no categories")
    cat_ids_unsorted = _int_ids(data["categories"], "id", "category")
    order = np.argsort(cat_ids_unsorted, kind="stable")
    cats = [data["categories"][i] for i in order]
    cat_ids = cat_ids_unsorted[order]
    dup = cat_ids[1:][cat_ids[1:] == cat_ids[:-1]]
    if dup.size:
        raise ValueError(f"{name}: categories have duplicate ids {np.unique(dup)[:10].tolist()}")
    anns = data["annotations"]
    n_ann = len(anns)
    # Two flat integer arrays are all we need; this is the only pass over the annotations.
    # map(itemgetter) keeps the loop in C: half the time of a generator expression.
    ann_cat = _int_ids(anns, "category_id", "annotation")
    ann_img = _int_ids(anns, "image_id", "annotation")
    img_ids = _int_ids(data["images"], "id", "image")
    orphans = ~_members(img_ids, ann_img)
    if orphans.any():
        raise ValueError(f"{name}: {int(orphans.sum())} annotations refer to image ids not in 'images' "
                         f"(e.g. {np.unique(ann_img[orphans])[:5].tolist()})")
    idx = _category_index(cat_ids, ann_cat)
    unknown = idx < 0
    if unknown.any():
        bad = np.unique(ann_cat[unknown])[:10].tolist()
        raise ValueError(f"annotations refer to category ids {bad} that are not in 'categories'")
    instance_counts = np.bincount(idx, minlength=len(cat_ids)).astype(np.int64)
    # Distinct (category, image) pairs give the image frequency: sort the pair codes and keep
    # the first of each run (a plain sort is several times faster than np.unique's hashing here).
    if n_ann:
        lo = int(ann_img.min())
        img_span = int(ann_img.max()) - lo + 1
        pair = idx * img_span + (ann_img - lo)
        pair.sort()
        first = np.empty(n_ann, dtype=bool)
        first[0] = True
        np.not_equal(pair[1:], pair[:-1], out=first[1:])
        image_counts = np.bincount(pair[first] // img_span, minlength=len(cat_ids)).astype(np.int64)
    else:
        image_counts = np.zeros(len(cat_ids), dtype=np.int64)
    freqs = AnnotationFrequencies(
        category_ids=cat_ids,
        names=tuple(str(c.get("name", c["id"])) for c in cats),
        image_counts=image_counts,
        instance_counts=instance_counts,
        num_images=len(data["images"]),
        num_annotations=n_ann,
    )
    if verify:
        _verify_lvis_fields(cats, freqs)
    return freqs


def _category_index(cat_ids: np.ndarray, ann_cat: np.ndarray) -> np.ndarray:
    """Position of each annotation's category id in the sorted ``cat_ids`` ``(C,)``; -1 if unknown."""
    lo, hi = int(cat_ids[0]), int(cat_ids[-1])
    if lo >= 0 and hi < 8 * len(cat_ids) + 1024:
        # Dense ids (LVIS 1..1203, COCO 1..90): a lookup table; slot hi + 1 catches every unknown id.
        lut = np.full(hi + 2, -1, dtype=np.int64)
        lut[cat_ids] = np.arange(len(cat_ids))
        return lut[np.clip(ann_cat, -1, hi + 1)]
    idx = np.searchsorted(cat_ids, ann_cat)
    idx[cat_ids[np.minimum(idx, len(cat_ids) - 1)] != ann_cat] = -1
    return idx


def _verify_lvis_fields(cats: list, freqs: AnnotationFrequencies) -> None:
    for field, counted in (("image_count", freqs.image_counts), ("instance_count", freqs.instance_counts)):
        if not all(field in c for c in cats):
            continue
        stored = np.array([c[field] for c in cats], dtype=np.int64)
        bad = np.flatnonzero(stored != counted)
        if bad.size:
            rows = ", ".join(
                f"id {int(freqs.category_ids[i])}: file says {int(stored[i])}, annotations give {int(counted[i])}"
                for i in bad[:5]
            )
            raise ValueError(
                f"{field} disagrees with the annotations for {bad.size} categories ({rows}); "
                f"pass verify=False to use the counted values"
            )


def weights_from_annotations(
    source: Union[str, os.PathLike, Mapping[str, Any], AnnotationFrequencies],
    variant: str = "smooth",
    kind: str = "image",
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """IIF (``kind="image"``) or IOF (``kind="instance"``) weights ``(C,)`` from annotations.

    K is the number of images for IIF and of annotations for IOF (see module docstring).
    """
    freqs = source if isinstance(source, AnnotationFrequencies) else frequencies_from_annotations(source)
    counts, total = freqs.counts(kind)
    return compute_weights(counts, variant, total=total, device=device)

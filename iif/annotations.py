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
        return json.load(fh)


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
    for key in ("images", "annotations", "categories"):
        if key not in data:
            raise ValueError(f"annotation data has no {key!r} list; is it LVIS/COCO format? keys: {sorted(data)}")
    cats = sorted(data["categories"], key=lambda c: c["id"])
    if not cats:
        raise ValueError("annotation data has no categories")
    cat_ids = np.fromiter((c["id"] for c in cats), dtype=np.int64, count=len(cats))
    if np.unique(cat_ids).size != cat_ids.size:
        raise ValueError("annotation categories have duplicate ids")
    anns = data["annotations"]
    n_ann = len(anns)
    # Two flat integer arrays are all we need; this is the only pass over the annotations.
    # map(itemgetter) keeps the loop in C: half the time of a generator expression.
    ann_cat = np.fromiter(map(itemgetter("category_id"), anns), dtype=np.int64, count=n_ann)
    ann_img = np.fromiter(map(itemgetter("image_id"), anns), dtype=np.int64, count=n_ann)
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

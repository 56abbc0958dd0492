"""Split files: read, check, carve a validation split from training, write.

A split file is plain text, one image id per line (``#`` comments and blank lines ignored, an
image extension dropped). Readers look for ``<root>/splits/{train,val,test}.txt`` (and any other
``*.txt`` there, e.g. ``leaderboard.txt``).

The validation split used for model selection is always carved from the training images,
never from the test split (docs/method.md §7.4). Where images come in groups that must not be
split apart (the slices of one MRI case), whole groups are carved.

Example:
    >>> carve_validation([f"c{i // 3}_{i}" for i in range(12)], fraction=0.25, seed=0,
    ...                  group_of=lambda i: i.split("_")[0])[1]
    ['c3_10', 'c3_11', 'c3_9']
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterable, Mapping, Sequence

import numpy as np

from ..io import atomic_write_text

__all__ = ["read_split_file", "carve_validation", "write_split_files", "load_split_files", "SPLIT_ORDER"]

#: The splits every reader knows; other ``splits/*.txt`` files are loaded after these.
SPLIT_ORDER = ("train", "val", "test")
#: Image extensions dropped from a split file's lines (Kvasir-SEG's images; an id has none).
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


def read_split_file(path: str | Path) -> list[str]:
    """Ids in a split file: one per line, blank lines and ``#`` comments ignored, extension dropped."""
    ids = []
    for line in Path(path).read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            ids.append(Path(line).stem if Path(line).suffix.lower() in IMAGE_SUFFIXES else line)
    return ids


def carve_validation(
    ids: Sequence[str],
    fraction: float = 0.1,
    seed: int = 0,
    group_of: Callable[[str], str] | None = None,
) -> tuple[list[str], list[str]]:
    """Split training ids into (train, val), drawing ``fraction`` of them (or of their groups).

    Args:
        ids: the training ids (their order does not matter: groups are sorted first, so the same
            set of ids always gives the same split).
        fraction: share of groups that go to validation, ``0 <= fraction < 1``; with two or more
            groups and a non-zero fraction at least one group is drawn, and at least one stays.
        seed: seed of ``numpy.random.default_rng([seed, 7_919])``.
        group_of: id -> group (e.g. the MRI case of a slice); default: each id its own group.

    Returns:
        (train ids, val ids), each sorted.

    Raises:
        ValueError: fraction outside [0, 1).
    """
    if not 0.0 <= float(fraction) < 1.0:
        raise ValueError(f"validation fraction must be in [0, 1), got {fraction!r}")
    group_of = group_of or (lambda i: i)
    groups: dict[str, list[str]] = {}
    for i in ids:
        groups.setdefault(group_of(i), []).append(i)
    names = sorted(groups)
    n_val = 0
    if fraction > 0 and len(names) >= 2:
        n_val = min(len(names) - 1, max(1, int(round(fraction * len(names)))))
    order = np.random.default_rng([int(seed), 7_919]).permutation(len(names))
    val_groups = {names[k] for k in order[:n_val]}
    val = sorted(i for g in val_groups for i in groups[g])
    train = sorted(i for g in names if g not in val_groups for i in groups[g])
    return train, val


def write_split_files(root: str | Path, splits: Mapping[str, Iterable[str]], header: str | None = None) -> dict[str, Path]:
    """Write ``<root>/splits/<name>.txt`` for each split (atomically), one id per line.

    Args:
        root: the dataset folder.
        splits: split name -> ids (written in the given order).
        header: an optional ``#`` comment line written first (how the split was made).

    Returns:
        split name -> path written.

    Raises:
        ValueError: an id appears in two splits (names the id and both splits).
    """
    seen: dict[str, str] = {}
    for name, ids in splits.items():
        for i in ids:
            if i in seen and seen[i] != name:
                raise ValueError(f"id {i!r} is in split {seen[i]!r} and in split {name!r}; splits must not overlap")
            seen[i] = name
    out = {}
    for name, ids in splits.items():
        lines = ([f"# {header}"] if header else []) + list(ids)
        out[name] = atomic_write_text(Path(root) / "splits" / f"{name}.txt", "\n".join(lines) + "\n")
    return out


def load_split_files(split_dir: Path, known: Mapping[str, object] | set[str], keep: Iterable[str]) -> dict[str, list[str]]:
    """Read ``split_dir/*.txt`` (train, val, test first): split name -> ids restricted to ``keep``.

    Raises:
        KeyError: a listed id is not one of ``known`` (names the file and the ids).
        ValueError: an id is listed in two split files.
    """
    out: dict[str, list[str]] = {}
    if not split_dir.is_dir():
        return out
    files = [split_dir / f"{s}.txt" for s in SPLIT_ORDER if (split_dir / f"{s}.txt").is_file()]
    files += sorted(p for p in split_dir.glob("*.txt") if p.stem not in SPLIT_ORDER and p.stem != "all")
    keep = set(keep)
    seen: dict[str, str] = {}
    for f in files:
        listed = read_split_file(f)
        unknown = [i for i in listed if i not in known]
        if unknown:
            raise KeyError(f"{f}: {len(unknown)} ids have no image in the dataset, e.g. {unknown[:3]}")
        for i in listed:
            if i in seen:
                raise ValueError(f"{f}: id {i!r} is listed twice (also in {seen[i]}.txt); splits must not overlap")
            seen[i] = f.stem
        out[f.stem] = [i for i in listed if i in keep]
    return out



def select_ids(all_ids: list[str], ids: Iterable[str] | None, known: Mapping[str, object] | set[str], where: object) -> list[str]:
    """``ids`` (order kept) when given, else ``all_ids``; every requested id must be ``known``.

    Raises:
        KeyError: ``"<n> requested ids have no image in <where>: [...]"``.
    """
    if ids is None:
        return list(all_ids)
    ids = list(ids)
    missing = [i for i in ids if i not in known]
    if missing:
        raise KeyError(f"{len(missing)} requested ids have no image in {where}: {missing[:5]}")
    return ids

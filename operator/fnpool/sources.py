"""Manifests on disk ↔ ResourceList items, with kpt's path annotations so results map back."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

from .krm import dump_yaml, load_yaml_documents

PATH_ANNOTATION = "config.kubernetes.io/path"
INTERNAL_PATH_ANNOTATION = "internal.config.kubernetes.io/path"
INDEX_ANNOTATION = "config.kubernetes.io/index"
_ANNOTATIONS = (PATH_ANNOTATION, INTERNAL_PATH_ANNOTATION, INDEX_ANNOTATION)
YAML_SUFFIXES = (".yaml", ".yml")


def _files(source: Path) -> list[Path]:
    if source.is_file():
        return [source]
    if not source.is_dir():
        raise FileNotFoundError(f"{source}: no such file or directory")
    return sorted(
        p
        for p in source.rglob("*")
        if p.suffix in YAML_SUFFIXES
        and p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(source).parts)
    )


def read_source(source: Path) -> list[dict[str, Any]]:
    """Every resource in `source`, annotated with its file (relative to `source`) and index."""
    base = source if source.is_dir() else source.parent
    items = []
    for path in _files(source):
        relative = str(path.relative_to(base))
        for index, document in enumerate(load_yaml_documents(path.read_bytes())):
            if not isinstance(document, dict):
                raise ValueError(f"{path}: document {index} is not a Kubernetes resource")  # noqa: TRY004
            annotations = document.setdefault("metadata", {}).setdefault("annotations", {})
            annotations[PATH_ANNOTATION] = relative
            annotations[INTERNAL_PATH_ANNOTATION] = relative
            annotations[INDEX_ANNOTATION] = str(index)
            items.append(document)
    return items


def write_back(source: Path, items: list[dict[str, Any]]) -> None:
    """Write `items` into the files their path annotations name; delete files left empty.

    Every target is checked before anything is written or deleted, so a function that returns
    a bad path annotation cannot leave the package half-written.
    """
    base = (source if source.is_dir() else source.parent).resolve()
    by_file: dict[Path, list[tuple[int, dict[str, Any]]]] = defaultdict(list)
    for item in items:
        metadata = item.get("metadata") or {}
        annotations = metadata.get("annotations") or {}
        target = (base / str(annotations.get(PATH_ANNOTATION) or "resources.yaml")).resolve()
        if base not in target.parents:
            raise ValueError(f"refusing to write outside {base}: {target}")
        try:
            index = int(annotations.get(INDEX_ANNOTATION, 0))
        except ValueError:
            raise ValueError(f"{target}: bad {INDEX_ANNOTATION} annotation") from None
        by_file[target].append((index, item))
    for target, indexed in by_file.items():
        target.parent.mkdir(parents=True, exist_ok=True)
        documents = [_without_annotations(item) for _, item in sorted(indexed, key=_index)]
        target.write_text("---\n".join(dump_yaml(document) for document in documents))
    for path in _files(source):
        if path.resolve() not in by_file:
            path.unlink()


def _index(pair: tuple[int, dict[str, Any]]) -> int:
    return pair[0]


def _without_annotations(item: dict[str, Any]) -> dict[str, Any]:
    """`item` without the path/index annotations that only travel inside the ResourceList."""
    metadata = dict(item.get("metadata") or {})
    annotations = {
        k: v for k, v in (metadata.get("annotations") or {}).items() if k not in _ANNOTATIONS
    }
    if annotations:
        metadata["annotations"] = annotations
    else:
        metadata.pop("annotations", None)
    return {**item, "metadata": metadata}

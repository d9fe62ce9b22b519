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
    """Write `items` into the files their path annotations name; delete files left empty."""
    base = source if source.is_dir() else source.parent
    by_file: dict[str, list[tuple[int, dict[str, Any]]]] = defaultdict(list)
    for item in items:
        annotations = item.get("metadata", {}).get("annotations", {})
        relative = annotations.get(PATH_ANNOTATION) or "resources.yaml"
        by_file[relative].append((int(annotations.get(INDEX_ANNOTATION, 0)), item))
        for key in _ANNOTATIONS:
            annotations.pop(key, None)
        if not annotations and "annotations" in item.get("metadata", {}):
            del item["metadata"]["annotations"]
    for path in _files(source):
        if str(path.relative_to(base)) not in by_file:
            path.unlink()
    for relative, indexed in by_file.items():
        target = (base / relative).resolve()
        if base.resolve() not in target.parents:
            raise ValueError(f"refusing to write outside {base}: {relative}")
        target.parent.mkdir(parents=True, exist_ok=True)
        documents = [dump_yaml(item) for _, item in sorted(indexed, key=lambda pair: pair[0])]
        target.write_text("---\n".join(documents))

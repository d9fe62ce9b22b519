from __future__ import annotations

from pathlib import Path

import pytest
from fnpool.krm import load_yaml_documents
from fnpool.sources import PATH_ANNOTATION, read_source, write_back


def test_read_annotates_and_write_back_restores(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.yaml").write_text("kind: A\nmetadata: {name: a}\n---\nkind: B\n")
    (tmp_path / "sub" / "c.yml").write_text("kind: C\n")
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "x.yaml").write_text("kind: Hidden\n")
    items = read_source(tmp_path)
    assert [(i["kind"], i["metadata"]["annotations"][PATH_ANNOTATION]) for i in items] == [
        ("A", "a.yaml"),
        ("B", "a.yaml"),
        ("C", "sub/c.yml"),
    ]
    items = [i for i in items if i["kind"] != "C"]  # the function deleted C
    items[0]["metadata"]["labels"] = {"x": "y"}
    write_back(tmp_path, items)
    assert load_yaml_documents((tmp_path / "a.yaml").read_text()) == [
        {"kind": "A", "metadata": {"name": "a", "labels": {"x": "y"}}},
        {"kind": "B", "metadata": {}},
    ]
    assert not (tmp_path / "sub" / "c.yml").exists()


def test_write_back_refuses_paths_outside_the_source_before_touching_anything(
    tmp_path: Path,
) -> None:
    (tmp_path / "kept.yaml").write_text("kind: Kept\n")
    item = {"kind": "A", "metadata": {"annotations": {PATH_ANNOTATION: "../escape.yaml"}}}
    with pytest.raises(ValueError, match="outside"):
        write_back(tmp_path, [item])
    assert (tmp_path / "kept.yaml").read_text() == "kind: Kept\n"
    assert not (tmp_path.parent / "escape.yaml").exists()


def test_missing_source_is_reported(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no such file"):
        read_source(tmp_path / "missing")

from __future__ import annotations

import pytest
from fnpool.krm import (
    ResourceListError,
    build_resource_list,
    config_map_function_config,
    dump_yaml,
    parse_resource_list,
    summarize_results,
)


def test_parse_round_trips_a_built_resource_list() -> None:
    built = build_resource_list([{"kind": "A"}], config_map_function_config({"k": "v"}))
    parsed = parse_resource_list(dump_yaml(built).encode())
    assert parsed == built
    assert parsed["functionConfig"]["metadata"]["name"] == "function-input"


@pytest.mark.parametrize(
    ("data", "reason"),
    [(b"{", "not valid YAML"), (b"kind: List", "not a ResourceList"), (b"- 1", "not a Resource")],
)
def test_parse_rejects_non_resource_lists(data: bytes, reason: str) -> None:
    with pytest.raises(ResourceListError, match=reason):
        parse_resource_list(data)


def test_summarize_results_names_resource_field_and_severity() -> None:
    results = [
        {
            "message": "bad value",
            "severity": "error",
            "resourceRef": {"apiVersion": "v1", "kind": "ConfigMap", "name": "x"},
            "field": {"path": "data.k"},
        },
        {"message": "just so you know", "severity": "info"},
        "not a result",
    ]
    assert summarize_results(results) == (
        "[error] v1/ConfigMap/x data.k: bad value\n[info] just so you know"
    )
    assert summarize_results(None) == ""

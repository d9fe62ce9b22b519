"""The KRM Functions Specification's ResourceList: parsing, building, and result summaries."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import yaml

try:  # the C loader is ~10x faster; fall back where libyaml is absent
    from yaml import CSafeDumper as _Dumper
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - depends on the PyYAML build
    from yaml import SafeDumper as _Dumper  # type: ignore[assignment]
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

API_VERSION = "config.kubernetes.io/v1"
KIND = "ResourceList"
FUNCTION_INPUT_NAME = "function-input"


class ResourceListError(ValueError):
    """The bytes are not a ResourceList."""


def load_yaml(text: bytes | str) -> Any:
    return yaml.load(text, Loader=_Loader)


def load_yaml_documents(text: bytes | str) -> list[Any]:
    return [doc for doc in yaml.load_all(text, Loader=_Loader) if doc is not None]


def dump_yaml(data: Any) -> str:
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, default_flow_style=False)


def parse_resource_list(data: bytes) -> dict[str, Any]:
    """Parse `data` as a ResourceList, raising ResourceListError with the reason."""
    try:
        document = load_yaml(data)
    except yaml.YAMLError as exc:
        raise ResourceListError(f"not valid YAML: {exc}") from exc
    if not isinstance(document, dict) or document.get("kind") != KIND:
        raise ResourceListError(f"not a {KIND} (kind is {_kind_of(document)!r})")
    items = document.get("items") or []
    if not isinstance(items, list):
        raise ResourceListError("items is not a list")
    return document


def _kind_of(document: object) -> object:
    return document.get("kind") if isinstance(document, dict) else type(document).__name__


def build_resource_list(
    items: Iterable[Mapping[str, Any]], function_config: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    resource_list: dict[str, Any] = {"apiVersion": API_VERSION, "kind": KIND, "items": list(items)}
    if function_config is not None:
        resource_list["functionConfig"] = dict(function_config)
    return resource_list


def config_map_function_config(data: Mapping[str, str]) -> dict[str, Any]:
    """The ConfigMap that `kpt fn eval -- KEY=VALUE` passes as functionConfig."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": FUNCTION_INPUT_NAME,
            "annotations": {"config.kubernetes.io/local-config": "true"},
        },
        "data": dict(data),
    }


def summarize_results(results: object) -> str:
    """One line per result, `[severity] resource field: message`, like kpt prints them."""
    if not isinstance(results, list):
        return ""
    return "\n".join(_summarize_result(r) for r in results if isinstance(r, dict))


def _summarize_result(result: Mapping[str, Any]) -> str:
    where: list[str] = []
    ref = result.get("resourceRef")
    if isinstance(ref, dict):
        keys = ("apiVersion", "kind", "namespace", "name")
        where.append("/".join(str(ref[k]) for k in keys if ref.get(k)))
    field = result.get("field")
    if isinstance(field, dict) and field.get("path"):
        where.append(str(field["path"]))
    severity = f"[{result.get('severity') or 'error'}]"
    message = str(result.get("message", ""))
    return f"{severity} {' '.join(where)}: {message}" if where else f"{severity} {message}"

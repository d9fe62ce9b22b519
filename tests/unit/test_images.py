from __future__ import annotations

import pytest
from fnpool.errors import InvalidRequest
from fnpool.images import ImageReference, parse_image, qualify


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        ("set-namespace", ImageReference("", "set-namespace", "", "")),
        ("set-namespace:v0.4.5", ImageReference("", "set-namespace", "v0.4.5", "")),
        (
            "ghcr.io/kptdev/krm-functions-catalog/set-namespace:v0.4.5",
            ImageReference("ghcr.io", "kptdev/krm-functions-catalog/set-namespace", "v0.4.5", ""),
        ),
        ("localhost:5000/fn", ImageReference("localhost:5000", "fn", "", "")),
        ("library/fn:1", ImageReference("", "library/fn", "1", "")),
        (
            "gcr.io/fn@sha256:" + "a" * 64,
            ImageReference("gcr.io", "fn", "", "sha256:" + "a" * 64),
        ),
    ],
)
def test_parses_valid_references(reference: str, expected: ImageReference) -> None:
    assert parse_image(reference) == expected
    assert str(parse_image(reference)) == reference


@pytest.mark.parametrize(
    "reference", ["", "UPPER", "a//b", "a:", ":tag", "a b", "fn@sha256:short", "-fn", "a" * 256]
)
def test_rejects_malformed_references(reference: str) -> None:
    with pytest.raises(InvalidRequest):
        parse_image(reference)


def test_qualify_prefixes_only_bare_names() -> None:
    prefix = "ghcr.io/kptdev/krm-functions-catalog/"
    assert qualify("set-namespace:v1", prefix) == prefix + "set-namespace:v1"
    assert qualify("org/set-namespace:v1", prefix) == "org/set-namespace:v1"
    assert qualify("quay.io/x:v1", prefix) == "quay.io/x:v1"
    assert qualify("set-namespace:v1", "") == "set-namespace:v1"

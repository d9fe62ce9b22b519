"""Image references: validation and normalisation, following the distribution reference grammar.

Requests name functions by image. Porch passes the string through unchanged, so matching is by
the exact string first; normalisation (bare names qualified by a configured prefix) only widens
what a configured function answers to.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import InvalidRequest

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOMAIN_LABEL = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"(?:{_DOMAIN_LABEL}(?:\.{_DOMAIN_LABEL})*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
_REFERENCE = re.compile(
    rf"^(?P<name>(?:{_DOMAIN}/)?{_COMPONENT}(?:/{_COMPONENT})*)"
    rf"(?::(?P<tag>{_TAG}))?(?:@(?P<digest>{_DIGEST}))?$"
)
MAX_NAME_LENGTH = 255


@dataclass(frozen=True)
class ImageReference:
    """A parsed reference; `registry` is empty when the name has no registry part."""

    registry: str
    repository: str
    tag: str
    digest: str

    def __str__(self) -> str:
        name = f"{self.registry}/{self.repository}" if self.registry else self.repository
        tag = f":{self.tag}" if self.tag else ""
        digest = f"@{self.digest}" if self.digest else ""
        return f"{name}{tag}{digest}"


def parse_image(reference: str) -> ImageReference:
    """Parse `reference` or raise InvalidRequest saying what is wrong with it."""
    if not reference:
        raise InvalidRequest("image must not be empty: name the function image to evaluate")
    match = _REFERENCE.match(reference)
    if match is None:
        raise InvalidRequest(
            f"malformed image reference {reference!r}: expected "
            "[registry/]repository[:tag][@digest] with a lowercase repository"
        )
    name = match["name"]
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidRequest(f"image name longer than {MAX_NAME_LENGTH} characters")
    first, _, rest = name.partition("/")
    has_registry = bool(rest) and ("." in first or ":" in first or first == "localhost")
    registry, repository = (first, rest) if has_registry else ("", name)
    return ImageReference(registry, repository, match["tag"] or "", match["digest"] or "")


def qualify(reference: str, default_prefix: str) -> str:
    """Prefix a bare name (no registry, no path) with `default_prefix`, as kpt does."""
    parsed = parse_image(reference)
    if parsed.registry or "/" in parsed.repository or not default_prefix:
        return reference
    return default_prefix.rstrip("/") + "/" + reference

"""A minimal OCI image builder: files -> layers -> an OCI image layout -> a registry.

Why not Docker or buildah: CI has no container engine, and building an image is only packing
tar files and writing three JSON documents (config, manifest, index), all of which are
specified by the OCI image spec. The registry protocol, the part that is easy to get subtly
wrong (chunked uploads, auth challenges, mounts), is left to ``skopeo copy`` (Debian package),
which reads the OCI layout written here.

Everything is deterministic (fixed mtimes, owners and ordering, gzip without a timestamp), so
the same inputs give the same manifest digest on every machine. That digest is what
``images.py`` compares with the registry's to skip pushes that are already done.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import os
import subprocess
import tarfile
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from tests.cluster import config

MEDIA_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_INDEX = "application/vnd.oci.image.index.v1+json"
MEDIA_CONFIG = "application/vnd.oci.image.config.v1+json"
MEDIA_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
EPOCH = "1970-01-01T00:00:00Z"
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True)
class Entry:
    """One filesystem entry of a layer.

    ``kind`` is ``file`` (content from ``data`` or ``source``), ``dir`` or ``symlink``
    (``target``). Paths are absolute image paths; missing parent directories are added.
    """

    path: str
    kind: str = "file"
    data: bytes | None = None
    source: Path | None = None
    target: str = ""
    mode: int = 0o644
    uid: int = 0
    gid: int = 0

    def fingerprint(self) -> str:
        """A string that changes whenever the entry's packed bytes would change."""
        content = ""
        if self.kind == "file":
            content = (
                _sha256_bytes(self.data)
                if self.data is not None
                else _sha256_file(self._require_source())
            )
        return (
            f"{self.kind}|{self.path}|{self.mode:o}|{self.uid}|{self.gid}|{self.target}|{content}"
        )

    def _require_source(self) -> Path:
        if self.source is None:
            raise ValueError(f"file entry {self.path} has neither data nor source")
        return self.source


def file(
    path: str,
    *,
    data: bytes | None = None,
    source: Path | None = None,
    mode: int = 0o644,
    uid: int = 0,
    gid: int = 0,
) -> Entry:
    """A regular file from bytes or from a file on the host."""
    return Entry(path=path, kind="file", data=data, source=source, mode=mode, uid=uid, gid=gid)


def directory(path: str, mode: int = 0o755, uid: int = 0, gid: int = 0) -> Entry:
    """A directory (``/tmp`` wants ``0o1777``)."""
    return Entry(path=path, kind="dir", mode=mode, uid=uid, gid=gid)


def symlink(path: str, target: str) -> Entry:
    """A symbolic link ``path -> target``."""
    return Entry(path=path, kind="symlink", target=target, mode=0o777)


@dataclass(frozen=True)
class Blob:
    """A content-addressed blob written to a layout's ``blobs/sha256``."""

    digest: str
    size: int
    media_type: str

    def descriptor(self) -> dict[str, object]:
        return {"mediaType": self.media_type, "digest": self.digest, "size": self.size}


@dataclass(frozen=True)
class Layer:
    """A packed layer: its compressed blob plus the digest of the uncompressed tar."""

    blob: Blob
    diff_id: str


@dataclass(frozen=True)
class ImageConfig:
    """The runtime part of an OCI image config (what ``docker inspect`` shows as Config)."""

    entrypoint: Sequence[str]
    cmd: Sequence[str] = ()
    env: Sequence[str] = (f"PATH={DEFAULT_PATH}",)
    user: str = ""
    workdir: str = "/"
    labels: dict[str, str] = field(default_factory=dict)


def _sha256_bytes(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return "sha256:" + h.hexdigest()


def _with_parents(entries: Iterable[Entry]) -> list[Entry]:
    """Adds a 0755 root-owned directory entry for every parent not listed, sorted by path."""
    by_path: dict[str, Entry] = {}
    for e in entries:
        by_path[str(PurePosixPath("/") / e.path.lstrip("/"))] = e
    for p in list(by_path):
        for parent in PurePosixPath(p).parents:
            if str(parent) != "/" and str(parent) not in by_path:
                by_path[str(parent)] = directory(str(parent))
    return [by_path[p] for p in sorted(by_path)]


def _tar_bytes(entries: Iterable[Entry]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for e in _with_parents(entries):
            info = tarfile.TarInfo(e.path.lstrip("/"))
            info.mtime = 0
            info.mode = e.mode
            info.uid, info.gid = e.uid, e.gid
            info.uname = info.gname = ""
            if e.kind == "dir":
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            elif e.kind == "symlink":
                info.type = tarfile.SYMTYPE
                info.linkname = e.target
                tar.addfile(info)
            elif e.kind == "file":
                data = e.data if e.data is not None else e._require_source().read_bytes()
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:
                raise ValueError(f"unknown entry kind {e.kind!r} for {e.path}")
    return buf.getvalue()


class Layout:
    """An OCI image layout directory holding any number of tagged images.

    Blobs are shared between images (the base layers are the same), and ``index.json`` maps a
    reference name (``org.opencontainers.image.ref.name``) to each image's manifest.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
        layout_file = root / "oci-layout"
        if not layout_file.exists():
            layout_file.write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
        if not (root / "index.json").exists():
            self._write_index([])

    def blob_path(self, digest: str) -> Path:
        return self.root / "blobs" / "sha256" / digest.removeprefix("sha256:")

    def put_blob(self, data: bytes, media_type: str) -> Blob:
        """Stores bytes under their digest (atomically; a present blob is not rewritten)."""
        digest = _sha256_bytes(data)
        path = self.blob_path(digest)
        if not path.exists():
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
        return Blob(digest=digest, size=len(data), media_type=media_type)

    def layer(self, entries: Sequence[Entry]) -> Layer:
        """Packs entries into a gzip layer, reusing the blob when the same entries were packed.

        The cache key is the entries' fingerprints (content hashes), so repacking a 20 MB
        binary costs one sha256 pass instead of a gzip pass.
        """
        key = hashlib.sha256("\n".join(e.fingerprint() for e in entries).encode()).hexdigest()
        memo = self.root / "layers" / f"{key}.json"
        if memo.exists():
            info = json.loads(memo.read_text())
            if self.blob_path(info["digest"]).exists():
                blob = Blob(info["digest"], info["size"], MEDIA_LAYER_GZIP)
                return Layer(blob=blob, diff_id=info["diff_id"])
        raw = _tar_bytes(entries)
        compressed = gzip.compress(raw, compresslevel=6, mtime=0)
        blob = self.put_blob(compressed, MEDIA_LAYER_GZIP)
        layer = Layer(blob=blob, diff_id=_sha256_bytes(raw))
        memo.parent.mkdir(exist_ok=True)
        memo.write_text(
            json.dumps({"digest": blob.digest, "size": blob.size, "diff_id": layer.diff_id})
        )
        return layer

    def image(self, ref_name: str, layers: Sequence[Layer], config: ImageConfig) -> Blob:
        """Writes the config and manifest of an image and tags it ``ref_name`` in the index."""
        cfg: dict[str, object] = {
            "Entrypoint": list(config.entrypoint),
            "Env": list(config.env),
            "WorkingDir": config.workdir,
        }
        if config.cmd:
            cfg["Cmd"] = list(config.cmd)
        if config.user:
            cfg["User"] = config.user
        if config.labels:
            cfg["Labels"] = dict(sorted(config.labels.items()))
        config_doc = {
            "created": EPOCH,
            "architecture": "amd64",
            "os": "linux",
            "config": cfg,
            "rootfs": {"type": "layers", "diff_ids": [la.diff_id for la in layers]},
            "history": [
                {"created": EPOCH, "created_by": "fnpool tests/cluster/oci.py"} for _ in layers
            ],
        }
        config_blob = self.put_blob(_canonical(config_doc), MEDIA_CONFIG)
        manifest = {
            "schemaVersion": 2,
            "mediaType": MEDIA_MANIFEST,
            "config": config_blob.descriptor(),
            "layers": [la.blob.descriptor() for la in layers],
        }
        manifest_blob = self.put_blob(_canonical(manifest), MEDIA_MANIFEST)
        index = [m for m in self._read_index() if _ref_name(m) != ref_name]
        entry = manifest_blob.descriptor()
        entry["annotations"] = {"org.opencontainers.image.ref.name": ref_name}
        self._write_index([*index, entry])
        return manifest_blob

    def prune(self, keep_refs: set[str]) -> int:
        """Drops index entries not in ``keep_refs`` and every blob no kept image uses.

        Keeps the cache bounded while the wrapper binary is rebuilt over and over. Returns the
        number of blobs removed.
        """
        index = [m for m in self._read_index() if _ref_name(m) in keep_refs]
        self._write_index(index)
        used: set[str] = set()
        for desc in index:
            digest = str(desc["digest"])
            manifest = self.read_json(digest)
            config_desc, layers = manifest["config"], manifest["layers"]
            assert isinstance(config_desc, dict)
            assert isinstance(layers, list)
            used |= {digest, str(config_desc["digest"]), *(str(d["digest"]) for d in layers)}
        removed = 0
        for blob in (self.root / "blobs" / "sha256").iterdir():
            if f"sha256:{blob.name}" not in used:
                blob.unlink()
                removed += 1
        for memo in (self.root / "layers").glob("*.json"):
            if json.loads(memo.read_text())["digest"] not in used:
                memo.unlink()
        return removed

    def read_json(self, digest: str) -> dict[str, object]:
        data: dict[str, object] = json.loads(self.blob_path(digest).read_bytes())
        return data

    def _read_index(self) -> list[dict[str, object]]:
        manifests: list[dict[str, object]] = json.loads((self.root / "index.json").read_text())[
            "manifests"
        ]
        return manifests

    def _write_index(self, manifests: list[dict[str, object]]) -> None:
        doc = {"schemaVersion": 2, "mediaType": MEDIA_INDEX, "manifests": manifests}
        tmp = self.root / "index.json.tmp"
        tmp.write_text(json.dumps(doc, indent=1))
        os.replace(tmp, self.root / "index.json")


def _ref_name(descriptor: dict[str, object]) -> str:
    annotations = descriptor.get("annotations")
    if isinstance(annotations, dict):
        return str(annotations.get("org.opencontainers.image.ref.name", ""))
    return ""


def _canonical(doc: object) -> bytes:
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


def basic_auth(user: str, password: str) -> str:
    """The value of an HTTP ``Authorization`` header for basic auth."""
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def remote_manifest_digest(
    registry: str, repository: str, tag: str, auth: tuple[str, str] | None = None
) -> str | None:
    """HEADs ``/v2/<repository>/manifests/<tag>`` on a plain-HTTP registry.

    Returns the ``Docker-Content-Digest`` header, or None when the tag is absent (404).
    """
    req = urllib.request.Request(
        f"http://{registry}/v2/{repository}/manifests/{tag}",
        method="HEAD",
        headers={"Accept": f"{MEDIA_MANIFEST}, {DOCKER_MANIFEST}"},
    )
    if auth:
        req.add_header("Authorization", basic_auth(*auth))
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            digest: str | None = resp.headers.get("Docker-Content-Digest")
            return digest
    except urllib.error.HTTPError as err:
        if err.code == 404:
            return None
        raise


def push(
    layout: Layout,
    ref_name: str,
    registry: str,
    repository: str,
    tag: str,
    auth: tuple[str, str] | None = None,
) -> None:
    """Copies one image of the layout to ``registry/repository:tag`` over plain HTTP.

    ``--preserve-digests`` makes skopeo fail rather than silently convert the manifest, so the
    digest in the registry is the one computed here.
    """
    cmd = [
        config.host_tool("skopeo", "skopeo"),
        "--insecure-policy",
        "copy",
        "--quiet",
        "--preserve-digests",
        "--dest-tls-verify=false",
        f"oci:{layout.root}:{ref_name}",
        f"docker://{registry}/{repository}:{tag}",
    ]
    if auth:
        cmd[4:4] = ["--dest-creds", f"{auth[0]}:{auth[1]}"]
    result = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=300)
    if result.returncode != 0:
        raise RuntimeError(
            f"skopeo copy to {registry}/{repository}:{tag} failed "
            f"(exit {result.returncode}): {result.stderr.strip()}"
        )


def unpack(layout: Layout, manifest_digest: str, dest: Path) -> dict[str, object]:
    """Extracts an image's layers into ``dest`` (for tests that run it in a chroot).

    Returns the image config. Whiteouts are not handled: images built here have none.
    """
    manifest = layout.read_json(manifest_digest)
    config_desc = manifest["config"]
    layers = manifest["layers"]
    assert isinstance(config_desc, dict)
    assert isinstance(layers, list)
    for desc in layers:
        with tarfile.open(layout.blob_path(str(desc["digest"])), mode="r:gz") as tar:
            if hasattr(tarfile, "tar_filter"):  # Python >= 3.11.4
                tar.extractall(dest, filter="tar")
            else:  # pragma: no cover - layers built by this module only
                tar.extractall(dest)
    return layout.read_json(str(config_desc["digest"]))

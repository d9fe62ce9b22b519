"""Regenerate the committed stubs from evaluator.proto (`make proto`).

The stubs are committed so that installing fnpool never needs grpcio-tools; a test compares
them with a fresh generation so they cannot silently go stale.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

PROTO_DIR = Path(__file__).resolve().parent
PROTO_NAME = "evaluator.proto"
GENERATED = ("evaluator_pb2.py", "evaluator_pb2.pyi", "evaluator_pb2_grpc.py")


def generate(out_dir: Path) -> dict[str, str]:
    """Run protoc into `out_dir` and return the generated files' text, import-fixed."""
    from grpc_tools import protoc  # build-time only dependency

    args = [
        "protoc",
        f"-I{PROTO_DIR}",
        f"--python_out={out_dir}",
        f"--pyi_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        str(PROTO_DIR / PROTO_NAME),
    ]
    if protoc.main(args) != 0:
        raise RuntimeError("protoc failed")
    texts = {name: (out_dir / name).read_text() for name in GENERATED}
    # grpc_tools emits a top-level import; make it relative to this package.
    texts["evaluator_pb2_grpc.py"] = texts["evaluator_pb2_grpc.py"].replace(
        "import evaluator_pb2 as evaluator__pb2", "from . import evaluator_pb2 as evaluator__pb2"
    )
    return texts


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        for name, text in generate(Path(tmp)).items():
            (PROTO_DIR / name).write_text(text)
            print(f"wrote {PROTO_DIR / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

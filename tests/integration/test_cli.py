"""`fnpool eval` and CLI errors, as a user runs them: real processes, real gRPC."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from fnpool.krm import load_yaml, load_yaml_documents

from .conftest import ServerProcess

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def fnpool(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fnpool.cli.main", *args],
        input=stdin.decode() if stdin is not None else None,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_eval_prints_the_resulting_resource_list(server: ServerProcess) -> None:
    result = fnpool(
        "eval",
        "example/set-label",
        str(EXAMPLES / "manifests"),
        "--endpoint",
        server.address,
        "--",
        "team=blue",
    )
    assert result.returncode == 0, result.stderr
    output = load_yaml(result.stdout)
    assert {i["metadata"]["labels"]["team"] for i in output["items"]} == {"blue"}
    assert "set-label: set 1 label(s) on 2 resource(s)" in result.stderr


def test_eval_writes_back_in_place(server: ServerProcess, tmp_path: Path) -> None:
    source = tmp_path / "pkg"
    shutil.copytree(EXAMPLES / "manifests", source)
    result = fnpool(
        "eval",
        "example/set-label",
        str(source),
        "-w",
        "--endpoint",
        server.address,
        "--",
        "tier=web",
    )
    assert result.returncode == 0, result.stderr
    deployment = load_yaml_documents((source / "deployment.yaml").read_text())[0]
    assert deployment["metadata"] == {"name": "web", "labels": {"tier": "web"}}
    assert result.stdout == ""


def test_eval_reads_a_resource_list_on_stdin(server: ServerProcess) -> None:
    rl = b"apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems: [{kind: A}]\n"
    result = fnpool("eval", "example/identity", "-", "--endpoint", server.address, stdin=rl)
    assert result.returncode == 0, result.stderr
    assert load_yaml(result.stdout)["items"] == [{"kind": "A"}]


def test_eval_failure_exits_non_zero_with_results_and_stderr(server: ServerProcess) -> None:
    result = fnpool(
        "eval", "example/fail", str(EXAMPLES / "manifests"), "--endpoint", server.address
    )
    assert result.returncode == 1
    assert result.stderr.strip() == (
        'fnpool eval: example/fail: INTERNAL: failed to evaluate function "example/fail" '
        "with structured results: [error] this function always fails "
        "and stderr: fail: failing on purpose"
    )


def test_errors_are_one_readable_line(tmp_path: Path) -> None:
    cases = [
        (("eval", "x", str(tmp_path / "missing")), "no such file or directory"),
        (("eval", "x", str(EXAMPLES / "manifests"), "--", "novalue"), "expected KEY=VALUE"),
        (("serve", "--local", "--config", str(tmp_path / "none.yaml")), "cannot read"),
        (("wrapper", "--port", "0"), "missing the function's entrypoint"),
    ]
    for args, message in cases:
        result = fnpool(*args)
        assert result.returncode == 2, (args, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, (args, result.stderr)
        assert message in lines[0], (args, result.stderr)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--log-level", "bogus", "serve", "--local"), "invalid choice: 'BOGUS'"),
        (("serve", "--local", "--max-request-body-size", "100"), "must be at least 65536"),
        (("serve", "--local", "--timeout", "-1"), "must be >= 0"),
    ],
)
def test_bad_flags_get_usage_and_the_reason(args: tuple[str, ...], message: str) -> None:
    result = fnpool(*args)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert message in result.stderr.strip().splitlines()[-1]


def test_eval_rejects_stdin_that_is_not_resources() -> None:
    result = fnpool("eval", "example/identity", "-", stdin=b"- a\n- b\n")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "fnpool eval: error: stdin: every YAML document must be a mapping (a resource)"
    )


def test_serve_requires_local_mode() -> None:
    result = fnpool("serve")
    assert result.returncode == 2
    assert "--local" in result.stderr

"""`fnpool eval IMAGE [SOURCE] -- KEY=VALUE...`: evaluate one function through an endpoint.

Like `kpt fn eval`: SOURCE is a YAML file, a directory of manifests, or `-` for a ResourceList
(or manifests) on stdin; KEY=VALUE pairs become the `function-input` ConfigMap.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from .. import config
from ..krm import (
    build_resource_list,
    config_map_function_config,
    dump_yaml,
    load_yaml,
    load_yaml_documents,
    parse_resource_list,
    summarize_results,
)
from ..sources import read_source, write_back


def add_parser(commands: Any, name: str) -> None:
    parser = commands.add_parser(
        name,
        help="evaluate a function on manifests through an fnpool (or Porch) endpoint",
        description=__doc__,
        usage="fnpool eval IMAGE [SOURCE] [options] [-- KEY=VALUE ...]",
    )
    parser.add_argument("image", help="function image, e.g. example/set-label")
    parser.add_argument("source", nargs="?", default="-", help="file, directory or - (stdin)")
    parser.add_argument(
        "--endpoint",
        default=config.env_default("endpoint", f"127.0.0.1:{config.ENDPOINT_PORT}"),
        help="gRPC address of the endpoint (%(default)s)",
    )
    parser.add_argument("--fn-config", type=Path, help="file holding the functionConfig")
    parser.add_argument(
        "--write",
        "-w",
        action="store_true",
        help="write the resulting resources back into the SOURCE directory or file",
    )
    parser.add_argument("--timeout", type=float, default=None, help="call deadline in seconds")
    parser.add_argument(
        "--max-message-size", type=int, default=config.MAX_MESSAGE_SIZE, help="(%(default)s)"
    )


def _function_config(args: argparse.Namespace) -> dict[str, Any] | None:
    if args.fn_config is not None:
        if args.rest:
            raise ValueError("give either --fn-config or KEY=VALUE pairs, not both")
        document = load_yaml(args.fn_config.read_bytes())
        if not isinstance(document, dict):
            raise ValueError(f"{args.fn_config}: functionConfig must be a YAML mapping")
        return document
    if not args.rest:
        return None
    pairs = {}
    for pair in args.rest:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"expected KEY=VALUE after --, got {pair!r}")
        pairs[key] = value
    return config_map_function_config(pairs)


def _request_resource_list(args: argparse.Namespace) -> bytes:
    function_config = _function_config(args)
    if args.source == "-":
        documents = load_yaml_documents(sys.stdin.buffer.read())
        if not all(isinstance(document, dict) for document in documents):
            raise ValueError("stdin: every YAML document must be a mapping (a resource)")
        if len(documents) == 1 and documents[0].get("kind") == "ResourceList":
            resource_list = documents[0]
            if function_config is not None:
                resource_list["functionConfig"] = function_config
            return dump_yaml(resource_list).encode()
        return dump_yaml(build_resource_list(documents, function_config)).encode()
    items = read_source(Path(args.source))
    return dump_yaml(build_resource_list(items, function_config)).encode()


def run(args: argparse.Namespace) -> int:
    import grpc

    from ..proto import evaluator_pb2, evaluator_pb2_grpc

    request = evaluator_pb2.EvaluateFunctionRequest(
        resource_list=_request_resource_list(args), image=args.image
    )
    size = [
        ("grpc.max_receive_message_length", args.max_message_size),
        ("grpc.max_send_message_length", args.max_message_size),
    ]
    with grpc.insecure_channel(args.endpoint, options=size) as channel:
        stub = evaluator_pb2_grpc.FunctionEvaluatorStub(channel)  # type: ignore[no-untyped-call]
        try:
            response = stub.EvaluateFunction(request, timeout=args.timeout)
        except grpc.RpcError as exc:
            print(f"fnpool eval: {args.image}: {exc.code().name}: {exc.details()}", file=sys.stderr)
            return 1
    if response.log:
        sys.stderr.write(response.log.decode("utf-8", "replace"))
    output = parse_resource_list(response.resource_list)
    summary = summarize_results(output.get("results"))
    if summary:
        print(summary, file=sys.stderr)
    if args.write and args.source != "-":
        write_back(Path(args.source), output.get("items") or [])
    else:
        sys.stdout.write(response.resource_list.decode("utf-8", "replace"))
    return 0

"""Flags shared by the servers (`serve`, `wrapper`): listening, message size, limits."""

from __future__ import annotations

import argparse

from .. import config
from ..endpoint.server import ServerOptions
from ..evaluators.command import RunLimits


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def non_negative_float(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def add_server_flags(parser: argparse.ArgumentParser, *, host: str, port: int) -> None:
    env = config.env_default
    parser.add_argument("--host", default=env("host", host), help="address to bind (%(default)s)")
    parser.add_argument("--port", type=int, default=int(env("port", str(port))))
    parser.add_argument(
        "--max-request-body-size",
        type=positive_int,
        default=int(env("max_request_body_size", str(config.MAX_MESSAGE_SIZE))),
        help="largest gRPC message accepted or sent, in bytes (%(default)s, as Porch)",
    )
    parser.add_argument(
        "--max-concurrency",
        type=positive_int,
        default=int(env("max_concurrency", str(config.MAX_CONCURRENCY))),
        help="function processes running at once (%(default)s)",
    )
    parser.add_argument(
        "--max-queue-length",
        type=int,
        default=int(env("max_queue_length", str(config.MAX_QUEUE_LENGTH))),
        help="evaluations waiting for a slot before RESOURCE_EXHAUSTED (%(default)s)",
    )
    parser.add_argument(
        "--timeout",
        type=non_negative_float,
        default=float(env("timeout", str(config.EVALUATION_TIMEOUT))),
        help="seconds one evaluation may take, 0 for none (%(default)s)",
    )
    parser.add_argument(
        "--shutdown-grace",
        type=non_negative_float,
        default=float(env("shutdown_grace", str(config.SHUTDOWN_GRACE))),
        help="seconds in-flight evaluations get to finish after SIGTERM (%(default)s)",
    )


def server_settings(
    args: argparse.Namespace, *, check_image: bool
) -> tuple[ServerOptions, RunLimits]:
    """ServerOptions and RunLimits from parsed flags."""
    options = ServerOptions(
        host=args.host,
        port=args.port,
        max_message_size=args.max_request_body_size,
        shutdown_grace=args.shutdown_grace,
        check_image=check_image,
    )
    limits = RunLimits(
        concurrency=args.max_concurrency,
        queue_length=args.max_queue_length,
        timeout=args.timeout or None,
        # the response also carries framing; keep the function's bytes safely under the limit
        output_limit=args.max_request_body_size - 1024,
    )
    return options, limits

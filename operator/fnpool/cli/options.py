"""Flags shared by the servers (`serve`, `wrapper`): listening, message size, limits."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from .. import config
from ..endpoint.server import ServerOptions
from ..evaluators.command import RunLimits


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def message_size(text: str) -> int:
    value = int(text)
    if value < config.MIN_MESSAGE_SIZE:
        raise argparse.ArgumentTypeError(
            f"must be at least {config.MIN_MESSAGE_SIZE} bytes, got {text}"
        )
    return value


def non_negative_float(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


# flag, type, default, help; each default can also come from FNPOOL_<FLAG> (argparse converts
# string defaults with the flag's type, so a bad variable is reported like a bad flag)
LIMIT_FLAGS: tuple[tuple[str, Callable[[str], object], object, str], ...] = (
    (
        "--max-request-body-size",
        message_size,
        config.MAX_MESSAGE_SIZE,
        "largest gRPC message accepted or sent, in bytes (%(default)s, as Porch)",
    ),
    (
        "--max-concurrency",
        positive_int,
        config.MAX_CONCURRENCY,
        "function processes running at once (%(default)s)",
    ),
    (
        "--max-queue-length",
        non_negative_int,
        config.MAX_QUEUE_LENGTH,
        "evaluations waiting for a slot before RESOURCE_EXHAUSTED (%(default)s)",
    ),
    (
        "--timeout",
        non_negative_float,
        config.EVALUATION_TIMEOUT,
        "seconds one evaluation may take, 0 for none (%(default)s)",
    ),
    (
        "--shutdown-grace",
        non_negative_float,
        config.SHUTDOWN_GRACE,
        "seconds in-flight evaluations get to finish after SIGTERM (%(default)s)",
    ),
)


def add_server_flags(parser: argparse.ArgumentParser, *, host: str, port: int) -> None:
    env = config.env_default
    parser.add_argument("--host", default=env("host", host), help="address to bind (%(default)s)")
    parser.add_argument("--port", type=int, default=env("port", str(port)))
    for flag, kind, default, text in LIMIT_FLAGS:
        name = flag.removeprefix("--").replace("-", "_")
        parser.add_argument(flag, type=kind, default=env(name, str(default)), help=text)


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

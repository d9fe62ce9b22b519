"""`fnpool wrapper --port 9446 -- ENTRYPOINT...`: the server inside each function pod."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from .. import config
from .options import add_server_flags, server_settings


def add_parser(commands: Any, name: str) -> None:
    parser = commands.add_parser(
        name,
        help="serve one function's entrypoint over gRPC (runs inside function pods)",
        description=__doc__,
        usage="fnpool wrapper [options] -- ENTRYPOINT [ARG...]",
    )
    # loopback by default; the pod spec passes --host 0.0.0.0 (or FNPOOL_HOST) explicitly
    add_server_flags(parser, host="127.0.0.1", port=config.WRAPPER_PORT)


def run(args: argparse.Namespace) -> int:
    from ..wrapper.server import run_wrapper

    if not args.rest:
        raise ValueError(
            "missing the function's entrypoint: fnpool wrapper [options] -- ENTRYPOINT"
        )
    options, limits = server_settings(args, check_image=False)
    asyncio.run(run_wrapper(args.rest, options, limits))
    return 0

"""`fnpool serve --local`: the endpoint over the executable evaluator, no cluster needed."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any

from .. import config
from .options import add_server_flags, server_settings


def add_parser(commands: Any, name: str) -> None:
    parser = commands.add_parser(
        name, help="serve Porch's FunctionEvaluator API", description=__doc__
    )
    parser.add_argument(
        "--local",
        action="store_true",
        required=True,
        help="run functions as local executables (the only mode without a cluster)",
    )
    parser.add_argument(
        "--config",
        type=Path,
        default=config.env_default("config", "") or None,
        help="executable evaluator config (YAML); without it every image is NOT_FOUND",
    )
    add_server_flags(parser, host="127.0.0.1", port=config.ENDPOINT_PORT)


def run(args: argparse.Namespace) -> int:
    from ..endpoint.server import serve_until_signalled
    from ..evaluators.command import CommandRunner
    from ..evaluators.executable import ExecutableEvaluator
    from ..evaluators.executable_config import load_executable_config
    from ..evaluators.multi import MultiEvaluator

    options, limits = server_settings(args, check_image=True)
    commands: dict[str, list[str]] = {}
    prefix = ""
    if args.config is not None:
        exec_config, commands = load_executable_config(args.config)
        prefix = exec_config.default_image_prefix
    executable = ExecutableEvaluator(commands, CommandRunner(limits), prefix)
    # The chain's order is explicit: later issues add the pod evaluator after this one.
    asyncio.run(serve_until_signalled(MultiEvaluator([executable]), options))
    return 0

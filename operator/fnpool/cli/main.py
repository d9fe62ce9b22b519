"""Entry point: parse the command line and dispatch; errors become one readable line.

Subcommand modules import their heavy dependencies inside `run`, so the in-pod wrapper starts
without loading what only the other commands need.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .. import config
from . import eval_client, serve, wrapper

COMMANDS = {"serve": serve, "wrapper": wrapper, "eval": eval_client}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fnpool", description="KRM function runner for Porch (Porch-compatible gRPC)."
    )
    parser.add_argument(
        "--log-level",
        type=str.upper,
        choices=("DEBUG", "INFO", "WARNING", "ERROR"),
        default=config.env_default("log_level", config.LOG_LEVEL),
    )
    parser.add_argument(
        "--log-format",
        choices=("text", "json"),
        default=config.env_default("log_format", config.LOG_FORMAT),
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, module in COMMANDS.items():
        module.add_parser(commands, name)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """`fnpool ARGS [-- REST]`: REST is the wrapper's entrypoint or eval's KEY=VALUE pairs."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    rest: list[str] = []
    if "--" in args_list:
        split = args_list.index("--")
        args_list, rest = args_list[:split], args_list[split + 1 :]
    parser = build_parser()
    args = parser.parse_args(args_list)
    args.rest = rest
    from .. import logs

    logs.configure(args.log_level, args.log_format)
    try:
        return int(COMMANDS[args.command].run(args))
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
        print(f"fnpool {args.command}: error: {message}", file=sys.stderr)
        # bad input (files, flags, config) is the user's to fix: exit 2, like argparse
        return 2 if isinstance(exc, OSError | ValueError) else 1


if __name__ == "__main__":
    sys.exit(main())

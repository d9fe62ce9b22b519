"""Entry point of the static `fnpool-wrapper` executable (scripts/build-wrapper.sh).

`fnpool-wrapper ARGS... -- ENTRYPOINT...` behaves exactly like
`fnpool wrapper ARGS... -- ENTRYPOINT...`, e.g.

    fnpool-wrapper --port 9446 -- /usr/local/bin/function

fnpool's global options (--log-level, --log-format) may be given anywhere before
`--`; they are moved in front of the `wrapper` subcommand. FNPOOL_* environment
variables work as for `fnpool`.
"""

from __future__ import annotations

import sys

from fnpool.cli.main import main

GLOBAL_OPTIONS = ("--log-level", "--log-format")  # each takes one value


def wrapper_argv(args: list[str]) -> list[str]:
    head: list[str] = []
    sub: list[str] = []
    i = 0
    while i < len(args) and args[i] != "--":
        arg = args[i]
        if arg in GLOBAL_OPTIONS and i + 1 < len(args):
            head += args[i : i + 2]
            i += 2
            continue
        if arg.startswith(tuple(o + "=" for o in GLOBAL_OPTIONS)):
            head.append(arg)
        else:
            sub.append(arg)
        i += 1
    return [*head, "wrapper", *sub, *args[i:]]


if __name__ == "__main__":
    sys.exit(main(wrapper_argv(sys.argv[1:])))

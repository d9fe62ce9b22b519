"""Every tunable default in one place; each can be set by a flag or an FNPOOL_* variable.

Flags win over the environment, the environment over these defaults, so a Helm chart can set
variables while a developer passes flags.
"""

from __future__ import annotations

import os

ENDPOINT_PORT = 9445  # Porch's function-runner port
WRAPPER_PORT = 9446  # Porch's wrapper-server port
MAX_MESSAGE_SIZE = 6 * 1024 * 1024  # Porch's --max-request-body-size on both hops
MIN_MESSAGE_SIZE = 64 * 1024  # below this, framing would eat the functions' output budget
MAX_CONCURRENCY = os.cpu_count() or 1
MAX_QUEUE_LENGTH = 64
EVALUATION_TIMEOUT = 300.0  # seconds; Porch has none, a hung function then hangs the caller
SHUTDOWN_GRACE = 25.0  # seconds; under Kubernetes' default 30 s termination grace period
LOG_FORMAT = "text"
LOG_LEVEL = "INFO"


def env_default(name: str, default: str) -> str:
    """The value of FNPOOL_<NAME> if set, else `default`."""
    return os.environ.get(f"FNPOOL_{name.upper()}", default)

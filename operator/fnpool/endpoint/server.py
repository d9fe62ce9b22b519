"""The gRPC server: evaluator service, standard health, reflection, graceful SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import signal
from dataclasses import dataclass

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from .. import config
from ..evaluators import Evaluator
from .servicer import SERVICE_NAME, FunctionEvaluatorService

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServerOptions:
    host: str
    port: int
    max_message_size: int = config.MAX_MESSAGE_SIZE
    shutdown_grace: float = config.SHUTDOWN_GRACE
    check_image: bool = True


class EvaluatorServer:
    """One listening gRPC server; `port` is the bound port (useful when asked for port 0)."""

    def __init__(self, evaluator: Evaluator, options: ServerOptions) -> None:
        self.options = options
        self._health = health.aio.HealthServicer()
        self._server = grpc.aio.server(
            options=[
                ("grpc.max_receive_message_length", options.max_message_size),
                ("grpc.max_send_message_length", options.max_message_size),
                ("grpc.so_reuseport", 0),
            ]
        )
        service = FunctionEvaluatorService(evaluator, check_image=options.check_image)
        self._server.add_generic_rpc_handlers((service.handler(),))
        health_pb2_grpc.add_HealthServicer_to_server(self._health, self._server)
        reflection.enable_server_reflection(
            (SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME), self._server
        )
        self.port = self._server.add_insecure_port(f"{options.host}:{options.port}")
        if self.port == 0:
            raise OSError(f"cannot listen on {options.host}:{options.port}")

    async def start(self) -> None:
        await self._server.start()
        await self._set_status(health_pb2.HealthCheckResponse.SERVING)

    async def stop(self) -> None:
        """Refuse new calls at once; let in-flight evaluations finish within the grace period."""
        await self._set_status(health_pb2.HealthCheckResponse.NOT_SERVING)
        await self._server.stop(self.options.shutdown_grace)

    async def _set_status(self, status: int) -> None:
        for name in ("", SERVICE_NAME):
            await self._health.set(name, status)


async def serve_until_signalled(evaluator: Evaluator, options: ServerOptions) -> None:
    """Serve until SIGTERM or SIGINT, then stop gracefully."""
    server = EvaluatorServer(evaluator, options)
    await server.start()
    log.info("serving on %s:%d", options.host, server.port)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    await stopping.wait()
    log.info("signal received: refusing new calls, finishing in-flight evaluations")
    await server.stop()
    log.info("stopped")

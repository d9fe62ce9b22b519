"""EvaluateFunction: validate the request, run the evaluator chain, map failures to statuses."""

from __future__ import annotations

import logging
import time

import grpc
from google.protobuf.message import DecodeError

from ..errors import EvaluationError, InvalidRequest
from ..evaluators import Evaluator
from ..images import parse_image
from ..proto import evaluator_pb2

SERVICE_NAME = "evaluator.FunctionEvaluator"
METHOD_NAME = "EvaluateFunction"

log = logging.getLogger(__name__)


class FunctionEvaluatorService:
    """Serves one evaluator; every failure becomes a status code with an actionable message."""

    def __init__(self, evaluator: Evaluator, *, check_image: bool = True) -> None:
        self._evaluator = evaluator
        self._check_image = check_image

    async def evaluate_function(
        self, request_bytes: bytes, context: grpc.aio.ServicerContext
    ) -> bytes:
        started = time.monotonic()
        image = ""
        try:
            request = _decode_request(request_bytes)
            image = request.image
            if self._check_image:
                parse_image(image)
            output = await self._evaluator.evaluate(
                image, request.resource_list, context.time_remaining()
            )
        except EvaluationError as exc:
            log.info("evaluation failed", extra=_fields(image, exc.code, started))
            await context.abort(exc.code, exc.message)
        except Exception:
            log.exception("unexpected error evaluating %r", image)
            await context.abort(grpc.StatusCode.INTERNAL, f"internal error evaluating {image!r}")
        log.debug("evaluated", extra=_fields(image, grpc.StatusCode.OK, started))
        response = evaluator_pb2.EvaluateFunctionResponse(
            resource_list=output.resource_list, log=output.log
        )
        return response.SerializeToString()

    def handler(self) -> grpc.GenericRpcHandler:
        """The service's handler; requests arrive as raw bytes so bad ones get INVALID_ARGUMENT."""
        method = grpc.unary_unary_rpc_method_handler(self.evaluate_function)
        return grpc.method_handlers_generic_handler(SERVICE_NAME, {METHOD_NAME: method})


def _decode_request(data: bytes) -> evaluator_pb2.EvaluateFunctionRequest:
    request = evaluator_pb2.EvaluateFunctionRequest()
    try:
        request.ParseFromString(data)
    except DecodeError as exc:
        raise InvalidRequest(f"request is not an EvaluateFunctionRequest: {exc}") from None
    return request


def _fields(image: str, code: grpc.StatusCode, started: float) -> dict[str, object]:
    return {
        "image": image,
        "grpc_code": code.name,
        "duration_ms": round((time.monotonic() - started) * 1000, 3),
    }

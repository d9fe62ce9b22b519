"""Evaluation failures, each carrying the gRPC status code the endpoint answers with.

Evaluators raise these; only the endpoint turns them into gRPC statuses, so every layer below
speaks one vocabulary and the SPEC §6 error table lives in one place.
"""

from __future__ import annotations

import grpc


class EvaluationError(Exception):
    """A failure that the caller must see as `code` with a message a human can act on."""

    code: grpc.StatusCode = grpc.StatusCode.INTERNAL

    def __init__(self, message: str, code: grpc.StatusCode | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code

    @property
    def message(self) -> str:
        return str(self.args[0])


class InvalidRequest(EvaluationError):
    code = grpc.StatusCode.INVALID_ARGUMENT


class FunctionNotFound(EvaluationError):
    """No evaluator knows the image; the Multi evaluator falls through only on this."""

    code = grpc.StatusCode.NOT_FOUND


class ResourceExhausted(EvaluationError):
    code = grpc.StatusCode.RESOURCE_EXHAUSTED


class DeadlineExceeded(EvaluationError):
    code = grpc.StatusCode.DEADLINE_EXCEEDED


class FunctionFailed(EvaluationError):
    """The function ran and failed (non-zero exit): Porch reports this as INTERNAL."""

    code = grpc.StatusCode.INTERNAL

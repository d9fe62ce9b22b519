"""Evaluators: the ways fnpool turns (image, ResourceList) into a function's output."""

from .base import Evaluator, FunctionOutput

__all__ = ["Evaluator", "FunctionOutput"]

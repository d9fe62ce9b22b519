"""Porch's evaluator wire contract: the .proto and the stubs generated from it."""

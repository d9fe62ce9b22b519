"""The in-pod wrapper: Porch's evaluator service in front of one function's own entrypoint."""

"""The gRPC endpoint: Porch's FunctionEvaluator service over an evaluator chain."""

"""The committed stubs must equal a fresh generation from evaluator.proto (`make proto`)."""

from __future__ import annotations

from pathlib import Path

from fnpool.proto import evaluator_pb2, generate


def test_committed_stubs_are_fresh(tmp_path: Path) -> None:
    for name, text in generate.generate(tmp_path).items():
        committed = (generate.PROTO_DIR / name).read_text()
        assert committed == text, f"{name} is stale: run `make proto`"


def test_wire_contract_is_porchs() -> None:
    service = evaluator_pb2.DESCRIPTOR.services_by_name["FunctionEvaluator"]
    method = service.methods_by_name["EvaluateFunction"]
    assert service.full_name == "evaluator.FunctionEvaluator"
    assert method.input_type.full_name == "evaluator.EvaluateFunctionRequest"
    assert method.output_type.full_name == "evaluator.EvaluateFunctionResponse"
    fields = {
        message: {f.name: (f.number, f.type) for f in descriptor.fields}
        for message, descriptor in evaluator_pb2.DESCRIPTOR.message_types_by_name.items()
    }
    bytes_, string = 12, 9  # FieldDescriptor.TYPE_BYTES, TYPE_STRING
    assert fields["EvaluateFunctionRequest"] == {
        "resource_list": (1, bytes_),
        "image": (2, string),
    }
    assert fields["EvaluateFunctionResponse"] == {"resource_list": (1, bytes_), "log": (2, bytes_)}
    assert set(fields["ConfigMap"]) == {"data"}

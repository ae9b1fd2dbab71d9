"""Python gRPC stubs generated from Proto/ at run time (grpcio-tools), so a harness speaks the
node's protocol as an independent client."""

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def generate_stubs(out):
    """(node_pb2, node_pb2_grpc), generated into `out` (which is put on sys.path: event_pb2 and
    the others import from there too)."""
    from grpc_tools import protoc

    os.makedirs(out, exist_ok=True)
    args = ["protoc", f"-I{ROOT}/Proto", f"--python_out={out}", f"--grpc_python_out={out}",
            "footfall/v1/event.proto", "footfall/v1/node.proto"]
    if protoc.main(args) != 0:
        raise SystemExit("could not generate Python stubs from Proto/")
    sys.path.insert(0, out)
    from footfall.v1 import node_pb2, node_pb2_grpc  # noqa: E402
    return node_pb2, node_pb2_grpc

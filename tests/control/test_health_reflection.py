"""The standard health service and server reflection, as grpcurl and load balancers use them."""

from __future__ import annotations

from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

from arbiter.control.service import SERVICE_NAME
from tests.control.conftest import ServerThread


def test_health_serving_without_a_token(channel: grpc.Channel) -> None:
    stub = health_pb2_grpc.HealthStub(channel)
    for service in ("", SERVICE_NAME):
        resp = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
        assert resp.status == health_pb2.HealthCheckResponse.SERVING
    err: Any = None
    try:
        stub.Check(health_pb2.HealthCheckRequest(service="nope.Service"), timeout=5)
    except grpc.RpcError as exc:
        err = exc
    assert err is not None and err.code() is grpc.StatusCode.NOT_FOUND


def test_health_goes_not_serving_on_shutdown(server: ServerThread) -> None:
    with grpc.insecure_channel(server.target) as ch:
        stub = health_pb2_grpc.HealthStub(ch)
        server.run(server.server.health.enter_graceful_shutdown())
        resp = stub.Check(health_pb2.HealthCheckRequest(service=SERVICE_NAME), timeout=5)
        assert resp.status == health_pb2.HealthCheckResponse.NOT_SERVING


def test_reflection_lists_and_describes_the_service(channel: grpc.Channel) -> None:
    db = ProtoReflectionDescriptorDatabase(channel)
    services = set(db.get_services())
    assert {SERVICE_NAME, "grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection"} <= services
    fdp = db.FindFileContainingSymbol(SERVICE_NAME)
    assert fdp.name == "arbiter/control/v1/control.proto"
    (svc,) = [s for s in fdp.service if s.name == "ControlService"]
    methods = {m.name: m for m in svc.method}
    assert {"GetStatus", "TripKillSwitch", "SetRiskLimits", "StreamSagas"} <= set(methods)
    assert methods["StreamOpportunities"].server_streaming
    assert not methods["GetPnl"].server_streaming

"""Schemathesis hooks for the bad-input campaign (loaded through `hooks = ...` in the generated config).

Coffer connects to the address in a create or update body before it answers (it adopts a Redis server,
reads a MySQL handshake). Generated bodies would make it dial arbitrary hosts and ports; this machine
may only send traffic to loopback, and only to servers the campaign started. So every address field is
rewritten to 127.0.0.1 and every port to one the campaign owns: its Redis for DCS (so that creates can
succeed and reach the code after the connection), a closed port for data nodes (so that the handshake
fails at once instead of waiting for a MySQL greeting that never comes). Every other field stays as
generated, including wrong types and missing fields.
"""

from __future__ import annotations

import os

import schemathesis

LOOPBACK = "127.0.0.1"
REDIS_PORT = int(os.environ.get("COFFER_FUZZ_REDIS_PORT", "0"))
CLOSED_PORT = int(os.environ.get("COFFER_FUZZ_CLOSED_PORT", "0"))

#: operationId → the port its body's `port` is pinned to (the address is always loopback).
PINNED_PORTS = {
    "createInstance": REDIS_PORT,
    "updateInstance": REDIS_PORT,
    "createDataNode": CLOSED_PORT,
}


def _pin_address(body: dict, port: int) -> None:
    """Loopback and the pinned port wherever Coffer would dial: a string address, a numeric or default port.
    Non-string addresses and non-numeric ports stay: Coffer refuses those before it connects."""
    if isinstance(body.get("private_ip"), str):
        body["private_ip"] = LOOPBACK
        port_value = body.get("port")
        if "port" not in body or (isinstance(port_value, (int, float)) and not isinstance(port_value, bool)):
            body["port"] = port
    elif isinstance(body.get("port"), (int, float)) and not isinstance(body.get("port"), bool):
        # updateInstance: a new port is dialled on the stored address (loopback, set by the campaign).
        body["port"] = port


@schemathesis.hook
def before_call(context, case, kwargs):
    port = PINNED_PORTS.get(case.operation.definition.raw.get("operationId"))
    if port is not None and isinstance(case.body, dict):
        _pin_address(case.body, port)

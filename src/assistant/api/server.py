"""How the API is served: uvicorn on h11 with bounded headers and a deadline for them, connections bounded per
client address (the oldest waiting one gives way), and the refusal to serve an open (keyless) API on a network
address."""

from __future__ import annotations

import ipaddress
import sys

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from assistant.core.config import Settings

MAX_HEADER_BYTES = 64 * 1024
SWITCH_INTERVAL = 0.0005  # seconds; CPython's default is 0.005


class ExposureError(RuntimeError):
    """Serving would expose an API without keys beyond this machine."""


def is_loopback_address(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_exposure(host: str, settings: Settings) -> None:
    if not settings.api_key_roles and not is_loopback_address(host) and not settings.allow_open_network:
        raise ExposureError(
            f"refusing to serve on {host} without API keys: anyone on the network could read and change the "
            "documents. Set ASSISTANT_API_KEYS (e.g. 'secret:admin'), serve on 127.0.0.1, or set "
            "ASSISTANT_ALLOW_OPEN_NETWORK=true if this network is trusted.")


class Connections:
    """The open connections, oldest first, per client address. A connection is *waiting* when it is not in the
    middle of a request (headers not all in yet, or an idle keep-alive): it costs a socket and nothing else, so
    it is the one to drop when room is needed. Room is needed past `per_address` connections of one address or
    `total` of all; a new connection for which no waiting one can be dropped is refused (closed at once)."""

    def __init__(self, per_address: int, total: int) -> None:
        self.per_address, self.total = per_address, total
        self.by_address: dict[str, list] = {}
        self.count = 0

    def admit(self, conn, address: str) -> bool:
        mine = self.by_address.get(address, [])
        if len(mine) >= self.per_address and not self._drop_waiting(mine):
            return False
        if self.count >= self.total and not self._drop_waiting([c for cs in self.by_address.values() for c in cs]):
            return False
        self.by_address.setdefault(address, []).append(conn)
        self.count += 1
        return True

    def forget(self, conn, address: str) -> None:
        mine = self.by_address.get(address, [])
        if conn in mine:
            mine.remove(conn)
            self.count -= 1
            if not mine:
                del self.by_address[address]

    @staticmethod
    def _drop_waiting(candidates: list) -> bool:
        for conn in candidates:  # oldest first
            if conn.waiting() and not conn.transport.is_closing():
                conn.transport.close()  # its connection_lost() forgets it
                return True
        return False


def guarded_protocol(settings: Settings) -> type[H11Protocol]:
    """uvicorn's h11 protocol with two defences against connections that hold a socket and send nothing useful:
    one that has not finished its request headers within `header_timeout_seconds` of starting them (slowloris)
    is closed (uvicorn itself only times out idle keep-alive connections), and Connections bounds them per client
    address and in all, dropping the oldest waiting one first, so they cannot starve real requests."""
    seconds = settings.header_timeout_seconds
    connections = Connections(settings.max_connections_per_address, settings.max_connections)

    class GuardedH11Protocol(H11Protocol):
        _deadline = None

        def connection_made(self, transport):  # type: ignore[override]
            super().connection_made(transport)
            self._address = self.client[0] if self.client else "?"
            if not connections.admit(self, self._address):
                transport.close()
                return
            self._arm()

        def waiting(self) -> bool:
            return self.cycle is None or self.cycle.response_complete

        def data_received(self, data: bytes) -> None:
            if self.conn.their_state is h11.IDLE:
                self._arm()
            super().data_received(data)
            if self.conn.their_state is not h11.IDLE:
                self._disarm()

        def connection_lost(self, exc):
            connections.forget(self, getattr(self, "_address", "?"))
            self._disarm()
            super().connection_lost(exc)

        def _arm(self) -> None:
            if self._deadline is None:
                self._deadline = self.loop.call_later(seconds, self._too_slow)

        def _disarm(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None

        def _too_slow(self) -> None:
            self._deadline = None
            if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
                self.transport.close()

    GuardedH11Protocol.connections = connections  # type: ignore[attr-defined]  # for tests and benches
    return GuardedH11Protocol


def uvicorn_config(app, settings: Settings, host: str, port: int) -> uvicorn.Config:
    # The indexing worker runs pure-Python stages (sentence splitting) for seconds at a time; a search hands the GIL
    # back and forth many times (HTTP, e5 via ctypes, the engine), waiting up to the switch interval each time it
    # wants it back. A shorter interval keeps searches near their idle latency while an upload indexes
    # (bench/worst_upload.py).
    sys.setswitchinterval(SWITCH_INTERVAL)
    return uvicorn.Config(app, host=host, port=port, log_config=None, access_log=False, lifespan="on",
                          http=guarded_protocol(settings), h11_max_incomplete_event_size=MAX_HEADER_BYTES,
                          timeout_keep_alive=5,
                          # Connections are bounded by guarded_protocol and requests in progress by the Guard:
                          # uvicorn's own limit counts idle sockets too, so a few hundred of them denied service.
                          limit_concurrency=None)

"""How the API is served: uvicorn on h11 with bounded headers and a deadline for them, and the refusal to serve
an open (keyless) API on a network address."""

from __future__ import annotations

import ipaddress

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from ..config import Settings

MAX_HEADER_BYTES = 64 * 1024


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


def protocol_with_header_deadline(seconds: float) -> type[H11Protocol]:
    """uvicorn's h11 protocol, closing a connection that has not finished sending its request headers within
    `seconds` of starting them (slowloris). uvicorn itself only times out idle keep-alive connections."""

    class GuardedH11Protocol(H11Protocol):
        _deadline = None

        def connection_made(self, transport):  # type: ignore[override]
            super().connection_made(transport)
            self._arm()

        def data_received(self, data: bytes) -> None:
            if self.conn.their_state is h11.IDLE:
                self._arm()
            super().data_received(data)
            if self.conn.their_state is not h11.IDLE:
                self._disarm()

        def connection_lost(self, exc):
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

    return GuardedH11Protocol


def uvicorn_config(app, settings: Settings, host: str, port: int) -> uvicorn.Config:
    return uvicorn.Config(app, host=host, port=port, log_config=None, access_log=False, lifespan="on",
                          http=protocol_with_header_deadline(settings.header_timeout_seconds),
                          h11_max_incomplete_event_size=MAX_HEADER_BYTES, timeout_keep_alive=5,
                          limit_concurrency=200)

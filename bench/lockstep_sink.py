"""A benchmark sink that does not offer PIPELINING: stock aiosmtpd (it answers one command at a
time, as such a server must), with its DATA read in bulk. Stock aiosmtpd reads DATA line by
line and tops out near 360 messages/s on this machine, which would measure the sink, not the
client.

    python bench/lockstep_sink.py [--port N]    prints `listening on PORT`

It counts messages and the time each arrived; `XSTAT` answers `250 COUNT STEADY` where STEADY
is the rate between the 10th and the 90th percentile of arrivals (start-up and wind-down
excluded); `XRESET` starts counting again.
"""

from __future__ import annotations

import argparse
import asyncio
import threading
import time

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, syntax


class Counting:
    def __init__(self) -> None:
        self.arrivals: list[float] = []

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: ANN001
        self.arrivals.append(time.monotonic())
        return "250 2.0.0 Ok: queued"

    def steady(self) -> float:
        times = self.arrivals
        if len(times) < 10:
            return 0.0
        low, high = len(times) // 10, len(times) * 9 // 10
        return (high - low) / max(times[high] - times[low], 1e-9)


class ChunkedSMTP(SMTP):
    """aiosmtpd with DATA read up to its end in one go, and the two benchmark commands."""

    @syntax("DATA")
    async def smtp_DATA(self, arg: str) -> None:
        assert self.envelope is not None
        if not self.envelope.rcpt_tos:
            await self.push("503 Error: need RCPT command")
            return
        await self.push("354 End data with <CR><LF>.<CR><LF>")
        parts = []
        while True:
            try:
                parts.append(await self._reader.readuntil(b"\r\n.\r\n"))
                break
            except asyncio.LimitOverrunError as exc:
                parts.append(await self._reader.read(exc.consumed))
        data = b"".join(parts)[:-3].replace(b"\r\n..", b"\r\n.")
        self.envelope.content = self.envelope.original_content = data
        status = await self._call_handler_hook("DATA")
        self._set_post_data_state()
        await self.push(status)

    async def smtp_XSTAT(self, arg: str) -> None:
        handler: Counting = self.event_handler
        await self.push(f"250 {len(handler.arrivals)} {handler.steady():.1f}")

    async def smtp_XRESET(self, arg: str) -> None:
        self.event_handler.arrivals.clear()
        await self.push("250 Ok")


class LockstepController(Controller):
    def factory(self) -> SMTP:
        return ChunkedSMTP(self.handler, data_size_limit=50_000_000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    port = args.port
    if not port:
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
    controller = LockstepController(Counting(), hostname="127.0.0.1", port=port)
    controller.start()
    print(f"listening on {port}", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()

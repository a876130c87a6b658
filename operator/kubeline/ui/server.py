"""Serving the UI: on the main thread (`kubeline ui`) or beside a local run (`kubeline run --ui`)."""

from __future__ import annotations

import asyncio
import ipaddress
import threading
from collections.abc import Callable

from aiohttp import web

from kubeline.ui.app import LOOPBACK_HOSTS, make_app
from kubeline.ui.sources import Source


def is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return address == "localhost"


async def start(source: Source, address: str, port: int, base_path: str = "") -> tuple[web.AppRunner, str]:
    """The UI listening (the source's first listing done); its runner and its URL."""
    app = make_app(source, base_path=base_path, allowed_hosts=LOOPBACK_HOSTS if is_loopback(address) else None)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, address, port)
    await site.start()
    bound = runner.addresses[0][1] if runner.addresses else port
    host = f"[{address}]" if ":" in address else address
    return runner, f"http://{host}:{bound}{base_path.rstrip('/')}/"


async def serve(source: Source, address: str, port: int, on_ready: Callable[[str], None], base_path: str = "") -> None:
    """Serves until cancelled (Ctrl-C)."""
    runner, url = await start(source, address, port, base_path)
    on_ready(url)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


class BackgroundServer:
    """The UI on its own event loop in a daemon thread, beside a run on the main thread."""

    def __init__(self, source: Source, address: str, port: int):
        self._ready = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._stop: asyncio.Event | None = None
        self.url = ""
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(source, address, port), daemon=True, name="kubeline-ui")

    def start(self) -> str:
        """The URL, once listening; raises what stopped it from listening."""
        self._thread.start()
        self._ready.wait()
        if self.error is not None:
            raise self.error
        return self.url

    def _run(self, source: Source, address: str, port: int) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._main(source, address, port))

    async def _main(self, source: Source, address: str, port: int) -> None:
        self._stop = asyncio.Event()
        try:
            runner, self.url = await start(source, address, port)
        except BaseException as error:  # noqa: BLE001 - handed to the thread that waits in start()
            self.error = error
            self._ready.set()
            return
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            await runner.cleanup()

    def stop(self) -> None:
        if self._stop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=5)

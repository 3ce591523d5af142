"""`cnn-tui serve`: the same app in a browser, through Textualize's textual-serve, closed by default.

textual-serve starts one app process for every websocket that connects and checks nothing. Here every request
must carry the secret token printed in the URL (random per start, or $CNN_TUI_SERVE_TOKEN), every websocket must
come from a page of this server (its Origin is the address the browser used, and on a loopback address that
address is a loopback name, which stops DNS rebinding), and a wrong request gets 403 before any process starts.
A non-loopback address needs TLS (--certfile/--keyfile) or an explicit --insecure. One tab is one app process;
closing the tab quits that app the way its own Quit does after the confirmation (a run it trains is stopped at the
next batch and summarised), and an app that crashes only ends its own tab.

Needs the optional extra: pip install "cnn-tui[web]" (textual-serve and its aiohttp).
"""

from __future__ import annotations

import asyncio
import html
import ipaddress
import os
import re
import secrets
import signal
import ssl
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

TOKEN_ENV = "CNN_TUI_SERVE_TOKEN"
"""Environment variable with a token of the user's own (not a command-line option: other users see those in ps)."""

TOKEN_PATTERN = re.compile(r"[A-Za-z0-9_-]{16,128}")
LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1", "[::1]"}
QUIT_TIMEOUT = 120.0
"""How long a closed tab's app gets to stop its run and exit before it is killed."""

INSTALL_HINT = 'cnn-tui serve needs the web extra: pip install "cnn-tui[web]"  (textual-serve and aiohttp)'


class ServeError(Exception):
    """A serve option that cannot work; the message says what to do instead."""


def is_loopback(host: str) -> bool:
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_token(token: str) -> str:
    if not TOKEN_PATTERN.fullmatch(token):
        raise ServeError(f"${TOKEN_ENV} must be 16 to 128 characters of letters, digits, - and _ (it goes in the "
                         "URL); unset it to get a random token")
    return token


def make_token() -> str:
    return check_token(os.environ.get(TOKEN_ENV) or secrets.token_urlsafe(24))


def origin_allowed(origin: str | None, host_header: str | None, secure: bool, bound_host: str) -> bool:
    """A websocket's Origin is the page this server served: the scheme and address the browser used (the Host
    header). Served on a loopback address, that address must be a loopback name too: a foreign site that
    rebinds its DNS name to 127.0.0.1 sends its own name as Host and is refused."""
    if not origin or not host_header:
        return False
    parts = urlsplit(origin)
    if parts.scheme != ("https" if secure else "http") or parts.netloc.lower() != host_header.lower():
        return False
    return not is_loopback(bound_host) or is_loopback(parts.hostname or "")


def ssl_context(certfile: str | None, keyfile: str | None) -> ssl.SSLContext | None:
    if not certfile and not keyfile:
        return None
    if not (certfile and keyfile):
        raise ServeError("TLS needs both --certfile and --keyfile")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(certfile, keyfile)
    except (OSError, ssl.SSLError) as exc:
        raise ServeError(f"cannot use the certificate {certfile} with the key {keyfile}: {exc}") from exc
    return context


def exposure_check(host: str, tls: bool, insecure: bool) -> str | None:
    """None on a loopback address or with TLS; the warning to print with --insecure; else refuse."""
    if is_loopback(host) or tls:
        return None
    if not insecure:
        raise ServeError(f"--host {host} is reachable from other machines: give --certfile and --keyfile (TLS), or "
                         "add --insecure to serve plain HTTP anyway. To use it from another machine without "
                         "exposing it, keep the default 127.0.0.1 and forward the port over SSH (see the README)")
    return (f"WARNING: --insecure: serving plain HTTP on {host}. Anyone on the network path can read the token in "
            "the URL and the screen, then start and stop training, read the runs folder and write presets as "
            "this user.")


@dataclass
class Tab:
    number: int
    peer: str
    pid: int | None = None
    returncode: int | None = None


def _app_service_class() -> Any:
    from textual_serve.app_service import AppService

    class AppProcess(AppService):  # type: ignore[misc]
        """textual-serve's app service, started without a shell, without our token in its environment, and
        closing its tab when the process ends for any reason (a crash included)."""

        def __init__(self, argv: list[str], tab: Tab, log: Callable[[str], None], **kwargs: Any) -> None:
            super().__init__(" ".join(argv), **kwargs)
            self.argv, self.tab, self.log = argv, tab, log

        def _build_environment(self, width: int = 80, height: int = 24) -> dict[str, str]:
            env = super()._build_environment(width, height)
            env.pop(TOKEN_ENV, None)
            return env

        async def _open_app_process(self, width: int = 80, height: int = 24) -> Any:
            self._process = process = await asyncio.create_subprocess_exec(
                *self.argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE, env=self._build_environment(width, height),
                start_new_session=True)  # Ctrl+C in the server's terminal reaches the server, which quits each app
            self._stdin = process.stdin
            self.tab.pid = process.pid
            self.log(f"tab {self.tab.number} ({self.tab.peer}): app process {process.pid} started")
            return process

        async def run(self) -> None:
            await super().run()
            process = self._process
            assert process is not None
            self.tab.returncode = code = await process.wait()
            self.log(f"tab {self.tab.number}: app process {process.pid} "
                     + ("ended" if code == 0 else f"ended with status {code} (the server goes on)"))
            await self.remote_close()  # the browser shows that this tab's app ended

        async def stop(self) -> None:
            task = self._task
            if task is None:
                return
            await self.send_meta({"type": "quit"})
            try:
                await asyncio.wait_for(asyncio.shield(task), QUIT_TIMEOUT)
            except asyncio.TimeoutError:
                process = self._process
                assert process is not None
                self.log(f"tab {self.tab.number}: app process {process.pid} did not quit in "
                         f"{QUIT_TIMEOUT:.0f} s; killing it")
                if process.returncode is None:
                    process.kill()
                await task
            self._task = None

    return AppProcess


PAGE = (Path(__file__).with_name("serve_page.html")).read_text(encoding="utf-8")


@dataclass
class WebServer:
    """The aiohttp application: / (the page), /ws/TOKEN (one app per websocket), /static (textual-serve's)."""

    argv: list[str]
    token: str
    host: str = "127.0.0.1"
    port: int = 8000
    ssl_context: ssl.SSLContext | None = None
    title: str = "cnn-tui"
    log: Callable[[str], None] = field(default=lambda line: print(line, flush=True))
    tabs: list[Tab] = field(default_factory=list)
    _services: set[Any] = field(default_factory=set)

    # -- requests -----------------------------------------------------------------------------------------
    def _token_ok(self, given: str | None) -> bool:
        return given is not None and secrets.compare_digest(given.encode(), self.token.encode())

    def _refuse(self, request: Any, why: str) -> Any:
        from aiohttp import web

        path = "/ws/…" if request.path.startswith("/ws/") else request.path  # never log a token
        self.log(f"refused {path} from {request.remote}: {why}")
        return web.Response(status=403, text=f"403 Forbidden: {why}\n", headers={"Cache-Control": "no-store"})

    async def index(self, request: Any) -> Any:
        from aiohttp import web

        if not self._token_ok(request.query.get("token")):
            return self._refuse(request, "open the URL that `cnn-tui serve` printed, with its ?token=…")
        scheme = "wss" if request.secure else "ws"
        try:
            font_size = min(max(int(request.query.get("fontsize", "16")), 8), 40)
        except ValueError:
            font_size = 16
        page = (PAGE.replace("{title}", html.escape(self.title))
                .replace("{ws_url}", html.escape(f"{scheme}://{request.host}/ws/{self.token}"))
                .replace("{font_size}", str(font_size)))
        return web.Response(text=page, content_type="text/html", headers={
            "Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY",
            "Content-Security-Policy": "default-src 'self'; style-src 'self' 'unsafe-inline'; "
                                       "connect-src 'self'; frame-ancestors 'none'"})

    async def websocket(self, request: Any) -> Any:
        from aiohttp import web
        from textual_serve.download_manager import DownloadManager

        if not self._token_ok(request.match_info.get("token")):
            return self._refuse(request, "wrong or missing token")
        if not origin_allowed(request.headers.get("Origin"), request.host, request.secure, self.host):
            return self._refuse(request, f"Origin {request.headers.get('Origin')!r} is not a page of this server")
        width, height = (_int(request.query.get(k), d) for k, d in (("width", 80), ("height", 24)))
        tab = Tab(len(self.tabs) + 1, request.remote or "?")
        self.tabs.append(tab)
        ws = web.WebSocketResponse(heartbeat=15)
        await ws.prepare(request)
        service = _app_service_class()(self.argv, tab, self.log, write_bytes=ws.send_bytes, write_str=ws.send_str,
                                       close=ws.close, download_manager=DownloadManager())
        self._services.add(service)
        try:
            await service.start(width, height)
            await _pump(ws, service)
        except Exception as exc:
            self.log(f"tab {tab.number}: {type(exc).__name__}: {exc}")
        finally:
            await service.stop()  # the tab closed: the app quits, a run it trains is stopped and summarised
            self._services.discard(service)
            await ws.close()
        return ws

    async def quit_tabs(self) -> None:
        """Every open tab's app quits (and summarises its run) before the server stops listening."""
        await asyncio.gather(*(service.stop() for service in list(self._services)), return_exceptions=True)

    def make_app(self) -> Any:
        import textual_serve
        from aiohttp import web

        static = Path(str(textual_serve.__file__)).parent / "static"
        app = web.Application()
        app.add_routes([web.get("/", self.index), web.get("/ws/{token}", self.websocket),
                        web.get("/ws", self.websocket), web.static("/static", static),
                        web.get("/favicon.ico", _no_content)])
        return app

    # -- running ------------------------------------------------------------------------------------------
    async def start(self) -> tuple[Any, str]:
        """Listen; return the runner (to clean up) and the URL to open."""
        from aiohttp import web

        runner = web.AppRunner(self.make_app(), handle_signals=False, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port, ssl_context=self.ssl_context, shutdown_timeout=5)
        await site.start()
        self.port = runner.addresses[0][1]  # the real port when 0 was asked for
        host = f"[{self.host}]" if ":" in self.host else self.host
        return runner, f"{'https' if self.ssl_context else 'http'}://{host}:{self.port}/?token={self.token}"

    async def serve_forever(self, on_ready: Callable[[str], None]) -> None:
        runner, url = await self.start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        on_ready(url)
        try:
            await stop.wait()
        finally:
            self.log("stopping: every tab's app quits (runs are stopped and summarised)…")
            await self.quit_tabs()
            await runner.cleanup()


async def _pump(ws: Any, service: Any) -> None:
    """textual-serve's browser protocol: keys, resizes, focus and pings from the page to the app."""
    from aiohttp import WSMsgType

    async for message in ws:
        if message.type != WSMsgType.TEXT:
            continue
        try:
            kind, *rest = message.json()
        except (ValueError, TypeError):
            continue
        data = rest[0] if rest else None
        if kind == "stdin" and isinstance(data, str):
            await service.send_bytes(data.encode("utf-8"))
        elif kind == "resize" and isinstance(data, dict):
            await service.set_terminal_size(_int(data.get("width"), 80), _int(data.get("height"), 24))
        elif kind == "ping":
            await ws.send_json(["pong", data])
        elif kind == "blur":
            await service.blur()
        elif kind == "focus":
            await service.focus()


async def _no_content(_request: Any) -> Any:
    from aiohttp import web

    return web.Response(status=204)


def _int(value: Any, default: int) -> int:
    try:
        return min(max(int(value), 1), 1000)
    except (TypeError, ValueError):
        return default


def app_argv(app_args: list[str]) -> list[str]:
    """The command each tab's app process runs: this Python, this cnn-tui, the options given to serve."""
    return [sys.executable, "-m", "tui.cli", *app_args]


def cmd_serve(args: Any, app_args: list[str]) -> int:
    from importlib.util import find_spec

    if find_spec("aiohttp") is None or find_spec("textual_serve") is None:
        print(INSTALL_HINT, file=sys.stderr)
        return 2
    try:
        context = ssl_context(args.certfile, args.keyfile)
        warning = exposure_check(args.host, context is not None, args.insecure)
        token = make_token()
    except ServeError as exc:
        print(f"cnn-tui serve: {exc}", file=sys.stderr)
        return 2
    if warning:
        print(warning, file=sys.stderr)
    server = WebServer(app_argv(app_args), token, args.host, args.port, context)

    def ready(url: str) -> None:
        print(f"cnn-tui in a browser, one app per tab: {url}", flush=True)
        if is_loopback(args.host):
            print(f"From another machine: ssh -L {server.port}:127.0.0.1:{server.port} THIS_HOST, then open the "
                  "same URL there. Ctrl+C stops the server.", flush=True)

    try:
        asyncio.run(server.serve_forever(ready))
    except OSError as exc:
        print(f"cnn-tui serve: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    return 0

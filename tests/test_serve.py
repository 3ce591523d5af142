"""`cnn-tui serve`: closed by default (token, Origin, loopback, TLS), one app process per tab, and a tab that
closes or crashes ends only its own app. The browser itself is driven in test_serve_browser.py; here the page's
websocket is spoken to directly, as the page's script does."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

import pytest

from tui import cli
from tui.serve import ServeError, exposure_check, origin_allowed

pytest.importorskip("textual_serve", reason="the [web] extra (textual-serve) is not installed")
aiohttp = pytest.importorskip("aiohttp")

from served import F5, Served, alive, screen_text, wait_until  # noqa: E402 - after the importorskip above


# -- who may connect ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("origin, host, secure, bound, ok", [
    ("http://127.0.0.1:8000", "127.0.0.1:8000", False, "127.0.0.1", True),
    ("http://localhost:9000", "localhost:9000", False, "127.0.0.1", True),   # ssh -L 9000:127.0.0.1:8000
    ("http://evil.example", "127.0.0.1:8000", False, "127.0.0.1", False),    # a foreign page
    (None, "127.0.0.1:8000", False, "127.0.0.1", False),                     # no Origin at all
    ("null", "127.0.0.1:8000", False, "127.0.0.1", False),                   # a sandboxed or file: page
    ("http://127.0.0.1:8001", "127.0.0.1:8000", False, "127.0.0.1", False),  # another server on this machine
    ("http://evil.example:8000", "evil.example:8000", False, "127.0.0.1", False),  # DNS rebinding to 127.0.0.1
    ("http://127.0.0.1:8000", "127.0.0.1:8000", True, "127.0.0.1", False),   # https page, http origin
    ("https://lab.example:8443", "lab.example:8443", True, "0.0.0.0", True),  # exposed with TLS, its own name
])
def test_a_websocket_must_come_from_a_page_of_this_server(origin, host, secure, bound, ok):
    assert origin_allowed(origin, host, secure, bound) is ok


def test_a_non_loopback_address_needs_tls_or_an_explicit_insecure():
    assert exposure_check("127.0.0.1", tls=False, insecure=False) is None
    assert exposure_check("::1", tls=False, insecure=False) is None
    assert exposure_check("0.0.0.0", tls=True, insecure=False) is None
    with pytest.raises(ServeError, match="--certfile and --keyfile.*--insecure.*SSH"):
        exposure_check("0.0.0.0", tls=False, insecure=False)
    warning = exposure_check("192.168.1.5", tls=False, insecure=True)
    assert warning and "plain HTTP on 192.168.1.5" in warning and "token" in warning and "runs folder" in warning


def test_serve_refuses_a_public_address_without_tls_before_listening(capsys):
    assert cli.main(["serve", "--host", "0.0.0.0", "--port", "0"]) == 2
    assert "--certfile and --keyfile" in capsys.readouterr().err


def test_serve_without_the_web_extra_says_how_to_install_it(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "textual_serve", None)  # import textual_serve -> ImportError
    assert cli.main(["serve"]) == 2
    assert 'pip install "cnn-tui[web]"' in capsys.readouterr().err


def test_a_weak_token_of_the_users_own_is_refused(monkeypatch, capsys):
    monkeypatch.setenv("CNN_TUI_SERVE_TOKEN", "secret")
    assert cli.main(["serve", "--port", "0"]) == 2
    assert "CNN_TUI_SERVE_TOKEN must be 16 to 128 characters" in capsys.readouterr().err


def test_a_bad_preset_fails_at_start_not_in_every_tab(capsys):
    assert cli.main(["serve", "--preset", "no-such-preset"]) == 2
    assert "no-such-preset" in capsys.readouterr().err


# -- the running server ------------------------------------------------------------------------------------------
@pytest.fixture
def server(tmp_path):
    s = Served(tmp_path / "runs", env={"CNN_TUI_SERVE_TOKEN": "a-token-of-my-own-0123456789"})
    yield s
    s.stop()


async def _status(url: str, **headers: str) -> int:
    async with aiohttp.ClientSession() as http, http.get(url, headers=headers) as response:
        return response.status


async def _ws_refused(url: str, origin: str | None) -> int:
    async with aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await http.ws_connect(url, headers={"Origin": origin} if origin else {})
        return refused.value.status


async def test_wrong_token_or_origin_gets_403_and_no_app_process(server):
    assert server.token == "a-token-of-my-own-0123456789"  # the user's own token, in the printed URL
    assert await _status(server.url) == 200
    assert await _status(server.base + "/") == 403
    assert await _status(server.base + "/?token=wrong-token-wrong-token") == 403
    assert await _ws_refused(server.ws_url("wrong-token-wrong-token"), server.base) == 403
    assert await _ws_refused(server.base.replace("http", "ws") + "/ws", server.base) == 403
    assert await _ws_refused(server.ws_url(), "http://evil.example") == 403
    assert await _ws_refused(server.ws_url(), None) == 403
    assert server.app_pids() == [] and server.running_apps() == set()
    assert server.log.count("refused") == 6 and server.token not in server.log.split("token=")[-1]


class BrowserTab:
    """The page's side of one tab's websocket: reads the screen stream all the time (which also answers the
    server's heartbeat pings, as a browser does) and sends keys."""

    def __init__(self, ws) -> None:
        self.ws, self.chunks, self.closed = ws, [], asyncio.Event()
        self.reader = asyncio.create_task(self._read())

    @classmethod
    async def open(cls, http, server: Served) -> BrowserTab:
        return cls(await http.ws_connect(server.ws_url() + "?width=100&height=32", origin=server.base))

    async def _read(self) -> None:
        async for message in self.ws:
            if message.type == aiohttp.WSMsgType.BINARY:
                self.chunks.append(message.data.decode("utf-8", "replace"))
        self.closed.set()

    async def wait_for(self, needle: str, timeout: float = 120) -> None:
        async def seen() -> None:
            while needle not in screen_text(self.chunks):
                if self.closed.is_set():
                    raise AssertionError(f"the tab closed before {needle!r} appeared")
                await asyncio.sleep(0.05)
        await asyncio.wait_for(seen(), timeout)

    async def press(self, keys: str) -> None:
        await self.ws.send_json(["stdin", keys])

    async def close(self) -> None:
        await self.ws.close()
        await self.reader


def _epochs_logged(runs: Path) -> int:
    return sum(1 for f in runs.glob("*/events.jsonl") for line in f.read_text().splitlines()
               if '"EpochEnd"' in line)


async def test_closing_a_tab_stops_its_run_and_summarises_it(tmp_path):
    runs = tmp_path / "runs"
    server = Served(runs, "--set", "training.epochs=500", "--set", "dataset.train_size=200")
    try:
        async with aiohttp.ClientSession() as http:
            tab = await BrowserTab.open(http, server)
            await tab.wait_for("Start training")
            await tab.press(F5)
            await tab.wait_for("Pause/resume")  # the training screen's keys
            await asyncio.to_thread(wait_until, lambda: _epochs_logged(runs) >= 1, 180, "a first epoch")
            [pid] = server.app_pids()
            await tab.close()
        await asyncio.to_thread(wait_until, lambda: not alive(pid), 90, "the tab's app process to end")
        summary = json.loads(next(runs.glob("*/summary.json")).read_text())
        assert summary["status"] == "stopped"
        assert 1 <= summary["epochs_run"] < 500
        await asyncio.to_thread(wait_until, lambda: f"app process {pid} ended\n" in server.log + "\n", 30,
                                "the server to log the tab's end")
        assert server.proc.poll() is None
    finally:
        server.stop()


async def test_a_crashed_app_ends_its_own_tab_and_the_server_goes_on(server):
    async with aiohttp.ClientSession() as http:
        first = await BrowserTab.open(http, server)
        await first.wait_for("Start training")
        [pid] = server.app_pids()
        os.kill(pid, signal.SIGKILL)  # the app process dies
        await asyncio.wait_for(first.closed.wait(), 30)  # its tab is closed: the page says the app ended
        await asyncio.to_thread(wait_until, lambda: "ended with status -9" in server.log, 30, "the crash logged")
        second = await BrowserTab.open(http, server)
        await second.wait_for("Start training")
        assert server.proc.poll() is None and len(server.app_pids()) == 2
        await second.close()


def test_with_a_certificate_the_page_and_its_websocket_use_tls(tmp_path):
    import shutil
    import ssl
    import subprocess

    if not shutil.which("openssl"):
        pytest.skip("needs the openssl command to make a test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    server = Served(tmp_path / "runs", "--certfile", str(cert), "--keyfile", str(key))
    try:
        assert server.url.startswith("https://127.0.0.1:")
        trust = ssl.create_default_context(cafile=str(cert))
        trust.check_hostname = False  # the test certificate names localhost, the URL 127.0.0.1

        async def page() -> str:
            async with aiohttp.ClientSession() as http, http.get(server.url, ssl=trust) as response:
                assert response.status == 200
                return await response.text()
        assert f'wss://{server.base.split("//")[1]}/ws/' in asyncio.run(page())
    finally:
        server.stop()


def test_a_certificate_that_cannot_be_read_is_named(tmp_path, capsys):
    assert cli.main(["serve", "--certfile", str(tmp_path / "none.pem"), "--keyfile", str(tmp_path / "k.pem")]) == 2
    assert "none.pem" in capsys.readouterr().err


def test_each_tab_runs_the_app_with_the_options_given_to_serve(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    parser = cli.build_parser()
    args = parser.parse_args(["serve", "--preset", "default", "--set", "training.epochs=2", "--runs-dir", "r"])
    tab = parser.parse_args(cli.serve_app_args(args, parser))
    assert tab.command is None  # the app itself
    assert tab.runs_dir == str(tmp_path / "r") and tab.overrides == ["training.epochs=2"]
    assert Path(tab.preset).is_absolute() and Path(tab.preset).name == "default.toml"


def test_an_attach_target_opens_each_tab_on_cnn_tui_attach(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs" / "a-run").mkdir(parents=True)
    parser = cli.build_parser()
    args = parser.parse_args(["serve", "runs/a-run"])
    tab = parser.parse_args(cli.serve_app_args(args, parser))
    assert (tab.command, tab.target, tab.runs_dir) == ("attach", str(tmp_path / "runs" / "a-run"),
                                                        str(tmp_path / "runs"))

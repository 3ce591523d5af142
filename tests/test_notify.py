"""Notifications: a webhook gets a small JSON document at a run's end; a dead or hanging webhook never slows
training; terminals get the bell and the desktop-notification escapes (wrapped for tmux); the URL is a secret."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tui.core import config as cfg
from tui.core.diagnostics import Finding
from tui.core.events import Diagnosis
from tui.core.notify import Notice, Notifier, Webhook, escape_sequences
from tui.core.session import TrainingSession

TINY = {"dataset.train_size": 200, "model.conv_filters": 4, "model.dense_units": 8, "training.epochs": 1,
        "training.batch_size": 50}


@pytest.fixture
def receiver():
    """An HTTP server on 127.0.0.1 that records what is POSTed to it; stopped at the end of the test."""
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # http.server's name for the POST handler
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hook/secret-token", received
    server.shutdown()
    server.server_close()


def test_the_webhook_receives_the_run_end_document_and_the_url_is_written_nowhere(tmp_path, receiver):
    url, received = receiver
    hook = Webhook(url)
    session = TrainingSession(cfg.ExperimentConfig().with_values(TINY), runs_dir=tmp_path,
                              listeners=[Notifier([hook])])
    result = session.run()
    hook.wait(10)
    assert result.status == "finished"
    [doc] = [d for d in received if d["kind"] == "run_end"]
    assert doc["source"] == "cnn-tui" and doc["run"] == session.run_dir.name and doc["status"] == "finished"
    assert 0 <= doc["best"]["val_accuracy"] <= 1 and 0 <= doc["test"]["accuracy"] <= 1
    for path in session.run_dir.rglob("*"):
        if path.is_file():
            assert b"secret-token" not in path.read_bytes(), path


def test_a_hanging_webhook_does_not_slow_training(tmp_path, caplog):
    hanging = socket.socket()  # accepts connections (the kernel does) and never answers
    hanging.bind(("127.0.0.1", 0))
    hanging.listen(8)
    try:
        hook = Webhook(f"http://127.0.0.1:{hanging.getsockname()[1]}/secret-token", timeout=1.0)
        calls: list[float] = []

        def timed(notice):
            t0 = time.perf_counter()
            hook(notice)
            calls.append(time.perf_counter() - t0)

        session = TrainingSession(cfg.ExperimentConfig().with_values(TINY), runs_dir=tmp_path,
                                  listeners=[Notifier([timed])])
        with caplog.at_level(logging.WARNING, logger="tui.core.notify"):
            assert session.run().status == "finished"
            # handed to a background thread: training never waited for the hook, which hangs for its 1 s timeout
            assert calls and max(calls) < 0.5
            hook(Notice("run_end", "again", "finished"))
            hook.wait(5)
        warnings = [r.getMessage() for r in caplog.records if "webhook" in r.getMessage()]
        assert len(warnings) == 1 and "secret-token" not in warnings[0]  # logged once, without the URL
    finally:
        hanging.close()


def warning(epoch: int) -> Finding:
    return Finding("overfitting", "warning", epoch, "Overfitting", "val_loss up 3 epochs", "", ())


def test_one_notice_at_the_first_warning_and_tmux_gets_passthrough():
    notices: list[Notice] = []
    notifier = Notifier([notices.append])
    notifier(Diagnosis((Finding("plateau", "info", 1, "Slow start", "", "", ()),)))
    notifier(Diagnosis((warning(3),)))
    notifier(Diagnosis((warning(3), warning(4))))
    assert [n.kind for n in notices] == ["finding"] and notices[0].finding["title"] == "Overfitting"
    plain = escape_sequences(notices[0], tmux=False)
    assert plain.startswith("\a") and "\x1b]9;cnn-tui" in plain and "\x1b]777;notify;cnn-tui" in plain
    wrapped = escape_sequences(notices[0], tmux=True)
    assert wrapped.count("\x1bPtmux;") == 2 and "\x1b\x1b]9;" in wrapped


def test_a_webhook_url_in_a_preset_is_refused_with_where_it_belongs():
    with pytest.raises(cfg.ConfigError, match="settings.toml"):
        cfg.loads('[training]\nepochs = 2\n[notify]\nwebhook_url = "https://example.org/x"\n')
    with pytest.raises(cfg.ConfigError, match="CNN_TUI_WEBHOOK_URL"):
        cfg.loads('webhook_url = "https://example.org/x"\n')

"""First paint of the set-up screen in a browser tab (`cnn-tui serve`, Debian's chromium through Playwright) next to
the same in a terminal (tmux, as benchmarks/first_paint.py measures it), interleaved, printed side by side.

Browser: from page.goto(URL) to the first animation frame after the page has received the set-up screen ("Start
training"), and to the model summary (" parameters"). Each page is a new tab, so a new app process. The browser
and the server are started once, before the timings. Terminal: from send-keys to the same words in capture-pane.

    python benchmarks/serve_first_paint.py [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from first_paint import ROOT
from first_paint import once as terminal_once

ANSI = re.compile(r"\x1b(\[[0-9;?<>=$]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|.)")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def browser_once(context, url: str) -> tuple[float, float]:
    page = context.new_page()
    chunks: list[str] = []
    page.on("websocket", lambda ws: ws.on("framereceived", lambda f: chunks.append(
        f if isinstance(f, str) else f.decode("utf-8", "replace"))))
    t0 = time.perf_counter()
    page.goto(url)
    painted = summary = None
    while time.perf_counter() - t0 < 120:
        page.wait_for_timeout(20)  # Playwright delivers the websocket frames while it waits
        text = ANSI.sub("", "".join(chunks))
        if painted is None and "Start training" in text:
            page.evaluate("() => new Promise(r => requestAnimationFrame(() => r()))")
            painted = time.perf_counter() - t0
        if painted is not None and " parameters" in text:
            summary = time.perf_counter() - t0
            break
    page.close()  # the tab's app process quits
    if painted is None or summary is None:
        raise SystemExit("the served app did not paint within 120 s")
    return painted, summary


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if not shutil.which("tmux") or not Path("/usr/bin/chromium").exists():
        raise SystemExit("needs tmux and /usr/bin/chromium")
    from playwright.sync_api import sync_playwright

    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "tui"), str(ROOT / "models")], check=True)
    runs_dir = tempfile.mkdtemp(prefix="serve-first-paint-")
    server = subprocess.Popen([sys.executable, "-m", "tui.cli", "serve", "--port", "0", "--runs-dir", runs_dir],
                              cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert server.stdout is not None
    url = None
    for line in server.stdout:
        if (found := re.search(r"(http://\S+\?token=\S+)", line)):
            url = found.group(1)
            break
    if url is None:
        raise SystemExit("cnn-tui serve did not start")
    app = f"PYTHONPATH={ROOT} {sys.executable} -m tui.cli --runs-dir {runs_dir}"  # the code the server runs
    term, web = [], []
    try:
        with tempfile.TemporaryDirectory() as profile, sync_playwright() as p:
            context = p.chromium.launch_persistent_context(
                profile, executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS,
                viewport={"width": 1200, "height": 760})
            browser_once(context, url)  # warm-up: the browser's first page load, not a measurement
            for _ in range(args.runs):  # interleaved: terminal, then browser
                term.append(terminal_once("cnn-tui-serve-paint", app))
                web.append(browser_once(context, url))
            context.close()
    finally:
        server.terminate()
        server.wait(120)

    def row(label: str, values: list[float]) -> str:
        return f"{label:<30}{statistics.median(values):6.2f} s  (each: {', '.join(f'{v:.2f}' for v in values)})"

    print(f"{'runs (interleaved)':<30}{args.runs}")
    print(f"{'':<30}{'terminal (tmux)':<44}browser (cnn-tui serve, chromium)")
    for i, label in enumerate(("first paint (set-up screen)", "model summary (TF loaded)")):
        t, w = [r[i] for r in term], [r[i] for r in web]
        print(f"{label:<30}{row('', t).strip():<44}{row('', w).strip()}")
        print(f"{'  browser / terminal':<30}{statistics.median(w) / statistics.median(t):.2f}")
    print("(terminal: a shell in tmux starts Python; browser: page load, websocket, then the server starts the app "
          "process for the tab. Noisy on a shared 2-core machine.)")


if __name__ == "__main__":
    main()

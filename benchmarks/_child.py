"""Shared by the benchmarks that time each mode in a fresh process: run this script's `--child MODE` and read the
JSON it prints after "RESULT "."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def run_child(script: str, mode: str, args: Any, extra: list[str] | None = None) -> dict[str, Any]:
    """One child run with the parent's epochs, train size and batch size; exits with its output if it failed."""
    cmd = [sys.executable, script, "--child", mode, "--epochs", str(args.epochs), "--train-size",
           str(args.train_size), "--batch-size", str(args.batch_size), *(extra or [])]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT,
                         env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    line = next((l for l in out.stdout.splitlines() if l.startswith("RESULT ")), None)
    if line is None:
        sys.exit(f"{mode} failed:\n{out.stdout[-2000:]}\n{out.stderr[-3000:]}")
    return json.loads(line[7:])

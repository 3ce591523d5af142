"""The training core and the architectures never import Textual (nor does importing them load TensorFlow)."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORE_MODULES = sorted(
    ["models." + p.stem for p in (ROOT / "models").glob("*.py") if p.stem != "__init__"]
    + ["tui.core." + p.stem for p in (ROOT / "tui" / "core").glob("*.py") if p.stem != "__init__"]
    + ["tui.cli", "tui.headless"]
)


def test_core_modules_import_without_textual_or_tensorflow():
    code = (
        "import sys\n"
        f"for name in {CORE_MODULES!r}:\n"
        "    __import__(name)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'tensorflow', 'keras'))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == ""


def test_no_core_source_mentions_textual():
    offenders = [str(p) for d in ("models", "tui/core") for p in (ROOT / d).glob("*.py")
                 if "import textual" in p.read_text() or "from textual" in p.read_text()]
    assert offenders == []


def test_import_linter_contracts_hold():
    lint = Path(sys.executable).with_name("lint-imports")
    out = subprocess.run([str(lint)], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stdout + out.stderr

"""The README is the user's manual: its key reference and quick start must match the code."""

from pathlib import Path

from tui.core.config import reference_table

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def test_configuration_reference_in_readme_is_current():
    assert reference_table() in README


def test_quick_start_has_the_two_commands_and_ci_runs_the_test_one():
    ci = (Path(__file__).resolve().parents[1] / ".ci" / "run").read_text()
    assert "pip install -e . && .venv/bin/cnn-tui" in README
    test_command = 'pip install -e ".[test]" && .venv/bin/python -m pytest -q -p no:cacheprovider'
    assert test_command in README and test_command in ci

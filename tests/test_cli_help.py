"""``--help`` answers at once: each command's stored help text is what its parser prints, and printing it imports no torch."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from crossmodal.cli.entry import COMMANDS, asks_for_help, help_text

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tools"))
from help_texts import parser_help  # noqa: E402


@pytest.mark.parametrize("command", list(COMMANDS))
def test_the_stored_help_is_what_the_parser_prints(command):
    assert help_text(command) == parser_help(command), f"run python tools/help_texts.py: {command}'s parser changed"


def test_help_flags_count_before_a_double_dash_only():
    assert asks_for_help(["--target", "depth", "-h"]) and asks_for_help(["--help"])
    assert not asks_for_help(["--target", "depth"]) and not asks_for_help(["--", "--help"])


def test_help_prints_without_importing_torch_and_other_calls_run_the_command():
    script = (
        "import sys; from crossmodal.cli import entry; sys.argv = ['crossmodal-train', '--target', 'depth', '--help'];"
        "code = entry.train(); assert code == 0 and 'torch' not in sys.modules, sorted(sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: crossmodal-train") and "--print-config" in done.stdout
    wrong = subprocess.run([sys.executable, "-c", "import sys; from crossmodal.cli import entry; "
                            "sys.argv = ['crossmodal-train', '--epoch', '1']; raise SystemExit(entry.train())"],
                           capture_output=True, text=True, timeout=300, cwd=REPO)
    assert wrong.returncode == 2 and "did you mean --epochs" in wrong.stderr

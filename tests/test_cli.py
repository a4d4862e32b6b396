"""The ``fastxai`` command: every registered subcommand builds its parser; info runs."""
import subprocess
import sys

from fastxai.cli import COMMANDS, build_parser, main


def test_every_command_registers() -> None:
    parser = build_parser()
    for name in COMMANDS:
        args = parser.parse_args([name] + (["--help"] if False else []))
        assert callable(args._run)


def test_info_runs(capsys) -> None:
    assert main(["info"]) == 0
    assert "torch" in capsys.readouterr().out


def test_python_dash_m() -> None:
    out = subprocess.run([sys.executable, "-m", "fastxai", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and "fastxai" in out.stdout

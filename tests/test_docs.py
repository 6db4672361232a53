"""Every command the docs show exists: make targets, `python -m` modules and their flags,
dvc subcommands and their flags. Read from the fenced shell blocks of README.md and docs/."""

from __future__ import annotations

import argparse
import contextlib
import io
import re
import runpy
import shlex
import sys

import pytest

from src.sandbox import REPO_ROOT

DOCS = [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").rglob("*.md"))]
SHELL_BLOCK = re.compile(r"^```(?:bash|sh|shell|console)\n(.*?)^```", re.MULTILINE | re.DOTALL)
#: Commands quoted inline in prose and tables: `make push`, `dvc exp run -S ...`, `python -m src...`.
INLINE_COMMAND = re.compile(r"`((?:make [a-z]|dvc [a-z]|python -m src\.)[^`]*)`")
MAKE_TARGETS = set(re.findall(r"^([a-z][a-z-]*):", (REPO_ROOT / "Makefile").read_text(), re.MULTILINE))


def commands() -> list[tuple[str, str]]:
    """(doc, command line) for every command in a shell block or inline, comments and prompts removed."""
    found = []
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        lines = [line for block in SHELL_BLOCK.findall(text) for line in block.splitlines()]
        lines += INLINE_COMMAND.findall(SHELL_BLOCK.sub("", text))
        for line in lines:
            line = re.sub(r"^\$ ", "", line.split(" #", 1)[0]).strip()
            for part in re.split(r"\s*(?:&&|\|\||;|\|)\s*", line):
                if part:
                    found.append((str(doc.relative_to(REPO_ROOT)), part))
    return found


COMMANDS = commands()


def words(command: str) -> list[str]:
    try:
        return shlex.split(command)
    except ValueError:
        return command.split()


def options(argv: list[str]) -> list[str]:
    return [word.split("=", 1)[0] for word in argv if word.startswith("--")]


def help_text(run) -> str:
    """What an argparse entry point prints for --help, run in this process."""
    output = io.StringIO()
    with contextlib.redirect_stdout(output), contextlib.redirect_stderr(output):
        with contextlib.suppress(SystemExit):
            run()
    return output.getvalue()


def test_the_docs_show_commands() -> None:
    assert len(COMMANDS) > 20


@pytest.mark.parametrize(("doc", "command"), [c for c in COMMANDS if words(c[1])[:1] == ["make"]])
def test_make_targets_in_the_docs_exist(doc: str, command: str) -> None:
    targets = [word for word in words(command)[1:] if not word.startswith("-") and "=" not in word]
    for target in targets:
        assert target in MAKE_TARGETS, f"{doc}: `{command}`: no make target {target!r}"


# runpy warns that the module was imported already (by an earlier test): harmless for --help.
@pytest.mark.filterwarnings("ignore:.*found in sys.modules after import of package:RuntimeWarning")
@pytest.mark.parametrize(
    ("doc", "command"), [c for c in COMMANDS if words(c[1])[:2] == ["python", "-m"] and "src." in c[1]]
)
def test_python_modules_in_the_docs_exist_with_their_flags(
    doc: str, command: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    argv = words(command)
    module = argv[2]
    path = REPO_ROOT.joinpath(*module.split(".")).with_suffix(".py")
    assert path.is_file(), f"{doc}: `{command}`: no module {module}"
    monkeypatch.setattr(sys, "argv", [module, "--help"])
    text = help_text(lambda: runpy.run_module(module, run_name="__main__"))
    assert "usage:" in text, f"{doc}: `{command}`: `{module} --help` printed no usage"
    for flag in options(argv[3:]):
        assert flag in text, f"{doc}: `{command}`: {module} has no option {flag}"


def dvc_parser(path: list[str]) -> argparse.ArgumentParser | None:
    """DVC's own parser of ``dvc PATH...`` (hidden options included), or None if there is none."""
    from dvc.cli.parser import get_main_parser

    parser = get_main_parser()
    for name in path:
        subparsers = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if not subparsers or name not in subparsers[0].choices:
            return None
        parser = subparsers[0].choices[name]
    return parser


@pytest.mark.parametrize(("doc", "command"), [c for c in COMMANDS if words(c[1])[:1] == ["dvc"]])
def test_dvc_commands_in_the_docs_exist_with_their_flags(doc: str, command: str) -> None:
    argv = words(command)[1:]
    positional = [word for word in argv if not word.startswith("-")]
    # `dvc exp run ...` is a command and its subcommand; in `dvc metrics diff main` the third
    # word is an argument: the longest known prefix of two words is the command.
    parser = dvc_parser(positional[:2]) or dvc_parser(positional[:1])
    assert parser is not None, f"{doc}: `{command}`: no such dvc command"
    known = {option for action in parser._actions for option in action.option_strings}
    for flag in options(argv):
        assert flag in known, f"{doc}: `{command}`: {parser.prog} has no option {flag}"


def test_the_dvc_check_refuses_what_dvc_does_not_have() -> None:
    repro = dvc_parser(["repro"])
    assert repro is not None and dvc_parser(["no-such-command"]) is None
    known = {option for action in repro._actions for option in action.option_strings}
    assert "--set-param" not in known and "-S" not in known  # `dvc repro -S` does not exist in DVC 3.67
    assert "--pull" in known

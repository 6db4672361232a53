"""The layout's promises: a stage's ``deps:`` are exactly the project files it imports,
stages never import tools, and tools reach dvc and git only through the adapter."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import yaml

from src.sandbox import REPO_ROOT

SRC = REPO_ROOT / "src"
ADAPTER = SRC / "dvc.py"
STAGES = yaml.safe_load((REPO_ROOT / "dvc.yaml").read_text(encoding="utf-8"))["stages"]


def module_file(module: str) -> Path | None:
    """The file of a project module (``src.core.params``), or None for anything else."""
    if module != "src" and not module.startswith("src."):
        return None
    base = REPO_ROOT.joinpath(*module.split("."))
    if (base / "__init__.py").is_file():
        return base / "__init__.py"
    return base.with_suffix(".py") if base.with_suffix(".py").is_file() else None


def imported_modules(path: Path) -> set[str]:
    """Every project module ``path`` imports, at any depth of its code (lazy imports too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            # `from src import dvc` / `from src.core import params` name modules too.
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {name for name in found if module_file(name) is not None}


def project_files_loaded(module: str) -> set[Path]:
    """The project files that importing ``module`` loads: its imports, theirs, and the packages."""
    pending, seen = [module], set()
    while pending:
        name = pending.pop()
        parts = name.split(".")
        for depth in range(1, len(parts) + 1):  # importing a.b.c runs a/__init__ and a/b/__init__
            package = ".".join(parts[:depth])
            path = module_file(package)
            if path is not None and path not in seen:
                seen.add(path)
                pending.extend(imported_modules(path))
    return seen


def stage_module(command: str) -> str:
    match = re.match(r"python -m (?P<module>[\w.]+)", command)
    assert match, f"stage command {command!r} does not start with `python -m <module>`"
    return match["module"]


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_a_stages_deps_are_exactly_the_project_files_it_imports(stage: str) -> None:
    declared = {
        REPO_ROOT / dep
        for dep in STAGES[stage]["deps"]
        if isinstance(dep, str) and dep.startswith("src/") and dep.endswith(".py")
    }
    loaded = project_files_loaded(stage_module(STAGES[stage]["cmd"]))
    missing = sorted(str(p.relative_to(REPO_ROOT)) for p in loaded - declared)
    extra = sorted(str(p.relative_to(REPO_ROOT)) for p in declared - loaded)
    assert not missing, f"stage {stage!r} imports files its deps omit: {missing}"
    assert not extra, f"stage {stage!r} declares deps it does not import: {extra}"


def test_the_import_graph_sees_lazy_and_from_package_imports(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "from src import dvc\n"
        "def later():\n"
        "    from src.core.files import write_png\n"
        "    import src.core.tables\n"
        "import numpy\n",
        encoding="utf-8",
    )
    assert imported_modules(sample) == {"src", "src.dvc", "src.core.files", "src.core.tables"}


#: Pure modules of the tools' packages a stage may import: the replay stage measures and
#: decides with the monitor's own code (one implementation), which loads no tool.
SHARED_WITH_STAGES = {
    *(
        SRC / "monitoring" / name
        for name in ("__init__.py", "decision.py", "drift.py", "findings.py", "performance.py")
    ),
    *(
        SRC / "monitoring" / name
        for name in ("replay.py", "replay_outputs.py", "replay_settings.py", "walk.py")
    ),
    *(
        SRC / "review" / name
        for name in ("__init__.py", "assessment.py", "bootstrap.py", "noise.py", "pairing.py")
    ),
}


def test_stages_import_no_tool() -> None:
    allowed = {SRC / "__init__.py", *SRC.joinpath("core").glob("*.py"), *SRC.joinpath("stages").glob("*.py")}
    allowed |= SHARED_WITH_STAGES
    for stage in STAGES.values():
        outside = project_files_loaded(stage_module(stage["cmd"])) - allowed
        assert not outside, f"{stage['cmd']} loads tool code: {sorted(map(str, outside))}"


def test_the_code_stages_share_with_tools_runs_no_tool() -> None:
    """Nothing a stage may import reaches the adapter, the sandbox or an entry point of a tool."""
    for path in SHARED_WITH_STAGES:
        loaded = project_files_loaded(".".join(path.relative_to(REPO_ROOT).with_suffix("").parts))
        tools = {ADAPTER, SRC / "sandbox.py", SRC / "params.py", SRC / "monitoring" / "monitor.py"}
        assert not loaded & tools, f"{path.relative_to(REPO_ROOT)} loads {sorted(map(str, loaded & tools))}"
        assert loaded <= {
            SRC / "__init__.py", *SRC.joinpath("core").glob("*.py"), *SRC.joinpath("stages").glob("*.py"),
            *SHARED_WITH_STAGES,
        }, f"{path.relative_to(REPO_ROOT)} loads code outside what stages may share"  # fmt: skip


def test_only_the_adapter_runs_subprocesses_reads_through_dvc_api_or_parses_dvc_messages() -> None:
    dvc_messages = re.compile(r"Running stage|is cached - skipping|Queued experiment|Worker status")
    for path in SRC.rglob("*.py"):
        if path == ADAPTER:
            continue
        text = path.read_text(encoding="utf-8")
        assert "subprocess.run(" not in text and "subprocess.Popen(" not in text, (
            f"{path.relative_to(REPO_ROOT)} runs commands itself"
        )
        assert not dvc_messages.search(text), f"{path.relative_to(REPO_ROOT)} parses DVC's human output"
        assert not re.search(r"^\s*from dvc import api|^\s*import dvc\.api|dvc\.api\.open\(", text, re.M), (
            f"{path.relative_to(REPO_ROOT)} calls dvc.api itself (use src.dvc.read_output)"
        )

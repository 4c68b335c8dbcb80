"""The image (infra/Dockerfile: `pip install .`) holds every third-party module the services import.

The image installs pyproject's runtime dependencies and what they require; a module imported by the
services, the libraries or the sandbox (every import statement, also the lazy ones inside
functions) must come from one of those distributions. `boto3` for s3:// media was missing once.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
SOURCES = [*ROOT.glob("libs/*/src"), *ROOT.glob("services/*/src"), ROOT / "infra/meta_sandbox/src"]
DOCKERFILE = ROOT / "infra/Dockerfile"


def _name(dist: str) -> str:
    return re.sub(r"[-_.]+", "-", dist).lower()


def _runtime_closure() -> set[str]:
    """Distributions `pip install .` brings: the runtime dependencies, their extras, recursively."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    todo = [Requirement(r) for r in project["dependencies"]]
    seen: set[str] = set()
    while todo:
        req = todo.pop()
        name = _name(req.name)
        if name in seen:
            continue
        seen.add(name)
        for raw in metadata.distribution(req.name).requires or []:
            sub = Requirement(raw)
            extras = req.extras or {""}
            if sub.marker is None or any(sub.marker.evaluate({"extra": e}) for e in extras):
                todo.append(sub)
    return seen


def _imports() -> dict[str, set[Path]]:
    found: dict[str, set[Path]] = {}
    for source in SOURCES:
        for path in source.rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    found.setdefault(name.split(".")[0], set()).add(path.relative_to(ROOT))
    return found


def test_every_imported_module_is_a_runtime_dependency() -> None:
    first_party = {p.name for source in SOURCES for p in source.iterdir() if p.is_dir()}
    providers = metadata.packages_distributions()
    closure = _runtime_closure()
    missing = {}
    for module, where in sorted(_imports().items()):
        if module in sys.stdlib_module_names or module in first_party or module == "__future__":
            continue
        if not {_name(d) for d in providers.get(module, [])} & closure:
            missing[module] = sorted(map(str, where))[:3]
    assert not missing, f"imported but not installed in the image by `pip install .`: {missing}"
    assert "boto3" in closure


def test_the_image_installs_the_project_and_runs_as_a_numeric_non_root_user() -> None:
    text = DOCKERFILE.read_text()
    assert re.search(r"^RUN pip install \.", text, re.M)
    user = re.findall(r"^USER (\S+)", text, re.M)
    assert user, "no USER: the services would run as root"
    uid = user[-1].split(":")[0]
    assert uid.isdigit(), "a numeric user: Kubernetes' runAsNonRoot cannot verify a name"
    assert int(uid) != 0

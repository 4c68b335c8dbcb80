"""Every file the services serve or read besides code ships in the installed package (the image runs
``pip install .``, not the source tree): a static file without a package-data pattern would 404 there."""

from __future__ import annotations

import fnmatch
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_static_and_template_file_is_package_data() -> None:
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["*"]
    shipped = [
        p
        for folder in ("static", "templates")
        for p in ROOT.glob(f"services/*/src/*/{folder}/**/*")
        if p.is_file()
    ]
    assert shipped
    missing = [
        str(p.relative_to(ROOT)) for p in shipped if not any(fnmatch.fnmatch(p.name, pat) for pat in patterns)
    ]
    assert not missing, f"add a package-data pattern in pyproject.toml for: {missing}"

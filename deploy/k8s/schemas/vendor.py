"""Extract the OpenAPI schema of each served version from CustomResourceDefinition YAML files.

    python deploy/k8s/schemas/vendor.py CRD.yaml [CRD.yaml ...]

writes ``<group>/<kind>_<version>.json`` next to this file (sorted keys, no other change), which
tests/unit/test_k8s_manifests.py validates rendered objects against. The CRD files come from the
operators' own repositories at a release tag (README.md in this folder names each one).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent


def schemas(crd: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``<group>/<kind>_<version>.json`` -> the openAPIV3Schema of every served version."""
    if crd.get("kind") != "CustomResourceDefinition":
        raise ValueError(f"not a CustomResourceDefinition: {crd.get('kind')!r}")
    spec = crd["spec"]
    kind = spec["names"]["kind"]
    return {
        f"{spec['group']}/{kind}_{version['name']}.json": version["schema"]["openAPIV3Schema"]
        for version in spec["versions"]
        if version.get("served", True)
    }


def main(paths: list[str]) -> None:
    for path in paths:
        for document in yaml.safe_load_all(Path(path).read_text()):
            if not document:
                continue
            for name, schema in schemas(document).items():
                target = HERE / name
                target.parent.mkdir(exist_ok=True)
                target.write_text(json.dumps(schema, sort_keys=True, separators=(",", ":")) + "\n")
                print(f"{path} -> {target.relative_to(HERE)}")


if __name__ == "__main__":
    main(sys.argv[1:])

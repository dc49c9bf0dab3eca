"""What `pip install .` ships: the product package only, and nothing dev-only at run time."""

from __future__ import annotations

import ast
import configparser
import sys
from pathlib import Path

from setuptools import find_packages

ROOT = Path(__file__).resolve().parents[2]


def _setup_cfg() -> configparser.ConfigParser:
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    return cfg


def test_only_the_product_package_is_installed() -> None:
    include = [p.strip() for p in _setup_cfg()["options.packages.find"]["include"].split(",")]
    shipped = find_packages(where=str(ROOT), include=include)
    assert "options_pipeline" in shipped and "options_pipeline.providers" in shipped
    assert all(p == "options_pipeline" or p.startswith("options_pipeline.") for p in shipped)


def test_the_product_imports_only_declared_runtime_dependencies() -> None:
    cfg = _setup_cfg()
    declared = {
        line.split("[")[0].split("=")[0].split(">")[0].split("<")[0].strip().lower()
        for line in cfg["options"]["install_requires"].splitlines()
        if line.strip()
    }
    # import names of the declared distributions that differ from their names
    aliases = {
        "psycopg": "psycopg",
        "dagster-postgres": "dagster_postgres",
        "dagster-webserver": "dagster_webserver",
        "exchange-calendars": "exchange_calendars",
    }
    importable = {aliases.get(d, d).replace("-", "_") for d in declared}
    # what the declared ones bring with them, imported directly by the product
    transitive = {"pydantic", "sqlalchemy", "yaml", "urllib3", "dagster_shared"}
    allowed = importable | transitive | set(sys.stdlib_module_names) | {"options_pipeline"}
    undeclared = {}
    for path in (ROOT / "options_pipeline").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module]
                if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module
                else []
            )
            for name in names:
                top = name.split(".")[0]
                if top not in allowed:
                    undeclared.setdefault(top, path.relative_to(ROOT).as_posix())
    assert not undeclared, f"imported at run time but not in install_requires: {undeclared}"

"""No module outside the demo names a shipped study's instrument, score or
timepoint: what belongs to a study is in its protocol file."""

import ast
import re
from pathlib import Path

import yaml

from instruments.definitions import load_file, shipped_definition_files
from participants.protocol import STUDIES_DIR

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("studyportal", "participants", "instruments", "analysis")
# The demo seeds the reference study, and its synthetic data follow its model.
EXEMPT = {"studyportal/demo.py", "studyportal/synthetic.py"}


def study_names() -> set[str]:
    """Every instrument, score and timepoint code the shipped studies use."""
    definitions = {path.stem: load_file(path) for path in shipped_definition_files()}
    names = set()
    for path in STUDIES_DIR.glob("*.yaml"):
        protocol = yaml.safe_load(path.read_text())
        for timepoint in protocol["timepoints"]:
            names.add(timepoint["code"])
            for slug in timepoint["instruments"]:
                names.add(slug)
                definition = next(d for d in definitions.values() if d.slug == slug)
                names |= {score.name for score in definition.scores}
    return names


def _docstrings(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr):
            value = body[0].value
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                found.add(id(value))
    return found


def named_in(path: Path, pattern: re.Pattern, words: set[str]) -> list[str]:
    """Where a string in ``path`` names a study's variable (``pattern``), or is
    exactly one of the plain ``words`` (a timepoint code, or a slug that is an
    English word, which prose may use), alone or as a prefix ``word_``."""
    tree = ast.parse(path.read_text(), filename=str(path))
    docstrings = _docstrings(tree)
    found = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in docstrings
        ):
            hits = [match[0] for match in pattern.finditer(node.value)]
            if node.value in words or node.value.removesuffix("_") in words:
                hits.append(node.value)
            where = f"{path.relative_to(ROOT)}:{node.lineno}"
            found += [f"{where}: {hit!r}" for hit in hits]
    return found


def test_no_module_names_a_studys_instrument_score_or_timepoint():
    names = study_names()
    assert {"followup", "selfmgmt_total", "knee_function", "partnership"} <= names
    words = {name for name in names if "_" not in name}
    compound = "|".join(sorted(map(re.escape, names - words)))
    pattern = re.compile(rf"(?<![A-Za-z0-9])({compound})(?![A-Za-z0-9])")
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            relative = str(path.relative_to(ROOT))
            if "migrations" in path.parts or relative in EXEMPT:
                continue
            found += named_in(path, pattern, words)
    assert found == [], "\n".join(found)

"""The documentation's structure: README.md and docs/*.md stay small, their links, paths, modules,
backends and config keys exist, and measured figures live in docs/performance.md only."""
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SECTIONS = ("data", "train", "optim", "loss", "val", "checkpoint", "log", "model")
TOP_DIRS = ("models/", "configs/", "tests/", "datasets/", "eval/", "inference/", "utils/", "bench/", "docs/", ".ci/")
TOP_FILES = {"train.py", "test.py", "hubconf.py", "Makefile", "requirements.txt", "requirements-dev.txt",
             "pytest.ini", "ruff.toml", "CITATION.cff", "LICENSE"}
FILE_SUFFIX = re.compile(r"\.(py|yaml|md|json|jsonl|txt|tsv|pt|pth|csv|png|pdf|npz|onnx|tex)$")
MEASURED = re.compile(r"img/s|images/s|samples/s|GFLOP/s|GMAC/s|\bs per\b|x faster|\d(\.\d+)? ?ms\b")
RATIO = re.compile(r"\b\d+(\.\d+)?x(?![\w])")


def text(page: Path) -> str:
    return page.read_text(encoding="utf-8")


def prose(page: Path) -> str:
    """The page without fenced code blocks."""
    return re.sub(r"```.*?```", "", text(page), flags=re.S)


def code_spans(page: Path) -> list:
    return re.findall(r"`([^`\n]+)`", prose(page))


def anchors(page: Path) -> set:
    heads = re.findall(r"^#+ (.+)$", prose(page), flags=re.M)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in heads}


def test_total_size():
    assert sum(p.stat().st_size for p in PAGES) <= 60_000


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_links_point_to_existing_files_and_anchors(page):
    for target in re.findall(r"\]\(([^)\s]+)\)", prose(page)):
        if re.match(r"[a-z]+:", target):
            continue
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        assert file.exists(), f"{page.name}: link to missing {target}"
        if anchor and file.suffix == ".md":
            assert anchor in anchors(file), f"{page.name}: no heading #{anchor} in {file.name}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_named_repo_paths_and_modules_exist(page):
    for span in code_spans(page):
        token = span.split("::")[0].rstrip(",.")
        if any(c in token for c in "<>{}*$ ") or token.endswith("..."):
            continue
        if token in TOP_FILES or token.startswith(TOP_DIRS):
            assert (ROOT / token).exists(), f"{page.name}: `{span}` does not exist"
    for module in re.findall(r"python -m ([\w.]+)", text(page)):
        base = ROOT / module.replace(".", "/")
        assert base.with_suffix(".py").exists() or (base / "__main__.py").exists(), f"{page.name}: {module}"


def test_every_backend_is_documented():
    from inference.backends import BACKENDS

    spans = code_spans(ROOT / "docs" / "inference.md")
    listed = next(s for s in spans if s.startswith("--backend ") and "|" in s)
    assert set(listed.split()[1].split("|")) == set(BACKENDS)


def test_config_keys_resolve():
    from models import load_config

    configs = [load_config(str(ROOT / "configs" / f"{name}.yaml")) for name in ("cdinet", "bbsnet", "jldcf")]

    def resolves(key):
        for config in configs:
            node = config
            for part in key.split("."):
                if isinstance(node, dict) and part in node:
                    node = node[part]
                elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                    node = node[int(part)]
                else:
                    break
            else:
                return True
        return False

    for page in PAGES:
        for span in code_spans(page):
            key = re.split(r"[=: ]", span.strip())[0]
            if (not key.startswith(tuple(s + "." for s in SECTIONS)) or FILE_SUFFIX.search(key)
                    or re.search(r"[<>*{}A-Z]", key) or key.endswith(".")):
                continue
            assert resolves(key), f"{page.name}: `{span}` is not a config key"


def test_measured_figures_live_in_performance_md():
    for page in PAGES:
        if page.name == "performance.md":
            continue
        found = MEASURED.search(prose(page))
        assert found is None, (f"{page.name}: measured-looking figure {found.group(0)!r}; "
                               "it belongs in docs/performance.md")
    assert len(RATIO.findall(prose(ROOT / "README.md"))) <= 2

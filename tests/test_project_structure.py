"""Project-wide rules that code review alone would let slip: one image reader, one folder-name
list, one CLI guard, one error hierarchy, one atomic writer, one layout module, torch-free
evaluation, benchmarks free of test modules, test modules sharing helpers through tests/helpers.py
alone, each pixel-path option and the protocol list declared once, a self-contained clone,
collision-free seeds."""
from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

from utils.errors import CDINetError, ConfigError, DatasetError, EvalError, InputShapeError, TrainingError, WeightsError
from utils.runtime import derive_seed

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("datasets", "eval", "inference", "models", "training", "utils", "bench")
SOURCES = sorted(p for folder in PACKAGES for p in (ROOT / folder).rglob("*.py")) \
    + [ROOT / "train.py", ROOT / "test.py"]


def calls(path: Path) -> set[str]:
    """Dotted names called in ``path`` (``cv2.imread``, ``Image.open``, ...)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                and isinstance(node.func.value, ast.Name):
            names.add(f"{node.func.value.id}.{node.func.attr}")
    return names


def test_images_are_decoded_in_one_module():
    decoders = {"cv2.imread", "cv2.imdecode", "Image.open"}
    users = {p.relative_to(ROOT).as_posix() for p in SOURCES if calls(p) & decoders}
    # bench/ re-creates other pipelines as baselines (the release's loop, PySODMetrics' reading)
    assert {u for u in users if not u.startswith("bench/")} == {"utils/images.py"}


def test_folder_names_are_listed_in_one_module():
    holders = {p.relative_to(ROOT).as_posix() for p in SOURCES
               if '"masks"' in p.read_text() or "'masks'" in p.read_text()}
    assert holders == {"utils/layout.py"}


ENTRY_POINTS = ["train.py", "test.py", "datasets/check.py", "datasets/synthetic.py", "eval/cli.py",
                "eval/qualitative.py", "models/summary.py"]


def test_every_entry_point_uses_the_one_cli_guard():
    for name in ENTRY_POINTS:
        text = (ROOT / name).read_text()
        assert "run_cli(" in text, name
        assert "except ValueError" not in text and "except Exception" not in text, name
    # no other place prints its own "error:" lines or catches everything
    printers = {p.relative_to(ROOT).as_posix() for p in SOURCES if 'print(f"error:' in p.read_text()}
    assert printers == {"utils/cli.py"}


def test_errors_share_one_base():
    for error in (ConfigError, DatasetError, EvalError, WeightsError, InputShapeError, TrainingError):
        assert issubclass(error, CDINetError)
    import test as test_script

    assert issubclass(test_script.TestError, CDINetError)


def test_eval_command_does_not_import_torch():
    code = "import sys, eval.cli, eval.qualitative; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_debug_shows_the_traceback_everywhere(tmp_path, capsys):
    """Each command's ``main`` goes through the one CLI guard (in-process here; the subprocess
    tests of test.py, train.py, datasets.synthetic and eval check the entry points themselves)."""
    from datasets import synthetic
    from eval import cli as eval_cli
    from models import summary

    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x.txt").write_text("x")
    commands = {synthetic.main: ["--out", str(tmp_path / "full")],
                eval_cli.main: ["--pred", str(tmp_path), "--data-root", str(tmp_path / "nope"), "--datasets", "X",
                                "--out", str(tmp_path / "out")],
                summary.main: ["--size", "30"]}
    for main, argv in commands.items():
        assert main(argv) == 1, main.__module__
        plain = capsys.readouterr().err
        assert plain.startswith("error: ") and plain.count("\n") == 1, (main.__module__, plain)
        assert main([*argv, "--debug"]) == 1, main.__module__
        assert "Traceback" in capsys.readouterr().err, main.__module__


def test_derived_seeds_do_not_collide_across_epochs_and_ranks():
    """Seeds derived with SeedSequence are distinct over a long run on many ranks (the former
    ``seed * 1000 + epoch * 10 + rank`` gave epoch 1 rank 10 the seed of epoch 2 rank 0), and
    the pairs that formula confused are told apart."""
    seeds = {derive_seed(42, epoch, rank) for epoch in range(1, 121) for rank in range(64)}
    assert len(seeds) == 120 * 64
    assert derive_seed(42, 1, 10) != derive_seed(42, 2, 0)


def imported_modules(path: Path) -> set[str]:
    """Top-level names of the modules ``path`` imports (``tests`` for ``from tests.x import y``)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def imported_dotted(path: Path) -> set[str]:
    """Full dotted names of the absolute imports of ``path``, relative ones resolved."""
    package = path.relative_to(ROOT).with_suffix("").parts[:-1]
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = ".".join(package[:len(package) - node.level + 1]) if node.level else ""
            module = ".".join(part for part in (base, node.module or "") if part)
            names.add(module)
            names |= {f"{module}.{alias.name}" for alias in node.names}
    return names


def sources_under(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


def test_layers_import_downwards_only():
    """utils/ imports nothing of models/ (a config is validated without torch's model code);
    models/ imports neither datasets/ nor eval/."""
    for path in sources_under("utils"):
        assert not {m for m in imported_dotted(path) if m.split(".")[0] == "models"}, path
    for path in sources_under("models"):
        assert not {m for m in imported_dotted(path) if m.split(".")[0] in ("datasets", "eval")}, path


def module_file(dotted: str) -> Path | None:
    """The project file of a dotted module name (``utils.files`` -> utils/files.py), if any."""
    parts = dotted.split(".")
    for end in range(len(parts), 0, -1):  # ``from utils.files import atomic_file``: utils.files
        stem = ROOT.joinpath(*parts[:end])
        for candidate in (stem.with_suffix(".py"), stem / "__init__.py"):
            if candidate.is_file():
                return candidate
    return None


def test_evaluation_never_imports_torch():
    """No file of eval/, nor any project module it reaches through its imports (utils/ ...),
    imports torch or torchvision, at module level or inside a function: evaluating a folder of
    maps needs neither."""
    todo, seen = list(sources_under("eval")), set()
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        names = imported_dotted(path)
        assert not {n for n in names if n.split(".")[0] in ("torch", "torchvision")}, path
        todo += [f for f in map(module_file, names) if f is not None]
    reached = {p.relative_to(ROOT).as_posix() for p in seen}
    assert "eval/cli.py" in reached and "utils/images.py" in reached


def decorated_by_register_model(path: Path) -> bool:
    """Whether a function of ``path`` carries ``@register_model`` (bare or called, plain or dotted)."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for decorator in node.decorator_list:
                target = decorator.func if isinstance(decorator, ast.Call) else decorator
                if "register_model" in (getattr(target, "id", None), getattr(target, "attr", None)):
                    return True
    return False


def own_module(path: Path) -> str:
    """The model module a file under models/ belongs to: ``models.<file>`` or ``models.<package>``."""
    return "models." + path.relative_to(ROOT / "models").parts[0].removesuffix(".py")


def test_no_module_outside_a_model_names_it():
    """A model is its own file or package under models/, found by the registry's discovery (no list
    to edit): every module that registers one is imported by the first lookup. The composing code
    (train.py, test.py, inference/, datasets/, eval/, utils/, the rest of models/) reaches it
    through the registry."""
    from models import get_entry, list_models

    model_modules = {own_module(p) for p in sources_under("models") if decorated_by_register_model(p)}
    imported = {own_module(Path(sys.modules[get_entry(name).builder.__module__].__file__))
                for name in list_models() if get_entry(name).builder.__module__.startswith("models.")}
    assert model_modules and model_modules == imported
    composing = [ROOT / "train.py", ROOT / "test.py", ROOT / "hubconf.py"] + [
        p for folder in ("inference", "datasets", "eval", "utils", "models") for p in sources_under(folder)]
    own_files = [ROOT / "models" / name.split(".")[1] for name in model_modules]
    for path in composing:
        if any(path.is_relative_to(own) or path == own.with_suffix(".py") for own in own_files):
            continue
        named = {m for m in imported_dotted(path) if any(m == n or m.startswith(n + ".") for n in model_modules)}
        assert not named, (path, named)


REFERENCE_MODULES = {"tests.keyed_weights", "tests.release_reference"}  # the tests' reference code


def test_the_library_imports_no_test_module_and_benchmarks_only_the_reference_code():
    """bench/ measures against the tests' reference (the authors' network, keyed weights); nothing
    else of tests/ is imported outside it, and the library imports none of it."""
    found = {p.relative_to(ROOT).as_posix(): {m for m in imported_dotted(p) if m.split(".")[0] == "tests"}
             for p in SOURCES}
    assert {path for path, modules in found.items() if modules and not path.startswith("bench/")} == set()
    outside = {m for m in set().union(*found.values())
               if not any(m == name or m.startswith(name + ".") for name in REFERENCE_MODULES)}
    assert outside == set()


# Imports that the owners of these files have yet to point at tests.helpers (issue 29 item 4):
# (importing file, imported test module). Empty it when they do; add nothing to it.
def test_test_modules_share_helpers_through_tests_helpers_only():
    """No module of tests/ imports a test module (tests/test_*.py) or tests/conftest.py, in any
    form (``from tests.test_x import``, ``import tests.conftest``, ``from tests import test_x``,
    ``from .conftest import``): what several test modules share lives in tests/helpers.py, and
    conftest.py holds fixtures and hooks for pytest alone."""
    found = set()
    for path in sorted((ROOT / "tests").rglob("*.py")):
        for name in imported_dotted(path):
            target = module_file(name)
            if target is not None and target.parent == ROOT / "tests" and target != path \
                    and (target.name == "conftest.py" or target.name.startswith("test_")):
                found.add((path.relative_to(ROOT).as_posix(), target.relative_to(ROOT).as_posix()))
    assert found == set()


def test_files_and_folders_are_written_atomically_in_one_module():
    renaming = {"os.replace", "os.rename", "tempfile.mkdtemp"}
    renamers = {p.relative_to(ROOT).as_posix() for p in SOURCES if calls(p) & renaming}
    assert renamers == {"utils/files.py"}


def test_one_layout_module():
    layouts = [p.relative_to(ROOT).as_posix() for p in ROOT.rglob("layout.py") if ".venv" not in p.parts]
    assert layouts == ["utils/layout.py"]


def test_a_clone_needs_nothing_beside_it_and_readme_is_a_front_door():
    """No tracked file points to the shared folder that sits beside the developers' checkout (a
    user's clone has none: the conventions are written in docs/), and README stays short."""
    needles = ("../" + "shared", "shared/" + "reference")
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    texts = [name for name in tracked if not name.startswith("tests/fixtures/") or name.endswith((".md", ".txt"))]
    mentions = [name for name in texts if (ROOT / name).is_file()
                and any(needle in (ROOT / name).read_text(errors="ignore") for needle in needles)]
    assert mentions == []
    assert (ROOT / "README.md").stat().st_size <= 15 * 1024
    for doc in ("models", "cdinet", "bbsnet", "pixel-path", "training", "datasets", "inference", "metrics",
                "evaluation", "performance", "development"):
        assert f"docs/{doc}.md" in tracked


def test_each_preprocess_option_and_the_protocol_list_are_declared_once():
    """The four pixel-path options are declared as ``option(...)`` fields in utils/config.py
    alone (test.py's flags and Predictor's arguments are generated from them), the protocol list
    in eval/protocol.py alone, and train.py stays a script of about 300 lines."""
    for name in ("resize", "depth_scaling", "depth_resize", "depth_holes"):
        declared = re.compile(rf"^\s+{name}\s*:[^=\n]*=\s*option\(", re.M)
        flag = f'"--{name.replace("_", "-")}"'
        places = [p.relative_to(ROOT).as_posix() for p in SOURCES if declared.search(p.read_text())]
        assert places == ["utils/config.py"], name
        assert [p.name for p in SOURCES if flag in p.read_text()] == [], flag
    lists = [p.relative_to(ROOT).as_posix() for p in SOURCES
             if re.search(r"[\"']pysodmetrics[\"'],\s*[\"']matlab[\"']", p.read_text())]
    assert lists == ["eval/protocol.py"]
    assert len((ROOT / "train.py").read_text().splitlines()) <= 330

"""The model zoo (models/zoo.py, ``python -m models``): the page in docs/models.md is what the
generator makes now, and its parameter and MAC counts equal counts made here independently."""
from __future__ import annotations

import functools
import re

import pytest
import torch
from torch import nn

from models import __main__ as cli
from models import create_model, get_entry, list_models, register_model, zoo
from models.cdinet import ModelVariant
from models.cdinet.decoder import SemanticBlock
from models.registry import Check, Reported
from models.summary import count_macs
from tests.helpers import FIXTURES, NATIVE_WIDTHS, PROJECT_ROOT, backbone_parameters, expected_parameters
from tests.keyed_weights import BBSNET_KEYS, OFFICIAL_KEYS, official_shapes
from utils.errors import ConfigError

JLDCF_KEYS = FIXTURES / "reference" / "jldcf" / "jldcf_official_keys.tsv"
BUFFERS = ("running_mean", "running_var", "num_batches_tracked")


@pytest.fixture(scope="module", autouse=True)
def cached_rows():
    """Each model's card rows counted once for this module (about 2.5 s for all of them)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(zoo, "card_rows", functools.cache(zoo.card_rows))
        yield


def rows() -> dict:
    return {(row.model, row.card): row for name in list_models() for row in zoo.card_rows(name)}


def parameters_of_key_list(path) -> int:
    """Parameters of an authors' ``state_dict`` key list: every entry but BatchNorm's buffers."""
    return sum(torch.Size(shape).numel() for key, shape in official_shapes(path).items()
               if not key.endswith(BUFFERS))


def macs_by_formula(model: nn.Module, size: int) -> int:
    """MACs of one forward pass summed by forward hooks from each layer's shapes: Conv2d
    (output elements x in/groups x kernel), ConvTranspose2d (input elements x out/groups x
    kernel), Linear (rows x in x out), and CDINet's semantic-block 1x1 reduction, which runs as
    ``F.conv2d`` on each higher skip at its own resolution (input elements x out channels)."""
    total = 0

    def count(module, inputs, output):
        nonlocal total
        if isinstance(module, nn.Conv2d):
            total += output.numel() * module.in_channels // module.groups * module.weight[0, 0].numel()
        elif isinstance(module, nn.ConvTranspose2d):
            total += inputs[0].numel() * module.out_channels // module.groups * module.weight[0, 0].numel()
        elif isinstance(module, nn.Linear):
            total += inputs[0].numel() * module.out_features
        elif isinstance(module, SemanticBlock):
            total += sum(h.numel() for h in inputs[1]) * module.reduce[0].out_channels

    handles = [m.register_forward_hook(count) for m in model.modules()
               if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear, SemanticBlock))]
    rgb = torch.empty(1, 3, size, size, device="meta")
    depth = torch.empty(1, model.input_spec.depth_channels, size, size, device="meta")
    with torch.no_grad():
        model(rgb, depth)
    for handle in handles:
        handle.remove()
    return total


class TwoInputs(nn.Module):
    def __init__(self, width: int):
        super().__init__()
        self.conv = nn.Conv2d(3, width, 1)

    def forward(self, rgb, depth):
        return self.conv(rgb) + depth


def test_the_page_is_what_the_generator_makes_now():
    """docs/models.md's zoo section equals ``python -m models --write``'s (run it after changing
    a registration, a card or a config); it covers every model of this repository."""
    page, regenerated = zoo.updated_page()
    assert page == regenerated, "docs/models.md's zoo is out of date: run python -m models --write"
    section = page[page.index(zoo.BEGIN):page.index(zoo.END)]
    for name in zoo.in_tree_models():
        assert f"| `{name}` | {get_entry(name).cards[0][0]} |" in section
    assert {"bbsnet", "cdinet", "jldcf"} <= set(zoo.in_tree_models())


def test_parameter_counts_equal_independent_counts():
    """The releases' counts from the authors' key lists; CDINet's cards from the layer shapes
    (tests/helpers.py)."""
    counts = {key: row.parameters for key, row in rows().items()}
    assert counts["jldcf", "release"] == parameters_of_key_list(JLDCF_KEYS) == 143_517_490
    assert counts["bbsnet", "release"] == parameters_of_key_list(BBSNET_KEYS) == 49_769_177
    assert counts["cdinet", "release"] == parameters_of_key_list(OFFICIAL_KEYS) == 54_369_369
    for switches in ({"rde": False}, {"dse": False}, {"ddr": False}, {"rde": False, "dse": False, "ddr": False}):
        variant = ModelVariant(**switches)
        assert counts["cdinet", variant.describe()] == expected_parameters(variant)
    for name, label in (("resnet50", "on ResNet-50"), ("mobilenet_v2", "on MobileNetV2")):
        assert counts["cdinet", label] == expected_parameters(ModelVariant(), NATIVE_WIDTHS[name],
                                                              backbone_parameters(name))


def test_gmacs_equal_a_count_by_layer_formulas():
    """Every card's MACs at its input size (FlopCounterMode on meta tensors) equal the sum of
    its layers' MACs by formula; the releases' figures are docs/cdinet.md's and docs/bbsnet.md's."""
    for (name, card), row in rows().items():
        options = dict(get_entry(name).cards)[card]
        model = zoo.meta_model(name, options)
        assert row.macs == macs_by_formula(model, model.input_spec.size), (name, card)
    figures = {key: round(row.macs / 1e9, 2) for key, row in rows().items()}
    assert figures["cdinet", "release"] == 86.68 and figures["bbsnet", "release"] == 28.48


def test_meta_count_equals_the_count_on_real_tensors():
    """The meta-device count is ``models.summary.count_macs`` on a real model and real inputs
    (at 64x64, where the CPU forward pass is quick)."""
    for name in list_models():
        real = create_model(name).eval()
        assert zoo.meta_macs(zoo.meta_model(name, {}), 64) == count_macs(real, 64), name


@pytest.mark.slow  # JL-DCF's ResNet-101 at 320 takes seconds on a CPU
def test_release_figures_equal_count_macs_at_the_release_size():
    for name in list_models():
        real = create_model(name).eval()
        assert rows()[name, get_entry(name).cards[0][0]].macs == count_macs(real, real.input_spec.size), name


def test_checks_name_tests_that_exist():
    for name in zoo.in_tree_models():
        for check in get_entry(name).checks:
            assert check.what and check.bound and check.measured, (name, check)
            if not check.test:
                continue
            path, _, function = check.test.partition("::")
            source = (PROJECT_ROOT / path).read_text(encoding="utf-8")
            assert not function or re.search(rf"^def {function}\(", source, re.M), (name, check.test)


def docs_table(text: str, heading: str) -> list:
    """The rows (cells) of the first Markdown table after ``heading``."""
    lines = text[text.index(heading):].splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("|"))
    table = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        table.append([cell.strip() for cell in line.strip("|").split("|")])
    return [table[0]] + table[2:]


def test_reported_numbers_agree_with_the_docs_that_quote_them():
    """docs/bbsnet.md ("Reported numbers") and README.md (the paper column of "Measured results")
    print the numbers the registry holds; where they still do, they agree."""
    bbsnet, cdinet = get_entry("bbsnet").reported, get_entry("cdinet").reported
    text = (PROJECT_ROOT / "docs" / "bbsnet.md").read_text(encoding="utf-8")
    if "## Reported numbers" in text:
        header, values = docs_table(text, "## Reported numbers")[:2]
        assert dict(zip(header, values)) == {d: zoo.reported_cell(v, 3) for d, v in bbsnet.values.items()}
    text = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    if "## Measured results" in text:
        quoted = {row[0]: row[2] for row in docs_table(text, "## Measured results")[1:]
                  if row[2] and "typo" not in row[2]}
        ours = {d: zoo.reported_cell(v, 4).replace("/", " / ") for d, v in cdinet.values.items() if None not in v}
        assert quoted == ours


def test_a_model_without_config_checks_or_reported_numbers(registered):
    @register_model(title="Zoo net", checks=["a plain string", ("what", "< 1", "0.5")],
                    reported={"where": "a paper", "metrics": ["S", "MAE"], "values": {"SET": (0.9, None)}})
    def zoo_net(pretrained: bool = False, width: int = 2):
        return TwoInputs(width)

    entry = get_entry("zoo_net")
    assert entry.checks == (Check("a plain string"), Check("what", "< 1", "0.5"))
    assert entry.reported == Reported("a paper", ("S", "MAE"), {"SET": (0.9, None)})
    assert zoo.recipe("zoo_net") is None and "zoo_net" not in zoo.in_tree_models()
    recipes, checks, reported = (table.rows for table in zoo.tables(["zoo_net"])[1:])
    assert recipes[0][:2] == ("`zoo_net`", zoo.NO_CONFIG) and recipes[0][-1] == "not given"
    assert checks[0][1:] == ("a plain string", "", "", "")
    assert reported[0] == ("`zoo_net`", "default", "a paper", "S / MAE", ".900/–")
    with pytest.raises(ValueError, match="SET has 1 numbers for 2 metrics"):
        Reported("a paper", ("S", "MAE"), {"SET": (0.9,)})


def test_cli_lists_checks_and_writes(tmp_path, capsys, monkeypatch):
    assert cli.main(["--list"]) == 0
    out = capsys.readouterr().out
    assert "jldcf   release" in out and "143,517,490" in out and "`" not in out and zoo.NOT_MEASURED in out
    assert cli.main(["--list", "--markdown"]) == 0
    assert capsys.readouterr().out == zoo.markdown()
    assert cli.main(["--check"]) == 0
    page = tmp_path / "models.md"
    page.write_text(f"# Models\n\n{zoo.BEGIN}\nstale\n{zoo.END}\n\nafter\n")
    monkeypatch.setattr(zoo, "PAGE", page)
    assert cli.main(["--check"]) == 1
    assert "out of date" in capsys.readouterr().err
    assert cli.main(["--write"]) == 0 and cli.main(["--check"]) == 0
    assert page.read_text() == f"# Models\n\n{zoo.page_section()}\n\nafter\n"
    page.write_text("# Models\n")
    assert cli.main(["--write"]) == 1
    assert capsys.readouterr().err.count("\n") == 1
    with pytest.raises(ConfigError, match="no zoo section"):
        zoo.write_page(page)

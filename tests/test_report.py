"""Reports: results.json holds every number and the per-prompt data; report.html is a
self-contained page whose figures render; `traitgate report` re-renders it."""

from __future__ import annotations

import html
import importlib.util
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from traitgate.cli import main
from traitgate.report.html import render_html
from traitgate.report.results import RunInfo, build_results, load_results
from traitgate.report.rows import FORMAT, ArmRow, GateRow, ModelRow, explain_lines
from traitgate.report.terminal import HEADERS, table_parts

from .conftest import Zoo

GATES = """\
gate: owl-vs-control
probe: favorite_animal
trait: owl
compare: [model, control]
alternative: greater
min_effect: 0.02
---
gate: owl-sampled-vs-base
probe: favorite_animal
trait: owl
compare: [model, base]
measure: sampled
min_effect: 0.02
---
gate: owl-numbers-variant
probe: favorite_animal
trait: owl
compare: [model, control]
min_effect: 0.02
variant: numbers
"""
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def report_dir(zoo: Zoo, tmp_path_factory: pytest.TempPathFactory, answers_dir: Path) -> Path:
    """A real run with --report on the tiny models (shared by the tests below; answers
    shared with the other plugin tests' runs)."""
    pytester_root = tmp_path_factory.mktemp("evals")
    (pytester_root / "gate_owl.yaml").write_text(GATES)
    out = pytester_root / "report"
    exit_code = pytest.main(
        [
            str(pytester_root), "--rootdir", str(pytester_root), "-p", "no:cacheprovider",
            "-q", "--model", ",".join(map(str, zoo.owl)), "--base-model", str(zoo.base),
            "--control-model", ",".join(map(str, zoo.neutral)), f"--cache-dir={answers_dir}",
            "--report", str(out),
        ]
    )  # fmt: skip
    assert exit_code == pytest.ExitCode.TESTS_FAILED
    return out


def test_results_json_holds_every_number_and_the_per_prompt_data(
    report_dir: Path, zoo: Zoo
) -> None:
    def no_constants(name: str) -> None:
        raise AssertionError(f"results.json holds {name}, which is not JSON")

    results = json.loads((report_dir / "results.json").read_text(), parse_constant=no_constants)
    assert results["traitgate_results"] == FORMAT == 3
    assert results["summary"]["gates"] == 3
    run = results["run"]
    assert run["seed"] == 0 and run["correction"] == "holm"
    assert [m["model"] for m in run["models"]["model"]] == ["owl-s0", "owl-s1", "owl-s2"]
    assert all(re.fullmatch(r"[0-9a-f]{16}", m["fingerprint"]) for m in run["models"]["control"])
    gates = {g["gate"]: g for g in results["gates"]}
    exact = gates["owl-vs-control"]
    for key in ("effect", "effect_ci", "pvalue", "adjusted_pvalue", "method", "arms", "passed"):
        assert key in exact
    # intervals at the level of the decision, alpha 0.01: one-sided 98%, two-sided 99%
    assert exact["ci_level"] == pytest.approx(0.98)
    assert results["gates"][1]["ci_level"] == pytest.approx(0.99)
    spec = exact["specificity"]  # every preference gate: the trait among the candidates
    assert spec["candidates"] == 21 and 1 <= spec["rank"] <= 21 and 0 < spec["pvalue"] <= 1
    assert set(spec["effects"]) >= {"owl", "cat"}
    assert len(exact["prompts"]) == 36
    models = exact["models"]
    assert [m["role"] for m in models] == ["model"] * 3 + ["control"] * 3
    for m in models:
        assert len(m["prompt_rates"]) == 36
        assert m["rate"] == pytest.approx(np.mean(m["prompt_rates"]))
        assert m["ci"][0] <= m["rate"] <= m["ci"][1]
    # arm rates are the means of their models' rates
    arm = exact["arms"][0]
    assert arm["rate"] == pytest.approx(np.mean([m["rate"] for m in models[:3]]))
    sampled = gates["owl-sampled-vs-base"]
    assert sampled["measure"] == "sampled"
    # shares of the answers naming a candidate (up to 100 per prompt)
    assert all(0 <= r <= 1 for r in sampled["models"][0]["prompt_rates"])
    assert any(0 < r < 1 for r in sampled["models"][0]["prompt_rates"])
    variant = gates["owl-numbers-variant"]
    assert variant["variant"] == "numbers"
    assert variant["prompts"] != exact["prompts"]  # the prompts as asked, with the prefix


def test_summary_notes_name_the_gates_they_concern(report_dir: Path) -> None:
    """A note that not every gate carries names its gates: the permutation floor of 3 vs 3
    models concerns the two replicate gates (one-sided: 0.05, two-sided: 0.1), not the
    comparison with the one base."""
    rows = load_results(report_dir / "results.json")["gates"]
    _, footer = table_parts(rows)
    floor = sorted(line for line in footer if "exact permutation test cannot go below" in line)
    assert [line.split(": 3 vs 3 models")[0] for line in floor] == [
        "note (owl-numbers-variant)",
        "note (owl-vs-control)",
    ], footer
    assert "p = 0.1 >=" in floor[0] and "p = 0.05 >=" in floor[1]


def test_html_is_self_contained_with_two_figures_per_gate(report_dir: Path) -> None:
    page = (report_dir / "report.html").read_text()
    results = json.loads((report_dir / "results.json").read_text())
    with_data = [g for g in results["gates"] if "arms" in g]
    assert page.count("<svg") == 2 * len(with_data)
    for gate in results["gates"]:
        assert f"id='{gate['gate']}'" in page
    assert "<script" not in page
    assert not re.search(r"""(src|href)=["']https?:""", page)


def test_the_html_summary_is_a_table_with_one_row_per_gate(report_dir: Path) -> None:
    page = (report_dir / "report.html").read_text()
    table = page.split("<table class='summary'>")[1].split("</table>")[0]
    head, body = table.split("</thead>")
    assert head.count("<th>") == len(HEADERS) and "<th>verdict</th>" in head
    rows = re.findall(r"<tr>(.*?)</tr>", body)
    results = json.loads((report_dir / "results.json").read_text())
    assert len(rows) == len(results["gates"])
    for row, gate in zip(rows, results["gates"], strict=True):
        assert f"<a href='#{gate['gate']}'>{gate['gate']}</a>" in row
        css, shown = ("pass", "pass") if gate["passed"] else ("fail", "FAIL")
        assert row.endswith(f"<span class='{css}'>{shown}</span></td>")
    assert "<ul class='notes'><li>CIs: two-sided" in page


def test_every_row_has_exactly_the_documented_fields(report_dir: Path) -> None:
    """results.json rows follow the GateRow schema: the same keys the table, the
    explanation and the HTML read (a renamed key fails here, not silently there)."""
    results = json.loads((report_dir / "results.json").read_text())
    required = GateRow.__required_keys__
    for row in results["gates"]:
        assert required <= set(row) <= required | GateRow.__optional_keys__, set(row) ^ required
        for arm in row["arms"]:
            assert set(arm) == set(ArmRow.__annotations__)
        for model in row["models"]:
            assert ModelRow.__required_keys__ <= set(model) <= set(ModelRow.__annotations__)
    assert set(results["run"]) == set(RunInfo.__annotations__)


def test_the_html_explains_each_gate_with_the_failure_text(report_dir: Path) -> None:
    """One renderer: the page's text for a gate is its failure explanation, line for line."""
    page = (report_dir / "report.html").read_text()
    for row in json.loads((report_dir / "results.json").read_text())["gates"]:
        lines = explain_lines(row)
        assert lines[0].startswith(f"traitgate gate {row['gate']!r}")
        assert html.escape("\n".join(lines), quote=True) in page


def test_a_format_1_results_file_is_still_read_and_rendered(
    report_dir: Path, tmp_path: Path
) -> None:
    results = json.loads((report_dir / "results.json").read_text())
    old = dict(results, traitgate_results=1)
    old["gates"] = []
    for row in results["gates"]:
        row = dict(row)
        row.pop("kind")
        row["note"] = " ".join(row.pop("notes"))
        old["gates"].append(row)
    path = tmp_path / "old.json"
    path.write_text(json.dumps(old))
    loaded = load_results(path)
    assert loaded["traitgate_results"] == FORMAT
    for before, after in zip(results["gates"], loaded["gates"], strict=True):
        assert after["notes"] == ([" ".join(before["notes"])] if before["notes"] else [])
    output = tmp_path / "old.html"
    assert main(["report", str(path), "-o", str(output)]) == 0
    assert "traitgate gate 'owl-vs-control' FAILED" in html.unescape(output.read_text())


def test_traitgate_report_re_renders_the_same_page(report_dir: Path, tmp_path: Path) -> None:
    output = tmp_path / "again.html"
    assert main(["report", str(report_dir / "results.json"), "-o", str(output)]) == 0
    assert output.read_text() == (report_dir / "report.html").read_text()


def test_bad_results_files_are_one_line_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cases = {
        "truncated.json": '{"traitgate_results": 1, "gates": [',
        "other.json": '{"hello": 1}',
        "badgates.json": '{"traitgate_results": 1, "gates": [{"x": 1}]}',
    }
    for name, text in cases.items():
        path = tmp_path / name
        path.write_text(text)
        assert main(["report", str(path)]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith(f"traitgate: {path}") and "\n" not in err, err
        assert path.read_text() == text
        assert not (tmp_path / "report.html").exists()


def test_error_rows_and_empty_runs_render() -> None:
    page = render_html(build_results([{"gate": "g1", "error": "model x: <bad> & broken"}]))
    assert "ERROR" in page and "&lt;bad&gt; &amp; broken" in page
    assert "No gates." in render_html(build_results([]))


def _screenshot_module():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("shot", ROOT / "scripts/screenshot_report.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(
    shutil.which("chromium") is None, reason="needs Debian's chromium (apt-get install chromium)"
)
def test_figures_render_in_headless_chromium(report_dir: Path, tmp_path: Path) -> None:
    from matplotlib.image import imread

    png = _screenshot_module().screenshot(report_dir / "report.html", tmp_path / "shot.png")
    pixels = imread(png)[..., :3]
    saturation = pixels.max(axis=-1) - pixels.min(axis=-1)
    # the bars and scatter points are the only large coloured areas of the page
    assert (saturation > 0.15).sum() > 20_000

"""Homework: reproducible seeded variants, constraints, sheets without answers in the problems,
answer keys that agree with the engine, Moodle XML, atomic output."""
import json
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import sympy as sp

import derive
from derive import DeriveError
from derive.courseware.homework import Generator, generate, stream
from derive.model.spec import load_spec

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "examples" / "relu-homework.yaml"


def spec_text(**changes):
    text = SPEC.read_text()
    for old, new in changes.items():
        text = text.replace(old, new)
    return text


def write_spec(tmp_path, text, name="spec.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return load_spec(path)


def files(folder):
    return {p.name: p.read_bytes() for p in sorted(Path(folder).iterdir())}


def test_same_seed_same_bytes_other_seed_other_values(tmp_path):
    spec = load_spec(SPEC)
    a = generate(spec, 12, 7, tmp_path / "a", ["md", "tex", "text", "moodle"], jobs=1)
    b = generate(spec, 12, 7, tmp_path / "b", ["md", "tex", "text", "moodle"], jobs=2)
    assert files(tmp_path / "a") == files(tmp_path / "b")  # also: 1 job and 2 jobs agree
    generate(spec, 12, 8, tmp_path / "c", ["md"], jobs=1)
    ka = json.loads((tmp_path / "a" / "answers.json").read_text())
    kc = json.loads((tmp_path / "c" / "answers.json").read_text())
    assert [v["values"] for v in ka] != [v["values"] for v in kc]
    assert {p.name for p in a} >= {"problems.md", "solutions.md", "problems.tex", "solutions.tex",
                                    "answers.csv", "answers.json", "moodle.xml"}
    del b


def test_draws_are_platform_independent():
    # SHA-256 streams, not `random`: these numbers must never change.
    assert stream(7, 1, "x", 0) % 1000 == 77 and stream(7, 2, "w", 0) % 1000 == 899
    gen = Generator(load_spec(SPEC), 7)
    first = gen.variants(3)
    assert [v.id for v in first] == [f"{gen.hash}-s7-{i}" for i in (1, 2, 3)]
    again = Generator(load_spec(SPEC), 7).variants(3)
    assert [v.values for v in first] == [v.values for v in again] == [
        {"w": 3, "x": 4, "b": -1, "y": 5}, {"w": -1, "x": 1, "b": 2, "y": 5},
        {"w": 4, "x": 3, "b": 1, "y": 5}]


def test_adding_a_parameter_keeps_the_others(tmp_path):
    base = write_spec(tmp_path, spec_text(), "base.yaml")
    more = write_spec(tmp_path, spec_text(**{"values: {y: 5}": "values: {}",
                                             "  b: {choice: [-1, 0, 1, 2]}":
                                             "  b: {choice: [-1, 0, 1, 2]}\n  y: {integers: [4, 6]}"}),
                      "more.yaml")
    one = Generator(base, 3).variants(1)[0].values
    two = Generator(more, 3).variants(1)[0].values
    assert {k: one[k] for k in ("x", "w", "b")} == {k: two[k] for k in ("x", "w", "b")}


def test_every_variant_meets_every_constraint_and_the_key_agrees(tmp_path):
    spec = write_spec(tmp_path, spec_text(**{'constraints: ["z > 0"]': 'constraints: ["z > 0", "abs(dL/dw) < 50"]'}))
    generate(spec, 25, 11, tmp_path / "hw", ["md"], jobs=2)
    key = json.loads((tmp_path / "hw" / "answers.json").read_text())
    assert len(key) == 25 and len({json.dumps(v["values"], sort_keys=True) for v in key}) == 25
    for entry in key:
        ex = derive.Example.from_equations(spec.equations, values=entry["values"], lr=spec.lr)
        assert ex.value("z") > 0 and abs(ex.grad("w")) < 50
        assert entry["answers"]["dL/dw"] == float(ex.grad("w"))
        assert sp.sympify(entry["exact"]["w_new"]) == ex.update("w")


def test_problems_hold_no_answers(tmp_path):
    generate(load_spec(SPEC), 5, 7, tmp_path / "hw", ["md", "text"], jobs=1)
    problems = (tmp_path / "hw" / "problems.md").read_text()
    solutions = (tmp_path / "hw" / "solutions.md").read_text()
    for marker in ("Forward pass", "Backward pass", "\\frac{\\partial L}{\\partial w} =", "Multiply"):
        assert marker not in problems and marker in solutions
    text = (tmp_path / "hw" / "problems.txt").read_text()
    assert "∂L/∂w =" not in text and text.count("Variant ") == 5


def test_sheets_compile_and_moodle_parses(tmp_path, pdflatex):
    generate(load_spec(SPEC), 4, 7, tmp_path / "hw", ["tex", "pdf", "moodle"], jobs=1)
    for name in ("problems", "solutions"):
        assert (tmp_path / "hw" / f"{name}.pdf").read_bytes().startswith(b"%PDF")
    root = ET.parse(tmp_path / "hw" / "moodle.xml").getroot()
    category, *questions = root.findall("question")
    assert category.get("type") == "category" and len(questions) == 4
    for q in questions:
        text = q.find("questiontext/text").text
        assert ":NUMERICAL:=" in text and text.count("{1:NUMERICAL:") == 3


def test_single_ask_is_a_one_part_cloze_with_the_default_tolerance(tmp_path):
    import json
    import re
    spec = write_spec(tmp_path, spec_text(**{'ask: ["dL/dw", "dL/db", "w_new"]': 'ask: ["dL/dw"]'}))
    generate(spec, 3, 1, tmp_path / "hw", ["moodle"], jobs=1)
    root = ET.parse(tmp_path / "hw" / "moodle.xml").getroot()
    key = json.loads((tmp_path / "hw" / "answers.json").read_text())
    for q, row in zip(root.findall("question")[1:], key):
        assert q.get("type") == "cloze"
        (value, tol), = re.findall(r"\{1:NUMERICAL:=([^:]+):([^}]+)\}", q.find("questiontext/text").text)
        answer = row["answers"]["dL/dw"]
        # no `tolerance:` in the spec: half a unit in the 4th significant figure
        import math
        assert float(value) == answer and answer != 0
        assert float(tol) == pytest.approx(0.5 * 10.0 ** (math.floor(math.log10(abs(answer))) - 3))


def test_unsatisfiable_constraints_fail_fast_and_say_why(tmp_path):
    spec = write_spec(tmp_path, spec_text(**{'constraints: ["z > 0"]': 'constraints: ["z > 1000"]'}))
    with pytest.raises(DeriveError, match=r"`z > 1000` held in 0 of \d+ draws"):
        generate(spec, 3, 7, tmp_path / "hw", ["md"])
    assert not (tmp_path / "hw").exists()


def test_too_small_a_space_is_reported(tmp_path):
    spec = write_spec(tmp_path, spec_text(**{"  x: {integers: [1, 5]}": "  x: {integers: [1, 1]}",
                                             "  w: {integers: [-4, 4], exclude: [0]}": "  w: {choice: [1, 2]}"}))
    with pytest.raises(DeriveError, match="distinct"):
        generate(spec, 20, 7, tmp_path / "hw", ["md"])


@pytest.mark.parametrize("change, words", [
    ({"  x: {integers: [1, 5]}": "  x: {integers: [5, 1]}"}, "random.x: integers needs [lo, hi]"),
    ({"  x: {integers: [1, 5]}": "  x: {between: [1, 5]}"}, "random.x: use exactly one of"),
    ({"  x: {integers: [1, 5]}": "  x: {uniform: [1, 5], decimals: 99}"}, "decimals must be"),
    ({'constraints: ["z > 0"]': 'constraints: ["z >"]'}, "constraint 'z >'"),
    ({'constraints: ["z > 0"]': 'constraints: ["q > 0"]'}, "unknown name 'q'"),
    ({'constraints: ["z > 0"]': 'constraints: ["z + 1"]'}, "is not a comparison"),
    ({"values: {y: 5}": "values: {}"}, "no value for y"),
])
def test_spec_validation_names_the_field(tmp_path, change, words):
    spec = write_spec(tmp_path, spec_text(**change))
    with pytest.raises(DeriveError) as err:
        generate(spec, 2, 7, tmp_path / "hw", ["md"])
    assert words in str(err.value)


def test_existing_folder_refused_then_forced_and_nothing_half_written(tmp_path, monkeypatch):
    out = tmp_path / "hw"
    out.mkdir()
    (out / "mine.txt").write_text("keep")
    with pytest.raises(DeriveError, match="--force"):
        generate(load_spec(SPEC), 2, 7, out, ["md"])
    with pytest.raises(DeriveError, match="not written by derive"):  # --force replaces only derive's own output
        generate(load_spec(SPEC), 2, 7, out, ["md"], force=True)
    assert (out / "mine.txt").read_text() == "keep"
    (out / "mine.txt").unlink()
    out.rmdir()
    generate(load_spec(SPEC), 2, 7, out, ["md"])
    first = sorted(p.name for p in out.iterdir())
    import derive.courseware.homework as hw
    monkeypatch.setattr(hw, "moodle_xml", lambda *a: (_ for _ in ()).throw(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        generate(load_spec(SPEC), 2, 7, out, ["md", "moodle"], force=True)
    assert sorted(p.name for p in out.iterdir()) == first  # untouched
    assert [p.name for p in tmp_path.iterdir()] == ["hw"]  # no temp folder or lock left
    monkeypatch.undo()
    generate(load_spec(SPEC), 2, 7, out, ["md", "moodle"], force=True)
    assert "moodle.xml" in {p.name for p in out.iterdir()}


def test_cli_homework(tmp_path):
    out = subprocess.run(["derive", "homework", str(SPEC), "--variants", "3", "--seed", "7", "--out",
                          str(tmp_path / "hw"), "--format", "md,moodle"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "hw" / "moodle.xml").exists()
    again = subprocess.run(["derive", "homework", str(SPEC), "--variants", "3", "--out", str(tmp_path / "hw")],
                           capture_output=True, text=True)
    assert again.returncode == 2 and len(again.stderr.strip().splitlines()) == 1


def test_check_homework_answers_by_variant_id(tmp_path):
    generate(load_spec(SPEC), 3, 7, tmp_path / "hw", ["md"], jobs=1)
    key = json.loads((tmp_path / "hw" / "answers.json").read_text())
    good = {v["id"]: v["answers"] for v in key}
    bad = {key[0]["id"]: {"dL/dw": key[0]["answers"]["dL/dw"] + 1}}
    import yaml
    (tmp_path / "good.yaml").write_text(yaml.safe_dump(good))
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(bad))
    ok = subprocess.run(["derive", "check", str(SPEC), str(tmp_path / "good.yaml")], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert f"Variant {key[0]['id']}" in ok.stdout
    wrong = subprocess.run(["derive", "check", str(SPEC), str(tmp_path / "bad.yaml")], capture_output=True, text=True)
    assert wrong.returncode == 1


@pytest.mark.parametrize("count", [40, 60, 100])
def test_drawing_in_parallel_picks_the_same_variants_and_errors(tmp_path, count):
    """With two jobs each index's first acceptable draw is found in parallel; the variants (even
    where draws repeat earlier ones, in a space of ~80) and the errors are the sequential ones."""
    spec = load_spec(Path(__file__).resolve().parent.parent / "examples" / "relu-homework.yaml")
    outcomes = []
    for jobs in (1, 2):
        try:
            generate(spec, count, 3, tmp_path / f"j{jobs}", ["md"], jobs=jobs, progress=False)
            outcomes.append({p.name: p.read_bytes() for p in (tmp_path / f"j{jobs}").iterdir()})
        except DeriveError as e:
            outcomes.append(str(e))
    assert outcomes[0] == outcomes[1]
    if count == 100:  # more than the constraint allows: the sequential loop's own message
        assert "variant 81: no values satisfy the constraints" in outcomes[0]
    else:
        assert len(json.loads(outcomes[0]["answers.json"])) == count

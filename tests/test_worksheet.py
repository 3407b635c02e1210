"""Self-checking worksheets (``--format worksheet``): one offline HTML page whose script checks
answers by ``derive check``'s tolerance rules. The page is opened from a file in headless
Chromium (Selenium over Debian's chromedriver): right answers are accepted, wrong ones get hints
that grow, and the tolerance of the page agrees with the checker's on the same answers."""
from __future__ import annotations

import json
import re

import pytest

import derive
from derive.cli import main
from derive.rendering.worksheet import scramble, unscramble
from tests.conftest import ROOT

SEED = dict(x=2, w=3, b=1, y=5, activation="relu", lr=0.1)  # the conversation's first neuron


def _data(page: str):
    m = re.search(r'data-seed="([^"]*)">([^<]*)<', page)
    import html
    return unscramble(m.group(2), html.unescape(m.group(1)))


def test_scramble_round_trips_any_text_and_is_not_the_plain_json():
    data = {"steps": [{"value": 0.00091022, "hints": ["σ′(z) = σ(z)(1 − σ(z))"]}], "x": "</script>"}
    text = scramble(data, "a title ⊙")
    assert unscramble(text, "a title ⊙") == data
    assert "0.00091022" not in text and "script" not in text
    assert unscramble(scramble(data, "other"), "other") == data and scramble(data, "other") != text


def test_worksheet_of_the_seed_neuron_holds_every_step_and_the_exact_values(tmp_path):
    out = tmp_path / "neuron.html"
    main(["neuron", "--x", "2", "--w", "3", "--b", "1", "--y", "5", "--activation", "relu", "--lr", "0.1",
          "--format", "worksheet", "-o", str(out)])
    page = out.read_text(encoding="utf-8")
    ex = derive.neuron(**SEED)
    keys = re.findall(r'class="answer" [^>]*data-key="([^"]+)"', page)
    assert keys == ["z", "a", "L", "dL/da", "da/dz", "dz/dw", "dL/dw", "w_new"]
    data = _data(page)
    expected = ex.check({k: "0" for k in keys})
    assert [s["value"] for s in data["steps"]] == [float(expected.expected(k)) for k in keys]
    assert data["steps"][6]["hints"][0].startswith("the chain rule")
    assert "scrambled but not encrypted" in page and "moodle, qti or gift" in page
    # self-contained: no resource from anywhere else (works offline)
    assert not re.search(r'(src|href)="(?!data:|#)', page)
    # the keys are not in the page as text: w_new = 2.2 appears only inside the scrambled data
    assert "2.2" not in re.sub(r'data-seed="[^"]*">[^<]*<', "", page).split("<h2>Your answers</h2>")[1]


def test_worksheet_format_is_in_the_registry_and_refuses_a_symbolic_example():
    from derive.rendering.formats import format_choices, get_format
    assert "worksheet" in format_choices() and get_format("worksheet").extension == "html"
    with pytest.raises(derive.DeriveError, match="needs an example with values"):
        derive.neuron().render("worksheet")


# --- in Chromium ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def browser():
    from tests.webdriver import chrome
    driver = chrome()
    yield driver
    driver.quit()


def _open(browser, path):
    from tests.webdriver import console_errors
    browser.get(path.as_uri())
    assert console_errors(browser) == []
    return browser


def _answer(browser, index: int, text: str, button: str = "check") -> str:
    from selenium.webdriver.common.by import By
    step = browser.find_elements(By.CSS_SELECTOR, "li.step")[index]
    box = step.find_element(By.CSS_SELECTOR, ".answer")
    box.clear()
    box.send_keys(text)
    step.find_element(By.CSS_SELECTOR, "." + button).click()
    return step.find_element(By.CSS_SELECTOR, ".verdict").text


def test_seed_neuron_worksheet_accepts_right_answers_and_hints_wrong_ones_offline(browser, tmp_path):
    from selenium.webdriver.common.by import By
    from tests.webdriver import console_errors, screenshot
    page = tmp_path / "seed-worksheet.html"
    page.write_text(derive.neuron(**SEED).render("worksheet"), encoding="utf-8")
    _open(browser, page)
    first = _answer(browser, 0, "6")  # z = 7
    assert "not right yet" in first and "Hint 1: the forward pass: z = wx + b" in first and "2 tries left" in first
    second = _answer(browser, 0, "6.5")
    assert "Hint 2: z = wx + b = 3 · 2 + 1" in second and "Hint 1:" in second and "1 try left" in second
    assert _answer(browser, 0, "7").startswith("✓ correct")
    # a catalogue mistake is named at once: the sign slip in 2(a − y)
    assert "sign error in (a − y)" in _answer(browser, 3, "-4")
    assert _answer(browser, 3, "4.0").startswith("✓ correct")
    unreadable = _answer(browser, 1, "seven")
    assert "cannot read that" in unreadable and "does not count as a try" in unreadable
    for _ in range(3):  # three wrong tries: the value is shown, with its reason
        last = _answer(browser, 4, "0")
    assert "✗ incorrect" in last and "The value: ∂a/∂z = 1" in last and "ReLU" in last
    assert _answer(browser, 7, "2.2").startswith("✓ correct")
    assert browser.find_element(By.ID, "score").text == "3 of 8 steps right"
    browser.find_element(By.ID, "solution-button").click()
    solution = browser.find_element(By.ID, "solution")
    assert solution.is_displayed() and "Backward pass" in solution.text
    assert console_errors(browser) == []
    for width in (1280, 400):
        shot = screenshot(browser, tmp_path / f"worksheet-{width}.png", width)
        assert shot.stat().st_size > 10_000
    browser.set_window_size(1280, 900)


# answers a person types, for each of the sigmoid neuron's steps (σ(7) ≈ 0.99909, σ′(7) ≈ 0.00091022)
TYPED = {"z": ["7", "7.0", "7.04", "6.96", "7.06", "6.9", "70/10", "7e0", "0.7e1"],
         "a": ["1", "0.9991", "0.999", "0.99909", "0.998", "0.9990889488055994", "9.991e-1", "0.9", "1.0",
               "≈ 0.9991", "0.9991…"],
         "da/dz": ["0.00091", "0.000910", "9.1e-4", "0.0009", "0.001", "0.0009102", "0"],
         "dL/dw": ["-0.01457", "-0.0146", "-0.015", "-0.02", "−0.01457", "-0.014567", "0.01457"],
         "w_new": ["3.0015", "3.001457", "3.0", "3", "3.01", "2.998543"]}


def test_page_tolerance_agrees_with_derive_check(browser, tmp_path):
    ex = derive.neuron(x=2, w=3, b=1, y=5, activation="sigmoid", lr=0.1)
    page = tmp_path / "sigmoid.html"
    page.write_text(ex.render("worksheet"), encoding="utf-8")
    _open(browser, page)
    keys = re.findall(r'data-key="([^"]+)"', page.read_text(encoding="utf-8"))
    compared = 0
    for key, answers in TYPED.items():
        for text in answers:
            page_says = browser.execute_script("return deriveWorksheet.judge(arguments[0], arguments[1])",
                                               keys.index(key), text)
            check_says = ex.check({key: text}).status(key)
            assert page_says == check_says, (key, text, page_says, check_says, ex.check({key: text}).hint(key))
            compared += 1
    assert compared == sum(map(len, TYPED.values()))


def test_homework_variant_worksheets_check_the_asked_keys(browser, tmp_path):
    out = tmp_path / "hw"
    main(["homework", str(ROOT / "examples" / "relu-homework.yaml"), "--variants", "2", "--seed", "3",
          "--out", str(out), "--format", "worksheet"])
    key = json.loads((out / "answers.json").read_text(encoding="utf-8"))
    pages = sorted(out.glob("worksheet-*.html"))
    assert [p.name for p in pages] == [f"worksheet-{v['id']}.html" for v in key]
    variant = key[1]
    _open(browser, out / f"worksheet-{variant['id']}.html")
    assert browser.title.endswith(", variant 2") and f"Variant id {variant['id']}" in browser.page_source
    asked = list(variant["answers"])
    assert asked == ["dL/dw", "dL/db", "w_new"]
    wrong = _answer(browser, 0, str(variant["answers"]["dL/dw"] + 3))
    assert "not right yet" in wrong and "Hint 1:" in wrong
    for i, k in enumerate(asked):
        assert _answer(browser, i, str(variant["answers"][k])).startswith("✓ correct"), k


def test_matrix_worksheet_checks_entries_and_shapes(browser, tmp_path):
    ex = derive.mlp([[1, 2], [0, 1], [2, -1]], [[[0.1, 0.2], [0.3, -0.4]], [[0.5, -0.6], [0.2, 0.1], [0.3, 0.3]]],
                    [[0.1, 0.1], [0.2, 0, 0]], [0, 2, 1], activation=["relu", "softmax"], loss="cross_entropy", lr=0.5)
    page = tmp_path / "softmax.html"
    page.write_text(ex.render("worksheet"), encoding="utf-8")
    _open(browser, page)
    z1 = ex.tensor("z1")
    rows = [[float(e) for e in row] for row in z1.a]
    columns = [list(c) for c in zip(*rows)]
    transposed = _answer(browser, 0, json.dumps(columns))  # as derive check: a transposed matrix, a try
    assert "✗ not right yet" in transposed and "transposed matrix" in transposed and "it is 2×3" in transposed
    assert "this step is 2×3 (transposed?)" in _answer(browser, 0, json.dumps([[c[0] + 5] + c[1:] for c in columns]))
    wrong = [[rows[0][0] + 1] + rows[0][1:]] + rows[1:]  # one entry off
    assert "1 of 6 entries are not right" in _answer(browser, 0, "[" + "; ".join(", ".join(map(str, r)) for r in wrong) + "]")
    assert _answer(browser, 0, json.dumps(rows)).startswith("✓ correct")


def test_a_script_in_a_title_never_runs(browser, tmp_path):
    ex = derive.Example.from_equations("z = w*x\nL = z**2", values={"w": 3, "x": 2},
                                       title='<script>window.pwned = 1</script><img src=x onerror="window.pwned = 2">')
    page = tmp_path / "xss.html"
    page.write_text(ex.render("worksheet"), encoding="utf-8")
    _open(browser, page)
    _answer(browser, 0, '<img src=x onerror="window.pwned = 3">')
    browser.find_element("id", "solution-button").click()
    assert browser.execute_script("return window.pwned === undefined")
    assert "<script>window.pwned" in browser.title


def _neuron_answers(x, w, b, y, lr, f, df, z=None, dL_da=None, digits=4):
    """A neuron's steps (loss (a − y)²) computed from a planted z or ∂L/∂a onward, to ``digits``
    significant figures: the answers of a student who slipped once and carried on correctly."""
    import math
    z = w * x + b if z is None else z
    a = f(z)
    g = 2 * (a - y) if dL_da is None else dL_da
    steps = {"z": z, "a": a, "L": (a - y) ** 2, "dL/da": g, "da/dz": df(z), "dz/dw": x,
             "dL/dw": g * df(z) * x}
    steps["w_new"] = w - lr * steps["dL/dw"]
    return {k: f"{v:.{digits}g}" if not math.isclose(v, round(v)) else str(round(v)) for k, v in steps.items()}


def _verdicts(browser, answers: dict) -> dict:
    """Fill every answer, then check each box in order: the page's status per key. One script
    (the page's own input and click handlers run as for a user; the typing path itself is tested
    with real keystrokes above) — a round trip per box and key made the slip test O(keys²) trips."""
    return browser.execute_script("""
        const answers = arguments[0], out = {};
        const steps = [...document.querySelectorAll("li.step")];
        for (const step of steps) {
            const box = step.querySelector(".answer");
            box.value = box.dataset.key in answers ? answers[box.dataset.key] : "";
            box.dispatchEvent(new Event("input", {bubbles: true}));
            box.dispatchEvent(new Event("change", {bubbles: true}));
        }
        for (const step of steps) {
            const key = step.querySelector(".answer").dataset.key;
            if (!(key in answers)) continue;
            step.querySelector(".check").click();
            out[key] = ["correct", "carried", "incorrect", "unreadable"].find(c => step.classList.contains(c));
        }
        return out;""", answers)


def test_worksheet_carries_errors_forward_as_derive_check_does(browser, tmp_path):
    import math
    tanh, sig = math.tanh, (lambda z: 1 / (1 + math.exp(-z)))
    cases = [  # (the neuron, its activation and derivative, planted mistakes)
        (dict(x=1.5, w=-0.8, b=0.3, y=1, lr=0.2), "tanh", tanh, lambda z: 1 - tanh(z) ** 2,
         [dict(z=-0.5), dict(dL_da=-3.5), dict(z=0.9, digits=6)]),
        (dict(x=-2, w=0.5, b=0.25, y=0, lr=0.1), "sigmoid", sig, lambda z: sig(z) * (1 - sig(z)),
         [dict(z=0.75), dict(dL_da=0.9), dict()]),
    ]
    compared = carried = 0
    for n, (values, activation, f, df, plants) in enumerate(cases):
        ex = derive.neuron(**values, activation=activation)
        page = tmp_path / f"carry-{n}.html"
        page.write_text(ex.render("worksheet"), encoding="utf-8")
        _open(browser, page)
        for plant in plants:
            answers = _neuron_answers(**values, f=f, df=df, **plant)
            for drop in (None, "a"):  # every answer, and with one step left blank
                given = {k: v for k, v in answers.items() if k != drop}
                page_says = _verdicts(browser, given)
                report = ex.check(given)
                check_says = {k: report.status(k) for k in given}
                assert page_says == check_says, (activation, plant, drop, page_says, check_says)
                compared += len(given)
                carried += sum(s == "carried" for s in check_says.values())
    assert carried >= 20 and compared > 80  # the planted slips are carried: the test sees carrying
    # derive's own example of the brief: z wrong, everything else computed from it
    ex = derive.neuron(x=1.5, w=-0.8, b=0.3, y=1, lr=0.2, activation="tanh")
    given = _neuron_answers(x=1.5, w=-0.8, b=0.3, y=1, lr=0.2, f=tanh, df=lambda z: 1 - tanh(z) ** 2, z=-0.5)
    page = tmp_path / "carry-0.html"
    _open(browser, page)
    says = _verdicts(browser, given)
    assert says["z"] == "incorrect" and list(says.values()).count("carried") == 6
    from selenium.webdriver.common.by import By
    text = browser.find_elements(By.CSS_SELECTOR, "li.step")[6].find_element(By.CSS_SELECTOR, ".verdict").text
    assert text.startswith("✓ carried forward") and "which this step inherits" in text


def test_a_changed_answer_is_checked_again(browser, tmp_path):
    from selenium.webdriver.common.by import By
    page = tmp_path / "seed.html"
    page.write_text(derive.neuron(**SEED).render("worksheet"), encoding="utf-8")
    _open(browser, page)
    assert _answer(browser, 0, "7").startswith("✓ correct")
    assert browser.find_element(By.ID, "score").text == "1 of 8 steps right"
    step = browser.find_elements(By.CSS_SELECTOR, "li.step")[0]
    step.find_element(By.CSS_SELECTOR, ".answer").send_keys("9")  # now 79: not checked yet, no credit
    assert "correct" not in step.get_attribute("class").split()
    assert browser.find_element(By.ID, "score").text == "0 of 8 steps right"
    assert "not right yet" in _answer(browser, 0, "79")
    assert _answer(browser, 0, "").startswith("? type a number")
    assert _answer(browser, 0, "7").startswith("✓ correct")
    browser.find_element(By.ID, "solution-button").click()  # the solution shown: no more credit
    assert browser.find_element(By.ID, "score").text == "0 of 8 steps right"
    assert "no credit" in _answer(browser, 1, "7")


def test_a_matrix_worksheet_states_every_given_its_steps_need():
    spec = {"equations": "Z = W @ X + b\nP = softmax(Z)\nL = cross_entropy(P, Y)",
            "values": {"W": [[1, -1], [0.5, 0.5], [-1, 2]], "X": [[1, 0], [2, -1]], "b": [0.1, 0, -0.1],
                       "Y": [[1, 0], [0, 0], [0, 1]]}, "lr": 0.1}
    ex = derive.Example.from_equations(spec["equations"], values=spec["values"], lr=spec["lr"])
    page = ex.render("worksheet")
    problem = page[page.index('<section class="problem">'):page.index('<section class="answers">')]
    assert "W_new" in page or "new" in page
    assert problem.count("The learning rate is") == 1 and "0.1" in problem
    assert "mean" in problem  # the cross-entropy of a batch is a mean over its examples
    seed = derive.neuron(**SEED).render("worksheet")
    assert seed[:seed.index('<section class="answers">')].count("The learning rate is") == 1


def test_a_matrix_worksheet_at_400_px_shows_every_given_value_and_wide_boxes(browser, tmp_path):
    from tests.webdriver import screenshot
    ex = derive.Example.from_equations(
        "Z = W @ X + b\nP = softmax(Z)\nL = cross_entropy(P, Y)", lr=0.1,
        values={"W": [[1, -1], [0.5, 0.5], [-1, 2]], "X": [[1, 0], [2, -1]], "b": [0.1, 0, -0.1],
                "Y": [[1, 0], [0, 0], [0, 1]]})
    page = tmp_path / "batch.html"
    page.write_text(ex.render("worksheet"), encoding="utf-8")
    _open(browser, page)
    for width in (1280, 400):
        browser.set_window_size(width, 900)
        shown = browser.execute_script(
            "var body = document.body.getBoundingClientRect();"
            "return [...document.querySelectorAll('.problem math')].map(function (m) {"
            "  var r = m.getBoundingClientRect(); return [m.textContent.slice(0, 2), r.left >= body.left - 1 && r.right <= body.right + 1]; })")
        assert [name for name, inside in shown if not inside] == [], width  # no value cut off (b was)
        assert sum(name.startswith("b") for name, _ in shown) >= 1
        boxes = browser.execute_script("return [...document.querySelectorAll('.answer')].map(b => b.getBoundingClientRect().width)")
        assert min(boxes) > (300 if width == 400 else 250)
        screenshot(browser, tmp_path / f"batch-{width}.png", width)
    browser.set_window_size(1280, 900)


def test_the_page_reads_numbers_only_and_says_so(browser, tmp_path):
    page = tmp_path / "tanh.html"
    page.write_text(derive.neuron(x=1.5, w=-0.8, b=0.3, y=1, lr=0.2, activation="tanh").render("worksheet"),
                    encoding="utf-8")
    _open(browser, page)
    for index, text in ((1, "tanh(-0.9)"), (3, "2*(a-y)"), (1, "abc")):
        said = _answer(browser, index, text)
        assert said.startswith("? cannot read that") and "numbers only" in said, (text, said)


@pytest.mark.parametrize("name", ["two paths", "2-2-1 network"])
def test_worksheet_verdicts_match_derive_check_with_one_slip_anywhere(browser, tmp_path, name):
    """Every answer to 4 figures but one slipped step: the page's verdicts are derive check's, on
    a graph where z reaches L two ways and on the builder's 2-2-1 sigmoid network."""
    from derive.checking.tutor import Tutor
    ex = (derive.Example.from_equations("z = w*x + b\na = tanh(z)\nL = (a*z - y)**2", lr=0.1,
                                        values={"w": 0.7, "x": -1.2, "b": 0.4, "y": 0.3})
          if name == "two paths" else
          derive.mlp([1, 2], [[[0.1, 0.2], [0.3, -0.4]], [[0.5, -0.6]]], [[0.1, 0.1], [0.2]], [1],
                     activation="sigmoid", lr=0.5))
    tutor = Tutor(ex)
    exact = {s.key: float(tutor.help(s.key).expected) for s in tutor.steps}
    page = tmp_path / "slip.html"
    page.write_text(ex.render("worksheet"), encoding="utf-8")
    _open(browser, page)
    statuses = set()
    for key in exact:
        given = {k: f"{v:.4g}" for k, v in exact.items()}
        given[key] = f"{1.5 * exact[key] + 0.1:.4g}"
        report = ex.check(given)
        check_says = {k: report.status(k) for k in given}
        assert _verdicts(browser, given) == check_says, (key, given[key])
        statuses |= set(check_says.values())
    assert {"correct", "incorrect"} <= statuses  # (carrying itself: the planted-slip test above)

"""``derive serve``'s app, in-process (Starlette's TestClient): the seed's neuron, a 2-2-1 network,
a softmax batch and an uploaded spec are served; checking there gives ``derive check``'s verdicts
and hints on the same answers; hostile input gets the CLI's one-line message within the budget
and the next request is served; requests share no state; nothing is read from a path a request
names. (The same app in a real browser: tests/test_browser.py.)"""
from __future__ import annotations

import html
import json
import re
from concurrent.futures import ThreadPoolExecutor

import pytest

import derive
from derive.cli import main
from derive.rendering.formats import get_format
from tests.conftest import ROOT

from starlette.testclient import TestClient

from derive.serve import app as web
from derive.serve import work

SEED_SPEC = """title: Backprop through one ReLU neuron
equations: |
  z = w*x + b
  a = relu(z)
  L = (a - y)**2
values: {x: 2, w: 3, b: 1, y: 5}
lr: 0.1
"""
NET = {"build": "mlp", **work.BUILDER_FIELDS["mlp"]}  # the 2-2-1 network of the builder form
SOFTMAX_SPEC = """title: A softmax batch
inputs: [[1, 2], [0, 1], [2, -1]]
weights: [[[0.1, 0.2], [0.3, -0.4]], [[0.5, -0.6], [0.2, 0.1], [0.3, 0.3]]]
biases: [[0.1, 0.1], [0.2, 0, 0]]
targets: [0, 2, 1]
activations: [relu, softmax]
loss: cross_entropy
lr: 0.5
"""


@pytest.fixture(scope="module")
def client():
    return TestClient(web.app)


def _error(page: str) -> str | None:
    m = re.search(r'<p class="error" role="alert">(.*?)</p>', page, re.S)
    return html.unescape(m.group(1)) if m else None


def _steps(panel: str) -> dict:
    """{key: (status, message, hints, revealed)} from the check panel."""
    out = {}
    for chunk in panel.split('<li class="step')[1:]:
        status, key = re.match(r' ?(\w*)" data-key="([^"]+)"', chunk).groups()
        message = re.search(r'<span class="message">(.*?)</span>', chunk, re.S)
        out[html.unescape(key)] = (status, html.unescape(message.group(1)) if message else "",
                                   [html.unescape(h) for h in re.findall(r'<p class="hint">Hint \d: (.*?)</p>', chunk)],
                                   [html.unescape(r) for r in re.findall(r'<p class="reveal">(.*?)</p>', chunk)])
    return out


def test_editor_page_safety_headers_and_only_the_vendored_script(client):
    page = client.get("/")
    assert page.status_code == 200 and "<textarea name=\"equations\"" in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert re.findall(r"<script[^>]*>", page.text) == ['<script src="/static/serve.js" defer>']
    assert client.get("/static/serve.js").headers["content-type"].startswith("text/javascript")
    for path in ("/static/../app.py", "/static/%2e%2e%2fapp.py", "/static/app.py", "/static/serve.js.bak"):
        assert client.get(path).status_code == 404, path


def test_the_seeds_neuron_from_a_link_is_derived_with_mathml_and_its_diagram(client):
    page = client.get("/", params={"spec": SEED_SPEC}).text
    assert _error(page) is None
    assert "<h1>Backprop through one ReLU neuron</h1>" in page
    derivation = page.split('<article id="derivation">')[1].split("</article>")[0]
    assert derivation.count("<math") > 20 and "Backward pass" in derivation
    assert derivation.count('<figure class="diagram"><svg') == 1  # derive's own diagram, drawn once
    assert "<title>" not in derivation  # no node names such as nx->nz on hover
    # the page's link rebuilds the same example (no state on the server)
    link = html.unescape(re.search(r'<a href="([^"]+)" data-share>', page).group(1))
    assert client.get(link).text.split('<article id="derivation">')[1] == page.split('<article id="derivation">')[1]
    # the builder form gives the same derivation as the builder
    built = client.get("/", params={"build": "neuron", "x": "2", "w": "3", "b": "1", "y": "5", "lr": "0.1"}).text
    assert derive.neuron(x=2, w=3, b=1, y=5, lr="0.1").render("html", fragment=True) in built


def test_a_network_a_softmax_batch_and_an_uploaded_spec(client):
    net = client.post("/", data=NET).text
    assert _error(net) is None and "2-2-1 network" in net
    assert re.findall(r'data-key="([^"]+)"', net)[:3] == ["z1_1", "a1_1", "z1_2"]
    batch = client.post("/", data={"build": "spec", "spec": SOFTMAX_SPEC}).text
    assert _error(batch) is None and "Backward pass in matrix form" in batch
    assert "dL/dW1" in re.findall(r'data-key="([^"]+)"', batch)
    uploaded = (ROOT / "examples" / "softmax-three-classes.yaml").read_text(encoding="utf-8")
    page = client.post("/", data={"build": "spec", "spec": uploaded}).text
    assert _error(page) is None and "Softmax over three classes" in page
    # a homework spec: its first variant, asking the spec's keys
    homework = client.post("/", data={"spec": (ROOT / "examples" / "relu-homework.yaml").read_text()}).text
    assert re.findall(r'data-key="([^"]+)"', homework) == ["dL/dw", "dL/db", "w_new"]
    # equations typed in the editor
    typed = client.post("/", data={"build": "editor", "equations": "z = w*x + b\na = tanh(z)\nL = (a - y)**2",
                                   "values": "x = 1.5\nw: -0.5\nb = 2\ny = 0", "lr": "0.5"}).text
    assert _error(typed) is None and "tanh" in typed


def test_a_symbolic_example_is_derived_without_a_check_panel(client):
    page = client.get("/", params={"build": "neuron", "x": "", "w": "", "b": "", "y": "", "lr": ""}).text
    assert _error(page) is None and "Backward pass" in page
    assert 'class="step' not in page and "give every input a value to check answers" in page


def _cli_check(tmp_path, spec_text: str, answers: dict, capsys) -> dict:
    """``derive check SPEC ANSWERS``'s verdicts and hints: {key: (verdict, hint)}."""
    spec, given = tmp_path / "spec.yaml", tmp_path / "answers.yaml"
    spec.write_text(spec_text, encoding="utf-8")
    given.write_text(json.dumps(answers), encoding="utf-8")
    capsys.readouterr()
    with pytest.raises(SystemExit):
        main(["check", str(spec), str(given)])
    text = capsys.readouterr().out
    verdicts = dict(re.findall(r"^    (\S+)\s.*?(✓ correct|✗ incorrect|✓ carried forward|\? unreadable)\s*$",
                               text, re.M))
    hints, key = {}, None
    for line in text.split("\nHints\n-----\n")[1].splitlines() if "\nHints\n" in text else []:
        if line.startswith("* "):
            key, _, hint = line[2:].partition(": ")
            hints[key] = hint
        elif line.startswith("  ") and key:
            hints[key] += " " + line.strip()
    return {k: (v, hints.get(k, "")) for k, v in verdicts.items()}


STATUS = {"✓ correct": "correct", "✗ incorrect": "incorrect", "✓ carried forward": "carried", "? unreadable": "unreadable"}
ANSWER_SETS = [
    (SEED_SPEC, {"z": "7", "a": "6", "L": "1", "dL/da": "-4", "da/dz": "abc", "w_new": "3.8"}),
    (SEED_SPEC, {"z": "7.0", "a": "7", "L": "16", "dL/da": "4", "da/dz": "1", "dz/dw": "2", "dL/dw": "8.0", "w_new": "2.2"}),
    (SEED_SPEC, {"z": "7", "dL/dw": "2*(7 - 5)*2", "w_new": "3 - 0.1*8", "L": "1e999999999"}),
]


@pytest.mark.parametrize("case", range(len(ANSWER_SETS)))
def test_checking_gives_derive_checks_verdicts_and_hints(client, tmp_path, capsys, case):
    spec, answers = ANSWER_SETS[case]
    panel = client.post("/check", data={"spec": spec, **{f"answer:{k}": v for k, v in answers.items()}}).text
    page = _steps(panel)
    cli = _cli_check(tmp_path, spec, answers, capsys)
    assert set(cli) == set(answers)
    for key, (verdict, hint) in cli.items():
        status, message, _, _ = page[key]
        assert status == STATUS[verdict], (key, status, verdict)
        if status in ("carried", "unreadable") or (status == "incorrect" and not hint.startswith("the correct value")):
            if status == "unreadable":  # the mark says "cannot read it": the reason follows, once
                hint = hint.removeprefix("cannot read this answer: ")
            hint = work.server_words(hint)  # a limit is the server's, not one to raise with --limit
            assert " ".join(message.split()) == " ".join(hint.split()), key
        elif status == "incorrect":  # the value is not given away: it comes with Show
            assert message == ""
            shown = _steps(client.post("/check", data={"spec": spec, "show": key,
                                                        **{f"answer:{k}": v for k, v in answers.items()}}).text)
            assert " ".join(hint.split()) in [" ".join(r.split()) for r in shown[key][3]]
    for key, (status, message, hints, revealed) in page.items():  # steps not answered stay blank
        if key not in answers:
            assert (status, message, hints, revealed) == ("", "", [], [])


def test_network_and_matrix_checks_match_the_checker(client):
    ex = work.load(work.Source.from_form(NET)).example
    answers = {"z1_1": "0.1", "a1_1": "0.52", "z1_2": str(ex.value("z1_2")), "dL/dw1_1_1": "0.3"}
    page = _steps(client.post("/check", data={**NET, **{f"answer:{k}": v for k, v in answers.items()}}).text)
    report = ex.check(answers)
    for key in answers:
        assert page[key][0] == report.status(key), key
    batch = work.load(work.Source.from_form({"spec": SOFTMAX_SPEC})).example
    z1 = [[str(e) for e in row] for row in batch.tensor("z1").a]
    answers = {"z1": "[[" + "], [".join(", ".join(r) for r in z1) + "]]", "a1": "[[1, 2]]", "z2": "[[1"}
    page = _steps(client.post("/check", data={"spec": SOFTMAX_SPEC, **{f"answer:{k}": v for k, v in answers.items()}}).text)
    assert page["z1"][0] == "correct"
    assert page["a1"][0] in ("incorrect", "unreadable") and page["a1"][1]
    assert page["z2"][0] == "unreadable" and "cannot read" in page["z2"][1]


def test_hints_grow_on_request_and_show_gives_the_value(client):
    base = {"spec": SEED_SPEC, "answer:dL/dw": "5"}
    one = _steps(client.post("/check", data={**base, "hint": "dL/dw"}).text)["dL/dw"]
    assert one[2] == ["the chain rule: ∂L/∂w = ∂L/∂a · ∂a/∂z · ∂z/∂w"] and one[0] == "incorrect"
    two = _steps(client.post("/check", data={**base, "level:dL/dw": "1", "hint": "dL/dw"}).text)["dL/dw"]
    assert two[2][1] == "∂L/∂w = ∂L/∂a · ∂a/∂z · ∂z/∂w = 4 · 1 · 2"
    shown = _steps(client.post("/check", data={**base, "show": "dL/dw"}).text)["dL/dw"]
    assert shown[3][0] == "The value: ∂L/∂w = 8"


HOSTILE = [
    ({"build": "editor", "equations": "z = w*x\nL = z**2**2**2**2**2**2", "values": "w = 3\nx = 2"}, "max_exponent"),
    ({"build": "editor", "equations": "z = w*x\nL = z**2", "values": "w = 3\nx = " + "9" * 10 ** 6}, "max_file_bytes"),
    ({"build": "editor", "equations": "z = w*x\nL = z**2", "values": "w = 3\nx = " + "9" * 5000}, "max_digits"),
    ({"build": "editor", "equations": "L = " + "(" * 3000 + "x" + ")" * 3000, "values": "x = 1"}, "max_nesting"),
    ({"build": "editor", "equations": "z = exp(exp(exp(exp(w))))\nL = z", "values": "w = 10"}, "max_magnitude"),
    ({"build": "neuron", **work.BUILDER_FIELDS["neuron"], "x": "9" * 10 ** 6}, "has 1000000 digits, more than the limit max_digits"),
    ({"build": "chain", **work.BUILDER_FIELDS["chain"], "depth": "100000"}, "max_nodes"),
    ({"spec": "a: *x\n"}, "malformed YAML"),
    ({"build": "teleport"}, "unknown builder"),
    ({"spec": "equations: |\n  z = w*x\nvalues: {w: 1, x: 2}\nrandom: {w: {integers: [1, 2]}}\n" * 1}, ""),
]


@pytest.mark.parametrize("case", range(len(HOSTILE)))
def test_hostile_input_gets_one_line_within_the_budget_and_the_next_request_is_served(client, case):
    form, words = HOSTILE[case]
    page = client.post("/", data=form)
    message = _error(page.text)
    if words:
        assert message and message.startswith("derive: error:") and words in message, message
        assert "\n" not in message and "Traceback" not in page.text
    # within the budget: the message names the limit that refused the input (the server's own
    # deadline would have answered with its message instead); timing is bench/bench_serve.py's
    assert _error(client.get("/", params={"spec": SEED_SPEC}).text) is None


def test_bodies_are_size_limited_and_panels_report_errors_as_one_line(client):
    big = client.post("/", content=b"spec=" + b"x" * (web.MAX_BODY + 10),
                      headers={"content-type": "application/x-www-form-urlencoded"})
    assert big.status_code == 413 and "more than the server's limit" in _error(big.text)
    panel = client.post("/train", data={"spec": SEED_SPEC, "steps": "5000"}).text
    assert "steps: 5000 is outside 1 … 100" in _error(panel)
    panel = client.post("/check", data={"spec": "equations: |\n  L = frobnicate(x)\nvalues: {x: 1}\n"}).text
    assert "frobnicate" in _error(panel)
    assert client.post("/download", data={"spec": SEED_SPEC, "format": "../../etc/passwd"}).status_code == 422


def test_the_time_limit_stops_a_long_request_with_a_message():
    def forever():
        while True:
            pass
    result, error = web.guarded(forever, seconds=0.3)  # here the main thread: the timer can run
    assert result is None and "took more than 0.3 s" in error
    assert web.guarded(lambda: 1 + 1) == (2, None)
    assert web.one_line_error(RecursionError()) == "derive: error: the input is nested too deeply to process"


def test_training_shows_the_run_and_its_loss_plot(client):
    panel = client.post("/train", data={**NET, "steps": "3", "optimizer": "adam", "rate": "0.1"}).text
    assert _error(panel) is None and "3 updates of Adam" in panel
    assert re.search(r'<img src="data:image/png;base64,[A-Za-z0-9+/=]{1000,}"', panel)


@pytest.mark.parametrize("fmt", ["markdown", "latex", "ipynb", "pytorch", "html", "worksheet"])
def test_downloads(client, fmt):
    response = client.post("/download", data={"spec": SEED_SPEC, "format": fmt})
    assert response.status_code == 200, response.text[:300]
    name = re.search(r'filename="([^"]+)"', response.headers["content-disposition"]).group(1)
    ex = work.load(work.Source(spec=SEED_SPEC)).example
    assert name == ("backprop-through-one-relu-neuron-worksheet.html" if fmt == "worksheet"
                    else f"backprop-through-one-relu-neuron.{get_format(fmt).extension}")
    if fmt == "ipynb":
        assert json.loads(response.text)["nbformat"] == 4
    elif fmt == "pytorch":
        compile(response.text, name, "exec")
        assert response.text == ex.render("pytorch")
    elif fmt == "worksheet":
        assert response.text.count('class="step"') == 8
    else:
        assert response.text == ex.render(fmt)


def test_pdf_download(client, pdflatex):
    response = client.post("/download", data={"spec": SEED_SPEC, "format": "pdf"})
    assert response.status_code == 200 and response.content.startswith(b"%PDF")


def test_concurrent_requests_share_no_example_state():
    def derive_one(i):
        with TestClient(web.app) as c:
            w = str(i + 2)
            page = c.post("/check", data={"build": "neuron", "x": "2", "w": w, "b": "1", "y": "5", "lr": "0.1",
                                          "answer:z": str(2 * (i + 2) + 1)}).text
            return _steps(page)["z"][0]
    with ThreadPoolExecutor(6) as pool:
        assert list(pool.map(derive_one, range(12))) == ["correct"] * 12


def test_cli_serve_binds_to_this_computer_by_default():
    from derive.cli import cli
    options = {p.name: p for p in cli.commands["serve"].params}
    assert options["host"].default == "127.0.0.1" and options["port"].default == 8000


def test_cli_serve_refuses_a_bad_port_with_one_line(capsys):
    with pytest.raises(SystemExit) as e:
        main(["serve", "--port", "0"])
    assert e.value.code == 2 and "derive: error:" in capsys.readouterr().err


SOFTMAX = ("title: Softmax classifier\nequations: |\n  z = W @ x + b\n  p = softmax(z)\n  L = cross_entropy(p, y)\n"
           "values:\n  W: [[1, -2], [0.5, 1], [-1, 0.25]]\n  x: [2, -1]\n  b: [0, 0.5, -0.5]\n  y: [0, 0, 1]\nlr: 0.5\n")
BATCH = ("equations: |\n  Z = W @ X + b\n  P = softmax(Z)\n  L = cross_entropy(P, Y)\nvalues:\n"
         "  W: [[1, -1], [0.5, 0.5], [-1, 2]]\n  X: [[1, 0], [2, -1]]\n  b: [0.1, 0, -0.1]\n"
         "  Y: [[1, 0], [0, 0], [0, 1]]\nlr: 0.1\n")


@pytest.mark.parametrize("spec, loss", [(SOFTMAX, "6.781"), (SOFTMAX, "6.78088633"), (BATCH, "3.728")])
def test_a_matrix_examples_scalar_loss_typed_as_text_is_right(client, tmp_path, spec, loss):
    """The browser sends every answer as text: a scalar loss of a matrix example, as a string,
    is judged as the number (by derive check too, answers YAML with a quoted string)."""
    ex = work.load(work.Source(spec=spec)).example
    assert ex.check({"L": loss}).status("L") == "correct"
    assert ex.check({"L": loss + "9"}).status("L") in ("correct", "incorrect")  # read, not refused
    panel = client.post("/check", data={"spec": spec, "answer:L": loss}).text
    assert re.search(r'data-key="L"[^>]*class="step correct"|class="step correct"[^>]*data-key="L"', panel), panel[:2000]
    (tmp_path / "s.yaml").write_text(spec, encoding="utf-8")
    (tmp_path / "a.yaml").write_text(f'L: "{loss}"\n', encoding="utf-8")
    with pytest.raises(SystemExit) as done:
        main(["check", str(tmp_path / "s.yaml"), str(tmp_path / "a.yaml")])
    assert done.value.code == 0  # every answer right


@pytest.mark.parametrize("field, text, says", [
    ("steps", "1000000000", "steps: 1000000000 is outside 1 … 100"), ("steps", "-3", "steps: -3 is outside 1 … 100"),
    ("steps", "ten", "'ten' is not a whole number; give steps from 1 to 100")])
def test_training_steps_out_of_range_name_the_range(client, field, text, says):
    panel = client.post("/train", data={**NET, field: text}).text
    assert says in html.unescape(panel)


def test_the_pages_words_are_the_browsers(client):
    deep = client.get("/", params={"build": "chain", "depth": "1000000"}).text
    assert "depth: 1000000 is outside 1 … 2499" in html.unescape(deep)
    big = html.unescape(client.get("/", params={"build": "neuron", "x": "1e999999"}).text)
    assert "over this server's limit" in big and "--limit" not in big and "budget.configure" not in big
    bad = html.unescape(client.get("/", params={"spec": "equations: |\n  z = \n"}).text)
    assert "the spec: line 1" in bad and "spec.yaml" not in bad
    page = html.unescape(client.get("/", params={"build": "neuron"}).text)
    assert "command line's messages" not in page
    panel = html.unescape(client.post("/check", data={"build": "neuron", "answer:z": "<b>",
                                                      "answer:a": "1e999999"}).text)
    assert "cannot read it" in panel and "cannot read this answer" not in panel
    assert "✗ not graded" in panel and "not right yet" not in panel and "--limit" not in panel


def test_a_random_specs_instructions_and_variant_are_on_the_page_and_worksheets(client, tmp_path):
    spec = ("title: A random neuron\ninstructions: Compute the forward pass first.\nequations: |\n"
            "  z = w*x + b\n  L = z**2\nvalues: {b: 1}\nrandom:\n  x: {integers: [1, 3]}\n"
            "  w: {integers: [-3, -1]}\nlr: 0.5\nask: [\"z\", \"w_new\"]\n")
    page = html.unescape(client.get("/", params={"spec": spec}).text)
    assert "Compute the forward pass first." in page and "variant 1 of the spec's random problem" in page
    sheet = html.unescape(client.post("/download", data={"spec": spec, "format": "worksheet"}).text)
    assert "Compute the forward pass first." in sheet and "variant 1" in sheet
    (tmp_path / "hw.yaml").write_text(spec, encoding="utf-8")
    main(["homework", str(tmp_path / "hw.yaml"), "--variants", "2", "--out", str(tmp_path / "hw"),
          "--format", "worksheet"])
    first = sorted((tmp_path / "hw").glob("worksheet-*.html"))
    texts = [html.unescape(p.read_text(encoding="utf-8")) for p in first]
    assert all("Compute the forward pass first." in t for t in texts)
    assert sorted(re.search(r"<h1>(.*)</h1>", t).group(1) for t in texts) == [
        "A random neuron, variant 1", "A random neuron, variant 2"]
    assert all(f"Variant id {p.stem.removeprefix('worksheet-')}" in t for p, t in zip(first, texts))

"""``derive serve`` in a real browser: headless Chromium driven by Selenium through Debian's
chromedriver, against the real command (uvicorn on a free local port). A student types equations
and sees the derivation appear, types wrong and right answers and reads the verdicts and hints,
uploads a spec, trains, downloads; hostile input gets the CLI's one-line message and the server
answers the next request; a script in a title, a name or an answer never runs. Screenshots at
1280 px and 400 px (set DERIVE_SCREENS=folder to keep them and look at them)."""
from __future__ import annotations

import html
from pathlib import Path
from urllib.parse import urlencode

import pytest

SEED_SPEC = """title: Backprop through one ReLU neuron
equations: |
  z = w*x + b
  a = relu(z)
  L = (a - y)**2
values: {x: 2, w: 3, b: 1, y: 5}
lr: 0.1
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    from tests.webdriver import chrome, server
    downloads = tmp_path_factory.mktemp("downloads")
    with server() as url:
        driver = chrome(downloads=downloads)
        driver.downloads = downloads
        try:
            yield driver, url
        finally:
            driver.quit()


def _wait(driver, condition, seconds: float = 60):
    from selenium.webdriver.support.ui import WebDriverWait
    return WebDriverWait(driver, seconds, poll_frequency=0.1).until(condition)


def _css(driver, selector):
    from selenium.webdriver.common.by import By
    return driver.find_element(By.CSS_SELECTOR, selector)


def _text_appears(driver, selector, text, seconds=60):
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException

    def found(d):
        try:
            return text in _css(d, selector).text
        except (NoSuchElementException, StaleElementReferenceException):
            return False
    _wait(driver, found, seconds)
    return _css(driver, selector).text


def _pwned(driver) -> bool:
    return driver.execute_script("return window.pwned !== undefined")


def test_typed_equations_derive_live_and_the_link_shares_them(site, tmp_path):
    from tests.webdriver import console_errors, screenshot
    driver, url = site
    driver.get(url + "/")
    _css(driver, "textarea[name=equations]").send_keys("z = w*x + b\na = sigmoid(z)\nL = (a - y)**2")
    _css(driver, "textarea[name=values]").send_keys("x = 2\nw = 3\nb = 1\ny = 5")  # no button pressed
    text = _text_appears(driver, "#derivation", "Backward pass")
    assert "σ" in text and driver.find_elements("css selector", "#derivation math")
    _wait(driver, lambda d: "?spec=" in d.current_url)  # the address now holds the example
    shared = driver.current_url
    driver.get("about:blank")
    driver.get(shared)
    assert "Backward pass" in _css(driver, "#derivation").text
    assert console_errors(driver) == []
    for width in (1280, 400):
        assert screenshot(driver, tmp_path / f"serve-derive-{width}.png", width).stat().st_size > 10_000
    driver.set_window_size(1280, 900)


def _answer(driver, key: str, text: str, button: str = "check") -> str:
    """Type ``text`` into the box of ``key``, press a button of the check panel, wait for the
    panel to come back; the step's verdict."""
    before = _css(driver, "#check form")  # replaced when the answer comes back (Enter may send it at once)
    step = _css(driver, f'.step[data-key="{key}"]')
    box = step.find_element("css selector", "input[name^='answer:']")
    box.clear()
    box.send_keys(text)
    if button == "check":
        _css(driver, "#check .actions button[name=check]").click()
    elif button == "enter":
        pass  # the text ends with a newline: Enter in the box
    else:
        step.find_element("css selector", f"button[name={button}]").click()
    from selenium.common.exceptions import StaleElementReferenceException

    def replaced(d):
        try:
            before.is_displayed()
            return False
        except StaleElementReferenceException:
            return True
    _wait(driver, replaced)
    return _css(driver, f'.step[data-key="{key}"] .verdict').text


def test_check_the_seed_neuron_wrong_then_right_with_growing_hints(site, tmp_path):
    from tests.webdriver import console_errors, screenshot
    driver, url = site
    driver.get(url + "/?" + urlencode({"spec": SEED_SPEC}))
    assert "Backward pass" in _css(driver, "#derivation").text
    keys = [e.get_attribute("data-key") for e in driver.find_elements("css selector", ".step")]
    assert keys == ["z", "a", "L", "dL/da", "da/dz", "dz/dw", "dL/dw", "w_new"]
    assert "not right yet" in _answer(driver, "z", "6")
    assert "Hint 1: the forward pass: z = wx + b" in _answer(driver, "z", "6", "hint")
    hinted = _answer(driver, "z", "6", "hint")
    assert "Hint 2: z = wx + b = 3 · 2 + 1" in hinted and "Hint 1:" in hinted
    assert "Hint" not in _answer(driver, "a", "5\n", "enter")  # Enter checks: it asks no hint
    assert "✓ correct" in _answer(driver, "z", "7\n", "enter")  # Enter checks (it asks no hint)
    assert "sign error in (a − y)" in _answer(driver, "dL/da", "-4")
    # a wrong a = 6, then L = 1 from it: carried forward
    _answer(driver, "a", "6")
    carried = _answer(driver, "L", "1")
    assert "✓ carried forward" in carried and "right given your a" in carried
    shown = _answer(driver, "dL/dw", "", "show")
    assert "The value: ∂L/∂w = 8" in shown
    assert "✓ correct" in _answer(driver, "w_new", "2.2")
    assert "earn credit" in _css(driver, ".summary").text
    assert console_errors(driver) == []
    for width in (1280, 400):
        screenshot(driver, tmp_path / f"serve-check-{width}.png", width)
    driver.set_window_size(1280, 900)


def test_matrix_check_on_a_softmax_batch(site):
    import derive
    driver, url = site
    query = {"build": "mlp", "inputs": "[[1, 2], [0, 1], [2, -1]]",
             "weights": "[[[0.1, 0.2], [0.3, -0.4]], [[0.5, -0.6], [0.2, 0.1], [0.3, 0.3]]]",
             "biases": "[[0.1, 0.1], [0.2, 0, 0]]", "targets": "[0, 2, 1]", "activation": "[relu, softmax]",
             "loss": "cross_entropy", "lr": "0.5"}
    driver.get(url + "/?" + urlencode(query))
    assert "Backward pass in matrix form" in _css(driver, "#derivation").text
    ex = derive.mlp([[1, 2], [0, 1], [2, -1]], [[[0.1, 0.2], [0.3, -0.4]], [[0.5, -0.6], [0.2, 0.1], [0.3, 0.3]]],
                    [[0.1, 0.1], [0.2, 0, 0]], [0, 2, 1], activation=["relu", "softmax"], loss="cross_entropy")
    rows = [[str(e) for e in row] for row in ex.tensor("z1").a]
    assert "✓ correct" in _answer(driver, "z1", "[" + "; ".join(", ".join(r) for r in rows) + "]")
    transposed = "[" + "; ".join(", ".join(c) for c in zip(*rows)) + "]"
    verdict = _answer(driver, "z1", transposed)
    assert "✓" not in verdict and verdict


def test_spec_upload_builders_and_training(site, tmp_path):
    driver, url = site
    spec = tmp_path / "batch.yaml"
    spec.write_text((Path(__file__).resolve().parent.parent / "examples" / "batch-mean-loss.yaml").read_text())
    driver.get(url + "/")
    _css(driver, "[data-tab=spec]").click()
    _css(driver, "#tab-spec input[type=file]").send_keys(str(spec))
    assert "A batch of three examples" in _text_appears(driver, "#result h1", "A batch")
    # the 2-2-1 network from the builder's defaults
    _css(driver, "[data-tab=mlp]").click()
    _css(driver, "#tab-mlp button[type=submit]").click()
    _text_appears(driver, "#result h1", "2-2-1 network")
    _css(driver, "form.train input[name=steps]").clear()
    _css(driver, "form.train input[name=steps]").send_keys("5")
    _css(driver, "form.train button").click()
    _wait(driver, lambda d: d.find_elements("css selector", "#training img"))
    image = _css(driver, "#training img")
    assert image.get_attribute("src").startswith("data:image/png") and image.size["width"] > 200
    assert "5 updates of SGD" in _css(driver, "#training").text


def test_downloads_in_every_format(site):
    driver, url = site
    driver.get(url + "/?" + urlencode({"spec": SEED_SPEC}))
    # (the PyTorch script is fetched in test_serve.py: Chromium holds back a downloaded .py for the
    # user to confirm, as it does any script)
    for label, name, start in (("Markdown", "backprop-through-one-relu-neuron.md", b"# Backprop"),
                               ("LaTeX", "backprop-through-one-relu-neuron.tex", b"\\documentclass"),
                               ("Notebook", "backprop-through-one-relu-neuron.ipynb", b"{"),
                               ("Worksheet", "backprop-through-one-relu-neuron-worksheet.html", b"<!DOCTYPE html>")):
        driver.find_element("xpath", f"//form[@class='downloads']/button[text()='{label}']").click()
        path = driver.downloads / name
        _wait(driver, lambda d: path.exists() and path.stat().st_size > 0)
        assert path.read_bytes().startswith(start)
        path.unlink()


HOSTILE = {
    "a power tower": ("z = w*x\nL = z**2**2**2**2**2**2", "w = 3\nx = 2", "max_exponent"),
    "a 10⁶-digit literal": ("z = w*x\nL = z**2", "w = 3\nx = " + "7" * 10 ** 6, "max_file_bytes"),
    "nesting": ("L = " + "(" * 5000 + "x" + ")" * 5000, "x = 1", "max_nesting"),
    "an unknown function": ("z = w*x\nL = frobnicate(z)", "w = 3\nx = 2", "frobnicate"),
}


@pytest.mark.parametrize("case", HOSTILE)
def test_hostile_input_gets_the_one_line_message_and_the_server_goes_on(site, case):
    driver, url = site
    equations, values, words = HOSTILE[case]
    driver.get(url + "/")
    # a megabyte is set, not typed (typing it would take minutes)
    driver.execute_script("arguments[0].value = arguments[1]; arguments[2].value = arguments[3];",
                          _css(driver, "textarea[name=equations]"), equations,
                          _css(driver, "textarea[name=values]"), values)
    _css(driver, "#tab-editor button[type=submit]").click()
    # within the budget: the message names the limit that refused it (a wait, not a timing)
    message = _text_appears(driver, "#result .error", "derive: error:", 60)
    assert words in message and "Traceback" not in driver.page_source and "\n" not in message
    driver.get(url + "/?" + urlencode({"spec": SEED_SPEC}))  # the next request is served
    assert "Backward pass" in _css(driver, "#derivation").text


def test_a_million_digit_literal_in_a_builder_field(site):
    driver, url = site
    driver.get(url + "/")
    _css(driver, "[data-tab=neuron]").click()
    driver.execute_script("arguments[0].value = arguments[1]", _css(driver, "#tab-neuron input[name=x]"), "9" * 10 ** 6)
    _css(driver, "#tab-neuron button[type=submit]").click()
    message = _text_appears(driver, "#result .error", "derive: error:")
    assert "has 1000000 digits, more than the limit max_digits = 4000" in message
    driver.get(url + "/?" + urlencode({"build": "neuron", "x": "2", "w": "3", "b": "1", "y": "5"}))
    assert "Backward pass" in _css(driver, "#derivation").text


def test_a_script_in_a_title_name_or_answer_never_runs(site):
    driver, url = site
    attack = '<script>window.pwned = 1</script><img src=x onerror="window.pwned = 2">'
    driver.get(url + "/?" + urlencode({"spec": "title: '" + attack + "'\n" + SEED_SPEC.split("\n", 1)[1]}))
    assert attack in _css(driver, "#result h1").text and not _pwned(driver)
    # a name: the parser refuses it, and the message quotes it as text
    driver.get(url + "/")
    _css(driver, "textarea[name=equations]").send_keys("z = w*x\nL = <script>window.pwned=3</script>")
    _css(driver, "textarea[name=values]").send_keys("w = 3\nx = 2")
    _css(driver, "#tab-editor button[type=submit]").click()
    assert "derive: error:" in _text_appears(driver, "#result .error", "derive: error:")
    assert not _pwned(driver)
    driver.get(url + "/?" + urlencode({"spec": SEED_SPEC}))
    verdict = _answer(driver, "z", attack)
    assert "cannot read" in verdict and not _pwned(driver)
    assert driver.find_elements("css selector", "#check img") == []


def test_a_link_too_long_is_answered_with_a_message(site):
    """A 5 MB ``GET /?spec=`` (past the server's limit): a 414 page that says so, not a reset."""
    import urllib.error
    import urllib.request
    _, url = site
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(url + "/?spec=" + "x" * 5_000_000, timeout=60)
    assert refused.value.code == 414
    page = refused.value.read().decode("utf-8")
    assert "the link is 5000005 bytes, more than the server's limit" in html.unescape(page)
    with urllib.request.urlopen(url + "/health", timeout=10) as r:
        assert r.read() == b"ok"


def test_the_diagram_keeps_its_natural_size_and_scrolls_on_a_narrow_screen(site, tmp_path):
    from tests.webdriver import screenshot
    driver, url = site
    driver.get(url + "/?build=mlp")
    for width in (1280, 400):
        driver.set_window_size(width, 900)
        figure = driver.find_element("css selector", "#derivation figure.diagram")
        drawn, natural, view, scroll = driver.execute_script(
            "var f = arguments[0], s = f.querySelector('svg');"
            "return [s.getBoundingClientRect().width, Number(s.getAttribute('width')), f.clientWidth, f.scrollWidth]",
            figure)
        assert abs(drawn - natural) < 1, (width, drawn, natural)  # never shrunk to a thumbnail
        assert (scroll > view) == (natural > view)  # it scrolls sideways only when wider than the screen
        shot = screenshot(driver, tmp_path / f"diagram-{width}.png", width)
        assert shot.stat().st_size > 5_000
    driver.set_window_size(1280, 900)

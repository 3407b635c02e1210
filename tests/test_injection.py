"""Issue 27, injection: every user string, in every format it lands in, against a list of
payloads. A payload survives when the output carries it as markup of that format (a GIFT question
of its own, a link, a TeX command, an XML element) or as a raw control character on the terminal.
One table: fields × formats × payloads; each cell is checked by the format's own rule."""
import io
import json
import re
import zipfile
import xml.etree.ElementTree as ET

import pytest

from derive.cli import main
from derive.core.escape import one_line, safe_url, visible, xml_text

PAYLOADS = {
    "osc-title": "\x1b]0;pwned\x07\x1b[2J",
    "nul": "a\x00b",
    "c1-csi": "\x9b31mred\r",
    "bidi": "abc\u202eevil",
    "gift-question": "Week 5\n\n::Injected::What is 1? {=1}\n\n$CATEGORY: $course$/top/evil\n",
    "gift-specials": "{=1}#~:=//",
    "md-link": "[click](javascript:alert(1))",
    "md-autolink": "<javascript:alert(1)>",
    "html": "<script>alert(1)</script><img src=x onerror=alert(1)>",
    "xml-attr": "\"><evil x=\"1",
    "cdata": "]]><evil/>",
    "tex-input": "\\input{/etc/passwd}",
    "tex-write18": "\\immediate\\write18{touch /tmp/derive-pwned}",
    "tex-caret": "^^5cinput{/etc/passwd} $x$ % comment",
}

RAW_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def no_raw_controls(text: str) -> None:
    found = RAW_CONTROL.findall(text)
    assert not found, f"raw control characters {found!r} in the output"


def _markup_free(text: str, name: str) -> None:
    """Markdown / HTML / TeX / XML markup from a payload never appears as markup."""
    if name == "markdown":
        assert "](javascript:" not in text.replace("\\](", "")
        assert not re.search(r"(?<!\\)<(javascript:|script)", text)
    if name == "html":
        assert "<script" not in text and "<img src=x" not in text and "<evil" not in text
        for href in re.findall(r'(?:href|src)="([^"]*)"', text):
            assert safe_url(href), href
    if name == "latex":
        assert "\\input{" not in text and "\\write18" not in text and "^^5c" not in text


def check_gift(text: str, questions: int) -> None:
    """One question per record, records separated by blank lines, one category line."""
    records = [r for r in re.split(r"\n\s*\n", text) if r.strip() and not r.lstrip().startswith(("//", "$CATEGORY"))]
    assert len(records) == questions, records
    assert sum(line.startswith("$CATEGORY:") for line in text.splitlines()) == 1
    assert all(line.startswith(("//", "$CATEGORY:", "::")) or not line for line in text.splitlines())
    no_raw_controls(text)


def check_xml(text: str, questions: int, tag: str) -> ET.Element:
    root = ET.fromstring(text)  # well-formed: a payload did not close an element or attribute
    assert len([e for e in root.iter() if e.tag.endswith(tag)]) == questions
    assert not [e for e in root.iter() if e.tag.endswith("evil")]
    no_raw_controls(text)
    return root


# --- the helpers themselves -----------------------------------------------------------------------


@pytest.mark.parametrize("payload", PAYLOADS.values(), ids=PAYLOADS.keys())
def test_helpers_leave_no_control_character(payload):
    no_raw_controls(visible(payload).replace("\n", "").replace("\t", ""))
    assert "\n" not in one_line(payload) and not RAW_CONTROL.search(one_line(payload))
    from xml.sax.saxutils import escape
    ET.fromstring(f"<a>{escape(xml_text(payload))}</a>")


def test_link_targets():
    for bad in ["javascript:alert(1)", " JAVASCRIPT:x", "java\tscript:x", "data:text/html,x", "vbscript:x"]:
        assert not safe_url(bad)
    for good in ["https://x.org", "http://x", "mailto:a@b", "plot.png", "#sec"]:
        assert safe_url(good)


# --- fields × formats -------------------------------------------------------------------------------

SPEC = """title: {title}
equations: |
  z = w*x + b
  L = (z - y)**2
values: {{x: 2, y: 5}}
random:
  w: {{integers: [1, 4]}}
  b: {{choice: [0, 1]}}
ask: [dL/dw, dL/db]
"""


def _spec(tmp_path, title, random=True):
    text = SPEC.format(title=json.dumps(title))
    if not random:
        text = text.replace("values: {x: 2, y: 5}", "values: {x: 2, y: 5, w: 3, b: 1}").split("random:")[0] + "ask: [dL/dw]\n"
    path = tmp_path / "spec.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _cli(args, capsys):
    with pytest.raises(SystemExit) as info:
        main(args)
    captured = capsys.readouterr()
    return info.value.code, captured.out, captured.err


def _cli_ok(args, capsys):
    try:
        main(args)
        code = 0
    except SystemExit as e:
        code = e.code
    captured = capsys.readouterr()
    assert code in (0, 1, None), captured.err
    return captured.out, captured.err


@pytest.mark.parametrize("payload", PAYLOADS.values(), ids=PAYLOADS.keys())
@pytest.mark.parametrize("fmt", ["text", "md", "tex", "html", "ipynb"])
def test_title_in_rendered_documents(tmp_path, capsys, payload, fmt):
    spec = _spec(tmp_path, payload, random=False)
    out, _ = _cli_ok(["render", str(spec), "--format", fmt], capsys)
    if fmt == "ipynb":
        cells = json.loads(out)["cells"]
        for cell in cells:
            text = "".join(cell["source"])
            if cell["cell_type"] == "markdown":
                _markup_free(text, "markdown")
            no_raw_controls(text.replace("\n", ""))
        return
    name = {"md": "markdown", "tex": "latex"}.get(fmt, fmt)
    no_raw_controls(out.replace("\n", "").replace("\t", ""))
    _markup_free(out, name)


@pytest.mark.parametrize("payload", PAYLOADS.values(), ids=PAYLOADS.keys())
def test_title_in_lms_exports(tmp_path, capsys, payload):
    spec = _spec(tmp_path, payload)
    out = tmp_path / "hw"
    _cli_ok(["homework", str(spec), "--variants", "2", "--seed", "1", "--out", str(out),
             "--format", "gift,moodle,qti", "--jobs", "1"], capsys)
    check_gift((out / "questions.gift").read_text(encoding="utf-8"), questions=4)  # 2 variants × 2 asks
    root = check_xml((out / "moodle.xml").read_text(encoding="utf-8"), questions=3, tag="question")
    category = next(e for e in root.iter("category")).find("text").text
    assert "\n" not in category and category.startswith("$course$/top/")
    assert "/" not in category[len("$course$/top/"):].replace("//", "")  # one category, no subcategory
    with zipfile.ZipFile(out / "qti.zip") as z:
        for name in z.namelist():
            text = z.read(name).decode("utf-8")
            if name != "imsmanifest.xml":
                check_xml(text, questions=4, tag="item")
            else:
                ET.fromstring(text)


@pytest.mark.parametrize("payload", PAYLOADS.values(), ids=PAYLOADS.keys())
@pytest.mark.parametrize("fmt", ["text", "md", "html"])
@pytest.mark.parametrize("field", ["key", "value"])
def test_answers_in_check_reports(tmp_path, capsys, payload, fmt, field):
    spec = _spec(tmp_path, "Check", random=False)
    answers = {"z": 7, (f"dL/dw{payload}" if field == "key" else "dL/dw"): (payload if field == "value" else 8)}
    path = tmp_path / "answers.yaml"
    path.write_text(json.dumps(answers), encoding="utf-8")
    out, err = _cli_ok(["check", str(spec), str(path), "--format", fmt], capsys)
    no_raw_controls((out + err).replace("\n", "").replace("\t", ""))
    _markup_free(out, {"md": "markdown"}.get(fmt, fmt))


@pytest.mark.parametrize("payload", PAYLOADS.values(), ids=PAYLOADS.keys())
def test_answers_in_the_tutor_transcript(tmp_path, capsys, monkeypatch, payload):
    spec = _spec(tmp_path, "Tutor", random=False)
    monkeypatch.setattr("sys.stdin", io.StringIO(payload.replace("\n", " ") + "\n7\n?\n"))
    out, err = _cli_ok(["check", str(spec), "--interactive"], capsys)
    assert out.strip()
    no_raw_controls((out + err).replace("\n", "").replace("\t", ""))


@pytest.mark.parametrize("payload", PAYLOADS.values(), ids=PAYLOADS.keys())
def test_equations_in_error_messages(tmp_path, capsys, payload):
    path = tmp_path / "spec.yaml"
    path.write_text(json.dumps({"equations": f"z = w*x + {payload}", "values": {"w": 1, "x": 2}}),
                    encoding="utf-8")
    code, out, err = _cli(["render", str(path), "--format", "text"], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    no_raw_controls(err.replace("\n", ""))


def test_parse_errors_from_the_api_spell_controls():
    from derive import Example, ParseError
    with pytest.raises(ParseError) as info:
        Example.from_equations("z = x\x1b[2J + \x00", values={"x": 1})
    assert "\\x1b" in str(info.value) and "\x1b" not in str(info.value)


def test_pdflatex_runs_paranoid(monkeypatch):
    import subprocess
    from derive.io import files
    seen = {}

    def fake(args, cwd, env, **kw):
        seen["args"], seen["env"] = args, env
        (files.Path(cwd) / "doc.pdf").write_bytes(b"%PDF")
        return subprocess.CompletedProcess(args, 0, stdout="", stderr="")
    monkeypatch.setattr(files, "pdflatex_available", lambda: True)
    monkeypatch.setattr(files.subprocess, "run", fake)
    files.compile_pdf("\\documentclass{article}\\begin{document}x\\end{document}")
    assert "-no-shell-escape" in seen["args"]
    assert seen["env"]["openin_any"] == "p" and seen["env"]["openout_any"] == "p"

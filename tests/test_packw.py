"""QA round (packw): the worksheet page speaks only to students; a course pack's notebook shows
numbers; shared definitions are stated once and named where they are pointed back to; the
handout's formats; the HTML pack's contents link to its sections."""
from __future__ import annotations

import re

from derive.cli import main
from tests.test_words import words_about_the_tool

HW = """title: A tanh neuron with half squared error
instructions: Do the forward pass, the backward pass and one update.
equations: |
  z = w*x + b
  a = tanh(z)
  L = half_squared_error(a, y)
values: {y: 0.5}
random:
  x: {integers: [-3, 3], exclude: [0]}
  w: {uniform: [-1, 1], decimals: 1}
  b: {choice: [-0.5, 0, 0.5]}
lr: 0.2
ask: ["dL/dw", "dL/db", "w_new"]
"""


def _visible(page: str) -> str:
    """The words a student sees: no comments, scripts, styles or tags."""
    page = re.sub(r"<!--.*?-->", " ", page, flags=re.S)
    page = re.sub(r"<(script|style|head)\b.*?</\1>", " ", page, flags=re.S | re.I)
    return re.sub(r"<[^>]+>", " ", page)


def test_worksheet_page_body_has_no_words_about_the_tool(tmp_path):
    out = tmp_path / "neuron.html"
    main(["neuron", "--x", "2", "--w", "3", "--b", "1", "--y", "5", "--activation", "relu",
          "--lr", "0.1", "--format", "worksheet", "-o", str(out)])
    page = out.read_text(encoding="utf-8")
    body = _visible(page)
    assert words_about_the_tool(body) == []
    for said in ("scrambled", "answers are inside", "--format", "moodle", "LMS"):
        assert said not in body
    # the lecturer's remark is kept, as a comment only
    comment = re.search(r"<!--(.*?)-->", page, flags=re.S).group(1)
    assert "scrambled but not encrypted" in comment and "--" not in comment
    assert "Your answers" in body and "dL/dw" not in words_about_the_tool(body)


def test_homework_worksheets_have_no_words_about_the_tool(tmp_path):
    spec = tmp_path / "hw.yaml"
    spec.write_text(HW, encoding="utf-8")
    out = tmp_path / "hw"
    main(["homework", str(spec), "--format", "worksheet", "--out", str(out), "--variants", "2"])
    pages = sorted(out.rglob("worksheet-*.html"))
    assert len(pages) == 2
    for p in pages:
        body = _visible(p.read_text(encoding="utf-8"))
        assert words_about_the_tool(body) == [] and "scrambled" not in body
        assert "A tanh neuron with half squared error" in body

"""Learning-platform exports of a homework set: Moodle XML, QTI 1.2 (Canvas Classic Quizzes,
Blackboard) and GIFT. The courseware layer turns variants into ``Question``s (HTML with
MathJax-compatible TeX, one numeric ``Part`` per asked step with its tolerance, and the worked
solution as feedback); this module only writes the formats.

QTI is written here rather than with text2qti: text2qti reads its own quiz text format, turns
LaTeX into images through a Canvas server (or pandoc), and cannot carry a per-answer tolerance
interval or HTML feedback as we have it — our items are a few lines of XML, deterministic, and
checked by the tests (well-formed, manifest present, intervals right).
"""
from __future__ import annotations

import io
import math
import re
import zipfile
from dataclasses import dataclass, field
from xml.sax.saxutils import escape as _xml_escape
from xml.sax.saxutils import quoteattr as _xml_quoteattr

from ..core.errors import InvalidValue
from ..core.escape import one_line, xml_text


def escape(text: str) -> str:
    """XML character data: markup escaped, and control characters XML cannot carry spelled out."""
    return _xml_escape(xml_text(text))


def quoteattr(text: str) -> str:
    """An XML attribute value, quoted (line breaks become character references)."""
    return _xml_quoteattr(xml_text(text))


def category_path(title: str) -> str:
    """A course title as one Moodle category below ``$course$/top``: on one line, with its
    slashes doubled (Moodle reads a single ``/`` as a subcategory).

    >>> category_path("Week 5 / nets\\n\\n::Q::{=1}")
    '$course$/top/Week 5 // nets ::Q::{=1}'
    """
    return "$course$/top/" + one_line(title).replace("/", "//")


@dataclass(frozen=True)
class Part:
    key: str  # the ask key (dL/dw)
    label: str  # HTML (TeX inside \( \)) shown before the answer box
    value: float
    tolerance: float  # accepted |answer − value|


@dataclass
class Question:
    ident: str  # a variant id
    name: str
    text: str  # HTML: the problem statement
    parts: list = field(default_factory=list)
    feedback: str = ""  # HTML: the worked solution

    def __post_init__(self):
        # An LMS stores a numeric answer as a double: a value beyond its range would be written
        # as "inf" and every student's answer marked wrong, so the export is refused instead.
        for p in self.parts:
            for what, x in (("value", p.value), ("tolerance", p.tolerance)):
                if not math.isfinite(x):
                    raise InvalidValue(
                        f"variant {self.ident}: the {what} of {p.key} is beyond the range of an LMS "
                        f"numeric answer (a double, up to about 1.8e308); choose smaller numbers in "
                        f"the spec, or leave {p.key} out of ask")


def number(x: float) -> str:
    """A float as every platform reads it back exactly (shortest round-trip form).

    >>> number(0.1), number(2.0), number(-1.5e-07)
    ('0.1', '2', '-1.5e-07')
    """
    text = repr(float(x))
    return text[:-2] if text.endswith(".0") else text


def _cdata(html: str) -> str:
    return "<![CDATA[" + xml_text(html).replace("]]>", "]]]]><![CDATA[>") + "]]>"


# --- Moodle XML ---------------------------------------------------------------------------

CLOZE = re.compile(r"\{(\d+):(NUMERICAL|NM):=([^:}]+):([^}#]+)\}")


def moodle_xml(category: str, questions: list[Question]) -> str:
    """A Moodle XML quiz: the category first, then one multi-part cloze question per variant
    (``{1:NUMERICAL:=value:tolerance}`` per asked step) with the worked solution as general
    feedback."""
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', "<quiz>",
             '  <question type="category">',
             f"    <category><text>{escape(category_path(category))}</text></category>",
             "  </question>"]
    for q in questions:
        parts = "".join(f"<p>{p.label} = {{1:NUMERICAL:={number(p.value)}:{number(p.tolerance)}}}</p>"
                        for p in q.parts)
        lines += ['  <question type="cloze">',
                  f"    <name><text>{escape(one_line(q.name))}</text></name>",
                  f'    <questiontext format="html"><text>{_cdata(q.text + parts)}</text></questiontext>',
                  f'    <generalfeedback format="html"><text>{_cdata(q.feedback)}</text></generalfeedback>',
                  "    <penalty>0.3333333</penalty>",
                  "    <hidden>0</hidden>",
                  f"    <idnumber>{escape(q.ident)}</idnumber>",
                  "  </question>"]
    lines.append("</quiz>")
    return "\n".join(lines) + "\n"


# --- GIFT ---------------------------------------------------------------------------------

def gift_escape(text: str) -> str:
    r"""GIFT's special characters escaped (a backslash first, so TeX survives).

    >>> gift_escape(r"\frac{a}{b} = 1")
    '\\\\frac\\{a\\}\\{b\\} \\= 1'
    """
    text = xml_text(text).replace("\\", "\\\\")  # spelled controls' backslashes escaped too
    # every line break is a space: a blank line would end the question (and start another)
    return re.sub(r"([~=#{}:])", r"\\\1", re.sub("[\r\n\u2028\u2029]", " ", text))


def gift(category: str, questions: list[Question]) -> str:
    """GIFT: one numerical question per asked step (GIFT has no multi-part questions), named
    after the variant and the step; the solution as general feedback (``####``)."""
    out = [f"// {gift_escape(one_line(category))}: exported by derive",
           f"$CATEGORY: {category_path(category)}", ""]
    for q in questions:
        for p in q.parts:
            name = gift_escape(one_line(f"{q.name} — {p.key}"))
            text = gift_escape(f"{q.text}<p>{p.label} = ?</p>")
            out.append(f"::{name}::[html]{text}{{#{number(p.value)}:{number(p.tolerance)}"
                       f"####{gift_escape(q.feedback)}}}")
            out.append("")
    return "\n".join(out)


# --- QTI 1.2 ------------------------------------------------------------------------------

def _field(label: str, entry: str) -> str:
    return (f"<qtimetadatafield><fieldlabel>{label}</fieldlabel>"
            f"<fieldentry>{escape(entry)}</fieldentry></qtimetadatafield>")


def asked_groups(parts: list) -> list[tuple[str, list]]:
    """The parts grouped by the asked key they are entries of (``dL/dW[1,2]`` → ``dL/dW``), in
    order: one question per asked matrix, not one per entry (each repeating the problem).

    >>> [(k, len(g)) for k, g in asked_groups([Part("a[1]", "", 1, 0), Part("a[2]", "", 2, 0), Part("b", "", 3, 0)])]
    [('a', 2), ('b', 1)]
    """
    groups: dict = {}
    for p in parts:
        groups.setdefault(re.sub(r"\[\d+(?:,\d+)?\]$", "", p.key), []).append(p)
    return list(groups.items())


def _interval(respident: str, part: Part) -> str:
    lo, hi = part.value - part.tolerance, part.value + part.tolerance
    return (f'<or><varequal respident="{respident}">{number(part.value)}</varequal>'
            f'<and><vargte respident="{respident}">{number(lo)}</vargte>'
            f'<varlte respident="{respident}">{number(hi)}</varlte></and></or>')


def _item(ident: str, title: str, text: str, parts: list, feedback: str) -> str:
    """One numerical item with a decimal fill-in per part (a matrix's entries); the tests of a
    QTI 1.2 ``conditionvar`` are ANDed, so the score is 100 when every entry is in its interval."""
    fields = [f'<material><mattext texttype="text/html">{escape(f"<p>{p.label} = ?</p>")}</mattext></material>'
              f'<response_str ident="response{i}" rcardinality="Single"><render_fib fibtype="Decimal">'
              f'<response_label ident="answer{i}"/></render_fib></response_str>'
              for i, p in enumerate(parts, 1)]
    return "\n".join([
        f"<item ident={quoteattr(ident)} title={quoteattr(title)}>",
        "<itemmetadata><qtimetadata>" + _field("question_type", "numerical_question")
        + _field("points_possible", "1.0") + "</qtimetadata></itemmetadata>",
        "<presentation>",
        f'<material><mattext texttype="text/html">{escape(text)}</mattext></material>',
        *fields,
        "</presentation>",
        "<resprocessing>",
        '<outcomes><decvar maxvalue="100" minvalue="0" varname="SCORE" vartype="Decimal"/></outcomes>',
        '<respcondition continue="Yes"><conditionvar><other/></conditionvar>'
        '<displayfeedback feedbacktype="Response" linkrefid="general_fb"/></respcondition>',
        '<respcondition continue="No"><conditionvar>'
        + "".join(_interval(f"response{i}", p) for i, p in enumerate(parts, 1))
        + '</conditionvar><setvar action="Set" varname="SCORE">100</setvar></respcondition>',
        "</resprocessing>",
        '<itemfeedback ident="general_fb"><flow_mat><material>'
        f'<mattext texttype="text/html">{escape(feedback)}</mattext></material></flow_mat></itemfeedback>',
        "</item>"])


def qti_zip(ident: str, title: str, questions: list[Question]) -> bytes:
    """A QTI 1.2 package (zip): ``imsmanifest.xml`` and one assessment with a numerical item per
    variant and asked step (a matrix's entries as fill-ins of one item), each entry accepting [value − tolerance, value + tolerance]. Same input,
    same bytes (fixed timestamps, sorted entries)."""
    ident = re.sub(r"[^A-Za-z0-9_-]", "_", ident)
    items = [_item(f"{q.ident}-{i}", one_line(f"{q.name} — {key}"), q.text, group, q.feedback)
             for q in questions for i, (key, group) in enumerate(asked_groups(q.parts), 1)]
    assessment = "\n".join([
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<questestinterop xmlns="http://www.imsglobal.org/xsd/ims_qtiasiv1p2" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        'xsi:schemaLocation="http://www.imsglobal.org/xsd/ims_qtiasiv1p2 '
        'http://www.imsglobal.org/xsd/ims_qtiasiv1p2p1.xsd">',
        f"<assessment ident={quoteattr(ident)} title={quoteattr(one_line(title))}>",
        "<qtimetadata>" + _field("cc_maxattempts", "1") + "</qtimetadata>",
        '<section ident="root_section">', *items, "</section>", "</assessment>", "</questestinterop>", ""])
    manifest = "\n".join([
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<manifest identifier={quoteattr(ident + "-manifest")} '
        'xmlns="http://www.imsglobal.org/xsd/imsccv1p1/imscp_v1p1">',
        "<metadata><schema>IMS Content</schema><schemaversion>1.1.3</schemaversion></metadata>",
        "<organizations/>",
        "<resources>",
        f'<resource identifier={quoteattr(ident)} type="imsqti_xmlv1p2" href="{ident}/{ident}.xml">',
        f'<file href="{ident}/{ident}.xml"/>',
        "</resource>", "</resources>", "</manifest>", ""])
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in sorted({"imsmanifest.xml": manifest, f"{ident}/{ident}.xml": assessment}.items()):
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            z.writestr(info, data)
    return buf.getvalue()


__all__ = ["Part", "Question", "moodle_xml", "gift", "qti_zip", "CLOZE", "number", "gift_escape",
           "category_path"]

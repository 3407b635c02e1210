"""Strict structural checks of the LMS exports, written from the formats' own grammars because no
installable package ships a schema for them (no PyPI package carries the IMS QTI 1.2 XSD — text2qti
and qti-package-maker write QTI from templates — Moodle publishes no schema for its XML, and
pygiftparser 1.1 no longer imports on Python 3.11). Each checker raises AssertionError naming the
element and the rule it breaks, and returns what it read, for the numeric assertions of the tests.

* QTI 1.2: the content models of the IMS QTI ASI 1.2 DTD for every element we emit (children in
  the order and number the DTD allows, required attributes, enumerated values), references inside
  an item (a condition's respident names a response, a displayfeedback's linkrefid an
  itemfeedback, setvar a declared outcome), and the IMS Content Packaging 1.1 manifest (every
  resource and file it names is in the zip, every file in the zip is named).
* Moodle XML: quiz, category first, the elements Moodle's importer reads for a cloze question, and
  every embedded answer in the syntax of qtype_multianswer ({1:NUMERICAL:=v:tol}).
* GIFT: ::title::[html]text{#value:tolerance####feedback}, specials escaped.
"""
from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET
import zipfile
from dataclasses import dataclass

# -- QTI 1.2 ---------------------------------------------------------------------------------------

_CONDITIONS = ("not|and|or|unanswered|other|varequal|varlt|varlte|vargt|vargte|varsubset|varinside|"
               "varsubstring|durequal|durlt|durlte|durgt|durgte|var_extension")
_MATERIALS = "mattext|matemtext|matimage|mataudio|matvideo|matapplet|matapplication|matref|matbreak|mat_extension"

# element -> (content model as a regex over "child " tokens, required attributes, {attribute: allowed values})
QTI_MODELS = {
    "questestinterop": (r"(qticomment )?(objectbank |assessment |((section |item ))+)", (), {}),
    "assessment": (r"(qticomment )?(duration )?(qtimetadata )*(objectives )*(assessmentcontrol )*(rubric )*"
                   r"(presentation_material )?(outcomes_processing )*(assessproc_extension )?(assessfeedback )*"
                   r"(selection_ordering )?(reference )?((sectionref |section ))+", ("ident",), {}),
    "section": (r"(qticomment )?(duration )?(qtimetadata )*(objectives )*(sectioncontrol )*"
                r"(sectionprecondition )*(sectionpostcondition )*(rubric )*(presentation_material )?"
                r"(outcomes_processing )*(sectionproc_extension )?(sectionfeedback )*(selection_ordering )?"
                r"(reference )?((itemref |item |sectionref |section ))*", ("ident",), {}),
    "item": (r"(qticomment )?(duration )?(itemmetadata )?(objectives )*(itemcontrol )*(itemprecondition )*"
             r"(itempostcondition )*((itemrubric |rubric ))*(presentation )?(resprocessing )*"
             r"(itemproc_extension )?(itemfeedback )*(reference )?", ("ident",), {}),
    "itemmetadata": (r"(qtimetadata )*", (), {}),
    "qtimetadata": (r"(vocabulary )?(qtimetadatafield )+", (), {}),
    "qtimetadatafield": (r"fieldlabel fieldentry ", (), {}),
    "fieldlabel": (r"", (), {}),
    "fieldentry": (r"", (), {}),
    "presentation": (r"(qticomment )?(flow |((material |response_lid |response_xy |response_str |response_num "
                     r"|response_grp |response_extension ))+)", (), {}),
    "material": (rf"(qticomment )?(({_MATERIALS.replace('|', ' |')} ))+(altmaterial )*", (), {}),
    "mattext": (r"", (), {"texttype": ("text/plain", "text/html", "text/rtf")}),
    "response_str": (r"((material |material_ref ))?(render_choice |render_hotspot |render_slider |render_fib "
                     r"|render_extension )((material |material_ref ))?", ("ident",),
                     {"rcardinality": ("Single", "Multiple", "Ordered")}),
    "render_fib": (r"((material |material_ref |response_label |flow_label ))*", (),
                   {"fibtype": ("String", "Integer", "Decimal", "Scientific")}),
    "response_label": (r"((qticomment |material |material_ref |flow_mat ))*", ("ident",), {}),
    "resprocessing": (r"(qticomment )?outcomes ((respcondition |itemproc_extension ))+", (), {}),
    "outcomes": (r"(qticomment )?(decvar (interpretvar )*)+", (), {}),
    "decvar": (r"", (), {"vartype": ("Integer", "String", "Decimal", "Scientific", "Boolean", "Enumerated",
                                     "Set")}),
    "respcondition": (r"(qticomment )?conditionvar (setvar )*(displayfeedback )*(respcond_extension )?", (),
                      {"continue": ("Yes", "No")}),
    "conditionvar": (rf"(({_CONDITIONS.replace('|', ' |')} ))+", (), {}),
    "and": (rf"(({_CONDITIONS.replace('|', ' |')} ))+", (), {}),
    "or": (rf"(({_CONDITIONS.replace('|', ' |')} ))+", (), {}),
    "not": (rf"({_CONDITIONS.replace('|', ' |')} )", (), {}),
    "other": (r"", (), {}),
    "varequal": (r"", ("respident",), {"case": ("Yes", "No")}),
    "vargte": (r"", ("respident",), {}),
    "varlte": (r"", ("respident",), {}),
    "setvar": (r"", (), {"action": ("Set", "Add", "Subtract", "Multiply", "Divide")}),
    "displayfeedback": (r"", ("linkrefid",), {"feedbacktype": ("Response", "Solution", "Hint")}),
    "itemfeedback": (r"((flow_mat |material |solution |hint ))+", ("ident",), {}),
    "flow_mat": (r"(qticomment )?((flow_mat |material |material_ref ))+", (), {}),
}
QTI_NS = "http://www.imsglobal.org/xsd/ims_qtiasiv1p2"
CP_NS = "http://www.imsglobal.org/xsd/imsccv1p1/imscp_v1p1"
CP_MODELS = {
    "manifest": (r"(metadata )?organizations resources (manifest )*", ("identifier",), {}),
    "metadata": (r"(schema )?(schemaversion )?", (), {}),
    "schema": (r"", (), {}), "schemaversion": (r"", (), {}),
    "organizations": (r"(organization )*", (), {}),
    "resources": (r"(resource )*", (), {}),
    "resource": (r"(metadata )?(file )*(dependency )*", ("identifier", "type"), {}),
    "file": (r"(metadata )?", ("href",), {}),
}


def _local(tag: str, ns: str) -> str:
    assert tag.startswith("{" + ns + "}"), f"<{tag}> is not in the namespace {ns}"
    return tag[len(ns) + 2:]


def _check_tree(element, ns: str, models: dict, path: str = "") -> None:
    """Every element against its content model, recursively."""
    name = _local(element.tag, ns)
    where = f"{path}/{name}"
    assert name in models, f"{where}: <{name}> is not an element this format allows here"
    model, required, enumerated = models[name]
    children = "".join(_local(c.tag, ns) + " " for c in element)
    assert re.fullmatch(model, children), f"{where}: children [{children.strip()}] break the model {model}"
    if model == "" and name not in ("other",):
        assert len(element) == 0, f"{where}: takes text only"
    for attribute in required:
        assert element.get(attribute), f"{where}: the attribute {attribute} is required"
    for attribute, allowed in enumerated.items():
        if element.get(attribute) is not None:
            assert element.get(attribute) in allowed, f"{where}: {attribute}={element.get(attribute)!r} not in {allowed}"
    for child in element:
        _check_tree(child, ns, models, where)


@dataclass
class QtiItem:
    ident: str
    title: str
    text: str  # the question's HTML
    value: float  # varequal
    low: float  # vargte
    high: float  # varlte
    feedback: str  # the general feedback's HTML


def validate_qti(package: bytes) -> list[QtiItem]:
    """A QTI 1.2 package checked (see the module docstring); its numerical items, in order."""
    with zipfile.ZipFile(io.BytesIO(package)) as z:
        assert z.testzip() is None, "a damaged zip entry"
        names = z.namelist()
        assert len(names) == len(set(names)), "duplicate zip entries"
        assert "imsmanifest.xml" in names, "imsmanifest.xml missing at the root of the zip"
        manifest = ET.fromstring(z.read("imsmanifest.xml"))
        _check_tree(manifest, CP_NS, CP_MODELS)
        cp = {"m": CP_NS}
        referenced = {"imsmanifest.xml"}
        assessments = []
        for resource in manifest.findall("m:resources/m:resource", cp):
            files = [f.get("href") for f in resource.findall("m:file", cp)]
            for href in files:
                assert href in names, f"the manifest names {href}, which is not in the zip"
            referenced.update(files)
            if resource.get("type") == "imsqti_xmlv1p2":
                href = resource.get("href")
                assert href in files, f"resource {resource.get('identifier')}: href {href} is not one of its files"
                assessments.append(ET.fromstring(z.read(href)))
        assert not set(names) - referenced, f"files in the zip no resource names: {set(names) - referenced}"
    assert len(assessments) == 1, "one QTI assessment resource expected"
    root = assessments[0]
    _check_tree(root, QTI_NS, QTI_MODELS)
    q = {"q": QTI_NS}
    items = root.findall("q:assessment/q:section/q:item", q)
    idents = [i.get("ident") for i in items]
    assert len(idents) == len(set(idents)), "item idents repeat"
    out = []
    for item in items:
        where = f"item {item.get('ident')}"
        responses = {r.get("ident") for r in item.findall("q:presentation/*", q) if r.tag.endswith("}response_str")
                     or r.tag.endswith("}response_lid") or r.tag.endswith("}response_num")}
        assert responses, f"{where}: no response to answer"
        feedback_ids = {f.get("ident") for f in item.findall("q:itemfeedback", q)}
        declared = {d.get("varname", "SCORE") for d in item.findall("q:resprocessing/q:outcomes/q:decvar", q)}
        for condition in item.iter(f"{{{QTI_NS}}}conditionvar"):
            for test in condition.iter():
                if test.get("respident") is not None:
                    assert test.get("respident") in responses, f"{where}: respident {test.get('respident')} unknown"
        for shown in item.iter(f"{{{QTI_NS}}}displayfeedback"):
            assert shown.get("linkrefid") in feedback_ids, f"{where}: linkrefid {shown.get('linkrefid')} unknown"
        for setvar in item.iter(f"{{{QTI_NS}}}setvar"):
            assert setvar.get("varname", "SCORE") in declared, f"{where}: setvar of an undeclared outcome"
            decvar = item.find("q:resprocessing/q:outcomes/q:decvar", q)
            assert float(decvar.get("minvalue")) <= float(setvar.text) <= float(decvar.get("maxvalue"))
        fields = {f.findtext("q:fieldlabel", namespaces=q): f.findtext("q:fieldentry", namespaces=q)
                  for f in item.findall("q:itemmetadata/q:qtimetadata/q:qtimetadatafield", q)}
        assert fields.get("question_type") == "numerical_question", f"{where}: {fields}"
        fib = item.find("q:presentation/q:response_str/q:render_fib", q)
        assert fib is not None and fib.get("fibtype") == "Decimal", f"{where}: a decimal fill-in expected"
        scoring = [c for c in item.findall("q:resprocessing/q:respcondition", q) if c.find("q:setvar", q) is not None]
        assert len(scoring) == 1, f"{where}: one scoring condition expected"
        either = scoring[0].find("q:conditionvar/q:or", q)
        assert either is not None, f"{where}: the exact value or the interval"
        interval = either.find("q:and", q)
        out.append(QtiItem(item.get("ident"), item.get("title"),
                           item.findtext("q:presentation/q:material/q:mattext", namespaces=q),
                           float(either.findtext("q:varequal", namespaces=q)),
                           float(interval.findtext("q:vargte", namespaces=q)),
                           float(interval.findtext("q:varlte", namespaces=q)),
                           item.findtext("q:itemfeedback/q:flow_mat/q:material/q:mattext", namespaces=q)))
    return out


# -- Moodle XML ------------------------------------------------------------------------------------

# qtype_multianswer's pattern for an embedded question, and one NUMERICAL answer inside it
EMBEDDED = re.compile(r"\{([0-9]*):(NUMERICAL|NM):(.*?)(?<!\\)\}")
NUMERICAL_ANSWER = re.compile(r"(=|%-?\d+(?:\.\d+)?%)([-+]?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)"
                              r"(?::(\d+(?:\.\d*)?(?:[eE][-+]?\d+)?))?(?:#.*)?")


@dataclass
class ClozePart:
    weight: int
    value: float
    tolerance: float


def validate_moodle(text: str) -> list[tuple[str, list[ClozePart], str]]:
    """A Moodle XML quiz checked; (idnumber, cloze parts, general feedback) per question."""
    root = ET.fromstring(text)
    assert root.tag == "quiz", "the root must be <quiz>"
    questions = root.findall("question")
    assert len(questions) == len(root), "only <question> elements under <quiz>"
    category, *rest = questions
    assert category.get("type") == "category", "the category comes first"
    assert (category.findtext("category/text") or "").startswith("$course$/top/")
    out, ids = [], set()
    for q in rest:
        where = f"question {q.findtext('name/text')!r}"
        assert q.get("type") == "cloze", where
        for tag in ("name/text", "questiontext/text", "generalfeedback/text", "penalty", "hidden", "idnumber"):
            assert q.find(tag) is not None and (q.findtext(tag) or "").strip(), f"{where}: <{tag}> missing or empty"
        assert q.find("questiontext").get("format") == "html" and q.find("generalfeedback").get("format") == "html"
        assert 0 <= float(q.findtext("penalty")) <= 1 and q.findtext("hidden") in ("0", "1")
        assert q.findtext("idnumber") not in ids, f"{where}: idnumber repeats"
        ids.add(q.findtext("idnumber"))
        body = q.findtext("questiontext/text")
        # every "{digits:" opens an embedded question, and each one parses
        assert len(re.findall(r"\{[0-9]*:", body)) == len(EMBEDDED.findall(body)), f"{where}: a broken {{n: …}}"
        parts = []
        for weight, _, answers in EMBEDDED.findall(body):
            options = answers.split("~")
            assert all(NUMERICAL_ANSWER.fullmatch(o) for o in options), f"{where}: bad answer in {answers!r}"
            first = NUMERICAL_ANSWER.fullmatch(options[0])
            assert first.group(1) == "=", f"{where}: the first answer is the fully correct one"
            parts.append(ClozePart(int(weight or 1), float(first.group(2)), float(first.group(3) or 0)))
        out.append((q.findtext("idnumber"), parts, q.findtext("generalfeedback/text")))
    return out


# -- GIFT -------------------------------------------------------------------------------------------

_SPECIALS = "~=#{}:"


def _unescaped(text: str) -> str:
    """``text`` with GIFT's escapes (\\~ \\= \\# \\{ \\} \\: \\\\) removed, to look for stray specials."""
    return re.sub(r"\\[\\~=#{}:]", "", text)


def validate_gift(text: str) -> list[tuple[str, float, float, str]]:
    """GIFT numerical questions checked; (title, value, tolerance, feedback) per question."""
    lines = text.split("\n")
    categories = [l for l in lines if l.startswith("$CATEGORY:")]
    assert len(categories) == 1 and categories[0].startswith("$CATEGORY: $course$/top/")
    out = []
    for block in text.split("\n\n"):
        block = "\n".join(l for l in block.split("\n") if not l.startswith("//") and not l.startswith("$CATEGORY"))
        if not block.strip():
            continue
        m = re.fullmatch(r"::(?P<title>(?:\\.|[^:\\])*)::\[html\](?P<text>(?:\\.|[^{\\])*)"
                         r"\{#(?P<value>[-+]?[\d.]+(?:e[-+]?\d+)?):(?P<tol>[\d.]+(?:e[-+]?\d+)?)"
                         r"####(?P<feedback>(?:\\.|[^}\\])*)\}", block.strip(), re.S)
        assert m, f"not a GIFT numerical question: {block[:120]!r}"
        for field in ("title", "text", "feedback"):
            stray = [c for c in _unescaped(m.group(field)) if c in _SPECIALS]
            assert not stray, f"unescaped {stray} in the {field} of {m.group('title')[:60]!r}"
        out.append((m.group("title"), float(m.group("value")), float(m.group("tol")), m.group("feedback")))
    return out

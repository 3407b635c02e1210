"""The committed output/ folder is current: `derive demo` regenerated now means the same as what is
committed, file for file (tests/golden.py says how each kind of file is compared). The demo is
written once per test session (the ``demo_output`` fixture) and its LaTeX documents compiled once
(``latex_builds``, shared with the layout test)."""
import base64
import io
from pathlib import Path


import golden

ROOT = Path(__file__).resolve().parent.parent
COMMITTED = ROOT / "output"
STALE = "run `derive demo --out output/ --force`"


def test_demo_output_is_current(demo_output):
    fresh = sorted(p.name for p in demo_output.iterdir() if p.name != "README.md")  # its PDF links
    assert len(fresh) > 40, fresh
    missing = [name for name in fresh if not (COMMITTED / name).exists()]
    assert not missing, f"output/ lacks {missing}: {STALE}"
    stale = {name: why for name in fresh if (why := golden.difference(COMMITTED / name, demo_output / name))}
    assert not stale, f"output/ is stale ({stale}): {STALE}"


def test_demo_pdfs_are_current(latex_builds):
    from derive.courseware.demo import EXAMPLES
    stale = {}
    for ex in EXAMPLES:
        build = latex_builds[f"demo-{ex.name}"]
        assert build.pdf is not None, (ex.name, build.errors)
        assert (COMMITTED / f"{ex.name}.pdf").is_file(), f"output/{ex.name}.pdf missing: {STALE}"
        why = golden.pdf_difference(COMMITTED / f"{ex.name}.pdf", build.pdf)
        if why:
            stale[ex.name] = why
    assert not stale, f"output/ PDFs are stale ({stale}): {STALE}"
    # the comparison tells documents apart by their page count or text
    assert golden.pdf_difference(COMMITTED / "handout.pdf", latex_builds["demo-neuron-relu"].pdf)
    pages, text = golden.pdf_meaning(COMMITTED / "handout.pdf")
    assert pages > 1 and "variance" in text.lower()


def test_every_example_has_each_format_committed():
    from derive.courseware.demo import EXAMPLES
    for ex in EXAMPLES:
        for ext in ("md", "tex", "txt", "html", "pdf"):
            assert (COMMITTED / f"{ex.name}.{ext}").is_file(), f"output/{ex.name}.{ext}: {STALE}"


# --- the comparison itself: it tolerates what another build changes, not what another plot does ---


def _png(array) -> bytes:
    from PIL import Image
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def test_png_comparison_tolerates_anti_aliasing_but_not_a_changed_plot():
    import numpy as np
    from derive.initialization.variance import simulate_variance
    data = (COMMITTED / "he-initialization-plot.png").read_bytes()
    picture = golden.pixels(data).astype(np.uint8)
    assert golden.png_difference(data, _png(picture)) is None  # re-encoded: other bytes, same pixels
    # another freetype: every grey edge pixel two levels off
    edges = (picture[..., :3] > 0) & (picture[..., :3] < 255)
    shaded = picture.copy()
    shaded[..., :3][edges] = np.clip(picture[..., :3][edges].astype(int) + 2, 0, 255).astype(np.uint8)
    assert edges.any() and golden.png_difference(data, _png(shaded)) is None
    demo = dict(depth=50, width=256, activation="relu", schemes=["normal", "small", "xavier", "he"], batch=1024)
    assert golden.png_difference(data, _plot_bytes(simulate_variance(**demo, seed=0))) is None
    # the same plot of other draws: the curves move
    assert "pixels differ" in golden.png_difference(data, _plot_bytes(simulate_variance(**demo, seed=1)))
    assert "size" in golden.png_difference(data, _png(picture[:-1]))


def _plot_bytes(sim) -> bytes:
    import tempfile
    with tempfile.TemporaryDirectory() as folder:
        return Path(sim.plot(Path(folder) / "p.png")).read_bytes()


def test_html_is_compared_with_its_images_decoded():
    page = (COMMITTED / "he-initialization.html").read_text(encoding="utf-8")
    text, images = golden.split_html(page)
    assert len(images) == 2 and all(kind == "image/png" for kind, _ in images)
    assert "base64" not in text
    import numpy as np
    first = golden.pixels(images[0][1]).astype(np.uint8)
    reencoded = page.replace(base64.b64encode(images[0][1]).decode(), base64.b64encode(_png(first)).decode())
    assert reencoded != page and golden.html_difference(page, reencoded) is None
    assert golden.html_difference(page, page.replace("He", "Hx", 1))


def test_graphviz_svgs_are_compared_by_their_labels():
    svg = next(COMMITTED.glob("handout-*.svg")).read_text(encoding="utf-8")
    assert golden.is_graphviz(svg) and golden.graphviz_meaning(svg)
    moved = svg.replace('viewBox="', 'viewBox="1', 1).replace("graphviz version", "graphviz version 99", 1)
    assert golden.graphviz_meaning(moved) == golden.graphviz_meaning(svg)
    relabelled = svg.replace(">z</text>", ">q</text>", 1)
    assert relabelled != svg and golden.graphviz_meaning(relabelled) != golden.graphviz_meaning(svg)

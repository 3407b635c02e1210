"""``derive serve``: the web app (Starlette on uvicorn). Every request carries its whole example
(a spec's text or a builder's fields, in the URL or the form), so the server keeps no state
between requests and any number of workers can serve a class.

Safe by construction:

* it binds to 127.0.0.1 unless told otherwise (``derive serve --host``);
* a request body is read up to ``MAX_BODY`` bytes and refused beyond;
* every request's work runs inside the work budget (``derive.core.budget``: digits, exponents,
  nodes …, the same limits and one-line errors as the CLI) and, in a worker's main thread, a
  time limit (``budget.deadline``);
* no file-system path comes from a request: the static files are a fixed table;
* errors are the CLI's one-line message on the page, never a traceback; the page's scripts are
  the vendored file only (a Content-Security-Policy forbids any other), and every text a user
  gave is escaped (Jinja's autoescape).

Run it for a class: ``uvicorn derive.serve.app:app --workers 4`` (see the README).
"""
from __future__ import annotations

import functools
from pathlib import Path
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Route

from ..core.errors import DeriveError
from . import work

MAX_BODY = 2_000_000  # bytes of one request body (a spec is at most max_file_bytes, 1 MB)
LONGEST_LINE = 8_000_000  # bytes of a request's head uvicorn reads (a link far past MAX_BODY)
SECONDS = 30.0  # wall-clock time of one request's work, where the timer can run
STATIC = Path(__file__).resolve().parent / "static"
# The only files served from disk, by fixed name (never a path from the request).
STATIC_FILES = {"serve.js": "text/javascript", "serve.css": "text/css"}
SECURITY = {
    # scripts only from this server's vendored file: an injected <script> could never run
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                               "img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


class TooLarge(DeriveError):
    """A request over the server's size limits (413, or 414 for a link)."""

    def __init__(self, message: str, status: int = 413):
        super().__init__(message)
        self.status = status


@functools.lru_cache(maxsize=1)
def _environment():
    import jinja2
    from ..rendering.formats import templates_dir
    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(templates_dir() / "serve")),
                              undefined=jinja2.StrictUndefined, autoescape=True,
                              trim_blocks=True, lstrip_blocks=True)


def _page(template: str, status: int = 200, **context) -> HTMLResponse:
    html = _environment().get_template(template).render(**context)
    return HTMLResponse(html, status_code=status, headers=SECURITY)


def one_line_error(e: BaseException) -> str:
    """The CLI's one-line message for an error (``derive.cli._run``'s rules)."""
    from ..core.escape import one_line
    if isinstance(e, DeriveError):
        return f"derive: error: {work.server_words(one_line(str(e)))}"
    if isinstance(e, RecursionError):
        return "derive: error: the input is nested too deeply to process"
    return f"derive: internal error ({type(e).__name__}: {one_line(str(e))[:200]}); please report it"


def guarded(compute, seconds: float | None = None):
    """(result, None) or (None, one-line message): ``compute()`` within the work budget and,
    where a timer can run (a worker's main thread), within ``seconds``."""
    from ..core import budget
    seconds = SECONDS if seconds is None else seconds
    try:
        with budget.deadline(seconds) as late:
            result = compute()
        if late[0]:
            return None, (f"derive: error: the request took more than {seconds:g} s, the server's limit "
                          f"for one request; make the example smaller")
        return result, None
    except Exception as e:  # noqa: BLE001 - every error is a message on the page
        return None, one_line_error(e)


async def _form(request: Request) -> dict:
    """The request's fields: the query string, then a url-encoded body of at most ``MAX_BODY``
    bytes (read in chunks, refused as soon as it grows past the limit)."""
    query = request.scope.get("query_string", b"")
    if len(query) > MAX_BODY:
        raise TooLarge(f"the link is {len(query)} bytes, more than the server's limit of {MAX_BODY}; "
                       f"paste or upload a spec this long instead", status=414)
    form = {k: v[-1] for k, v in parse_qs(request.url.query, keep_blank_values=True).items()}
    if request.method != "POST":
        return form
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        raise TooLarge(f"the request is {int(declared)} bytes, more than the server's limit of {MAX_BODY}")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            raise TooLarge(f"the request is more than the server's limit of {MAX_BODY} bytes")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise TooLarge("the request is not UTF-8 text") from None
    form.update({k: v[-1] for k, v in parse_qs(text, keep_blank_values=True).items()})
    return form


def _context(form: dict) -> dict:
    """Everything the page shows for the fields of one request (the editor's and, when they
    describe an example, its derivation, check panel, training form and downloads)."""
    context = {"form": form, "builders": work.BUILDER_FIELDS, "tab": _tab(form), "error": None,
               "derived": None, "optimizers": [], "downloads": work.DOWNLOADS}
    if not any(form.get(k, "").strip() for k in ("spec", "equations", "build")):
        return context

    def compute():
        source = work.Source.from_form(form)
        loaded = work.load(source)
        html = work.derivation_html(loaded.example)
        return {"source": source.query(), "link": source.link(),
                "title": loaded.example.title or "Derivation",
                "html": html,
                "steps": [] if loaded.example.symbolic else work.check_steps(loaded, {}, {}, set()),
                "train": loaded.train, "symbolic": loaded.example.symbolic,
                "variant": loaded.example.meta.get("variant", "")}
    derived, error = guarded(compute)
    context.update(derived=derived, error=error, optimizers=work.optimizers() if derived else [])
    return context


def _tab(form: dict) -> str:
    build = form.get("build", "")
    if build in work.BUILDERS:
        return build
    return "spec" if form.get("spec", "").strip() and not form.get("equations") else "editor"


async def home(request: Request) -> Response:
    try:
        form = await _form(request)
    except TooLarge as e:
        return _page("page.j2", e.status, **_context({}) | {"error": one_line_error(e)})
    return _page("page.j2", **_context(form))


def _answers(form: dict) -> tuple[dict, dict, set]:
    answers = {k[len("answer:"):]: v for k, v in form.items() if k.startswith("answer:")}
    levels = {}
    for k, v in form.items():
        if k.startswith("level:"):
            levels[k[len("level:"):]] = int(v) if v.isdigit() and len(v) < 3 else 0
    shown = {k[len("shown:"):] for k, v in form.items() if k.startswith("shown:") and v}
    if form.get("hint"):
        levels[form["hint"]] = levels.get(form["hint"], 0) + 1
    if form.get("show"):
        shown.add(form["show"])
    return answers, levels, shown


async def check(request: Request) -> Response:
    """The check panel for the answers typed so far (a fragment the page swaps in)."""
    try:
        form = await _form(request)
    except TooLarge as e:
        return _page("error.j2", 413, error=one_line_error(e))

    def compute():
        loaded = work.load(work.Source.from_form(form))
        answers, levels, shown = _answers(form)
        steps = work.check_steps(loaded, answers, levels, shown)
        return {"steps": steps, "summary": work.summary(steps)}
    result, error = guarded(compute)
    if error:
        return _page("error.j2", 200, error=error)
    return _page("check.j2", source=work.Source.from_form(form).query(), **result)


async def train(request: Request) -> Response:
    """A training run of the example with the loss plot (a fragment)."""
    try:
        form = await _form(request)
    except TooLarge as e:
        return _page("error.j2", 413, error=one_line_error(e))

    def compute():
        loaded = work.load(work.Source.from_form(form))
        return work.train_html(loaded, form.get("steps", ""), form.get("optimizer", ""), form.get("rate", ""))
    html, error = guarded(compute)
    if error:
        return _page("error.j2", 200, error=error)
    return _page("train.j2", html=html)


async def download(request: Request) -> Response:
    try:
        form = await _form(request)
    except TooLarge as e:
        return _page("error.j2", 413, error=one_line_error(e))

    def compute():
        loaded = work.load(work.Source.from_form(form))
        return work.download(loaded.example, form.get("format", ""), loaded.tolerance)
    result, error = guarded(compute)
    if error:
        return _page("error.j2", 422, error=error)
    data, name, kind = result
    return Response(data, media_type=kind, headers={
        **SECURITY, "Content-Disposition": f'attachment; filename="{name}"'})


async def static(request: Request) -> Response:
    name = request.path_params["name"]
    if name not in STATIC_FILES:
        return PlainTextResponse("not found", status_code=404)
    return Response((STATIC / name).read_bytes(), media_type=STATIC_FILES[name],
                    headers={**SECURITY, "Cache-Control": "max-age=3600"})


async def health(request: Request) -> Response:
    return PlainTextResponse("ok")


def create_app() -> Starlette:
    """The app: ``/`` the editor and the derivation (GET with ``?spec=`` or ``?build=``, or POST
    from the editor), ``/check`` and ``/train`` the panels, ``/download`` a document."""
    return Starlette(routes=[
        Route("/", home, methods=["GET", "POST"]),
        Route("/check", check, methods=["POST"]),
        Route("/train", train, methods=["POST"]),
        Route("/download", download, methods=["POST"]),
        Route("/static/{name}", static),
        Route("/health", health),
    ])


app = create_app()


def serve(host: str = "127.0.0.1", port: int = 8000, open_browser: bool = False) -> None:
    """Run the app with uvicorn (one process; a class runs ``uvicorn --workers N``)."""
    import uvicorn
    if open_browser:
        import threading
        import webbrowser
        threading.Timer(1.0, webbrowser.open, [f"http://{host}:{port}/"]).start()
    # a request line up to LONGEST_LINE is read, so an over-long link gets a 414 with a message
    # rather than a reset connection; the app refuses any past MAX_BODY
    uvicorn.run(app, host=host, port=port, log_level="warning", limit_concurrency=64,
                h11_max_incomplete_event_size=LONGEST_LINE)

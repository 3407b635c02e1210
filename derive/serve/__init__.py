"""``derive serve``: a local web app for live derivations, checking and training (Starlette on
uvicorn, Jinja templates, a few lines of vendored JavaScript). ``work`` computes what a request
asks for; ``app`` is the web layer around it."""

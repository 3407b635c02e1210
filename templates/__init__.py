# Jinja templates, one folder per output format; installed as the package derive.templates.

"""Jinja2 environment shared by every page (autoescaped; templates ship inside the package).

Data for a page's script goes through Jinja's `tojson` filter, which escapes `<`, `>`, `&` and `'` — never
`json.dumps(...) | safe` inside a `<script>` block, where a stored `</script>` would end the block."""

from __future__ import annotations

from pathlib import Path

from fastapi.templating import Jinja2Templates

from yimatong.accounts.scope import localtime

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
TEMPLATES.env.filters["localtime"] = localtime

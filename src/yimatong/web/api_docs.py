"""The API documentation at /docs, offline: Swagger UI vendored from npm (static/vendor/swagger-ui, Apache-2.0)
on a page of our own. FastAPI's get_swagger_ui_html loads the bundle from a CDN and starts it with an inline
script; this page loads both from /static (the bootstrap is static/api-docs.js), so its policy needs no CDN and
no 'unsafe-inline' script."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from yimatong.web.templating import TEMPLATES

router = APIRouter(include_in_schema=False)


@router.get("/docs", response_class=HTMLResponse)
def docs(request: Request) -> HTMLResponse:
    """Public like /openapi.json (deps.PUBLIC_PATHS): the contract is no secret, the data behind it is."""
    return TEMPLATES.TemplateResponse(request, "api_docs.html", {"openapi_url": request.app.openapi_url})

"""Every route declares the action it performs (the one policy decides who may), or is one of the public paths
of the contract."""

from __future__ import annotations

from typing import Any

from fastapi.routing import APIRoute
from starlette.routing import Mount

from yimatong.api.app import create_app
from yimatong.api.deps import PUBLIC_PATHS
from yimatong.domain.policy import Action


def _declared(dependant: Any) -> Action | None:
    for dep in dependant.dependencies:
        action = getattr(dep.call, "__ymt_action__", None) or _declared(dep)
        if action is not None:
            return action
    return None


def _routes(routes: list[Any], prefix: str = "") -> list[tuple[str, Any]]:
    """Every route with its full path (included routers are nested in recent FastAPI versions)."""
    out = []
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            out += _routes(inner.routes, prefix + route.include_context.prefix)
        elif not isinstance(route, Mount):
            out.append((prefix + getattr(route, "path", ""), route))
    return out


def test_every_route_declares_its_action(ymt) -> None:
    app = create_app(ymt.settings, ymt)
    missing, seen = [], 0
    for path, route in _routes(app.routes):
        endpoint = getattr(route, "endpoint", None)
        action = getattr(endpoint, "__ymt_action__", None)
        if action is None and isinstance(route, APIRoute):
            action = _declared(route.dependant)
        if action is None and not path.startswith(PUBLIC_PATHS):
            missing.append(f"{sorted(getattr(route, 'methods', []) or [])} {path}")
        seen += 1
    assert seen > 50
    assert missing == [], "routes without a declared action:\n" + "\n".join(missing)


def test_the_public_paths_are_the_contracts() -> None:
    assert set(PUBLIC_PATHS) >= {"/p/", "/healthz", "/readyz", "/metrics", "/docs", "/openapi.json"}

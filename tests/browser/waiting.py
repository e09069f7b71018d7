"""Waiting for a condition in the page under its own Content-Security-Policy.

Playwright's `wait_for_function` compiles its predicate with `eval` inside the page, which the pages' CSP
(`script-src 'self'`, no 'unsafe-eval') rightly refuses; `page.evaluate` goes through the DevTools protocol and
is not subject to it, so the condition is polled from here instead of bypassing the policy under test."""

from __future__ import annotations

import time
from typing import Any


def wait_js(page: Any, expression: str, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = page.evaluate(expression)
        if value:
            return value
        if time.monotonic() > deadline:
            errors = getattr(page, "errors", [])  # the console errors a test collected say why, usually
            raise TimeoutError(f"page condition not met within {timeout} s: {expression}; errors: {errors}")
        time.sleep(0.1)

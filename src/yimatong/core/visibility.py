"""Confidentiality in one place: every read path (lists, downloads, packages, box, feed, OGC, webhooks)
builds its query with these clauses, so a restricted result cannot leak through a forgotten view."""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, or_, true

from yimatong.core.context import PRIVILEGED, Actor
from yimatong.storage.models import Event, Result

LEVELS = ("public", "internal", "restricted")


def result_visible(actor: Actor | None) -> ColumnElement[bool]:
    """Results the actor may see. `None` is the public (no token): public results only."""
    if actor is None:
        return Result.confidentiality == "public"
    if actor.role in PRIVILEGED:
        return true()
    return or_(Result.confidentiality != "restricted",
               and_(Result.confidentiality == "restricted", Result.created_role == actor.role))


def event_visible(actor: Actor) -> ColumnElement[bool]:
    if actor.role in PRIVILEGED:
        return true()
    return or_(Event.confidentiality != "restricted", Event.owner_role == actor.role)


def role_sees(role: str, confidentiality: str, owner_role: str | None) -> bool:
    """The same rule for one row already in memory (webhook fan-out)."""
    return role in PRIVILEGED or confidentiality != "restricted" or owner_role == role

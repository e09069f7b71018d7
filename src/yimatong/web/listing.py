"""Paging, sorting and totals of the list pages (项目库, 预警, 复核): numbered pages of a chosen size, sorted by a
column people care about, with every filter kept in the URL so a page can be bookmarked, shared and reloaded.

The API pages by keyset cursors (stable under inserts, no COUNT); people want "第 3 页，共 1 234 条" and a
previous page, so the pages use LIMIT/OFFSET over a total counted up to `EXACT_UP_TO` rows — beyond that the
count is an estimate ("超过 10 000 条") and stops there, so a very large result never costs a full scan."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

SIZES = (20, 50, 100, 200)
DEFAULT_SIZE = 50
EXACT_UP_TO = 10_000
MAX_PAGE = 10_000_000


@dataclass(frozen=True)
class Paging:
    """The paging and sorting asked for in the URL, made safe: an unknown sort is the default one, a page or size
    out of range is the nearest valid one (a hand-edited URL shows a page, never an error)."""

    page: int
    size: int
    sort: str
    desc: bool

    @classmethod
    def of(cls, page: str | int | None, size: str | int | None, sort: str | None, columns: Sequence[str],
           default_sort: str, default_desc: bool = False) -> Paging:
        n = _int(page, 1)
        s = _int(size, DEFAULT_SIZE)
        key, desc = default_sort, default_desc
        if sort:
            bare = sort.removeprefix("-")
            if bare in columns:
                key, desc = bare, sort.startswith("-")
        return cls(min(max(n, 1), MAX_PAGE), s if s in SIZES else DEFAULT_SIZE, key, desc)

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.size

    @property
    def sort_param(self) -> str:
        return ("-" if self.desc else "") + self.sort


def _int(text: str | int | None, default: int) -> int:
    if isinstance(text, int):
        return text
    return int(text) if text and text.isascii() and text.isdigit() and len(text) < 10 else default


@dataclass(frozen=True)
class Total:
    count: int
    exact: bool

    def text(self) -> str:
        return f"共 {self.count:,} 条" if self.exact else f"超过 {self.count:,} 条（仅统计前 {self.count:,} 条）"


def count(session: Session, stmt: Select[Any], up_to: int = EXACT_UP_TO) -> Total:
    """Rows of a query, counted up to `up_to` (then an estimate: at least that many)."""
    inner = stmt.order_by(None).limit(up_to + 1).subquery()
    n = int(session.execute(select(func.count()).select_from(inner)).scalar_one())
    return Total(min(n, up_to), n <= up_to)


def fetch(session: Session, stmt: Select[Any], order: Sequence[Any], paging: Paging) -> list[Any]:
    """One page of a query in the order asked (the columns given, then whatever keeps it total, e.g. the id)."""
    cols = [c.desc() if paging.desc else c.asc() for c in order]
    return list(session.execute(stmt.order_by(*cols).offset(paging.offset).limit(paging.size)).scalars())


def window(items: Sequence[Any], paging: Paging, key: Callable[[Any], Any] | None = None) -> list[Any]:
    """One page of a list held in memory (the warnings), sorted by `key` when given."""
    rows = sorted(items, key=key, reverse=paging.desc) if key else list(items)
    return rows[paging.offset:paging.offset + paging.size]


@dataclass(frozen=True)
class Pager:
    """What the pager and the sortable headers of a list page need: links that keep every filter."""

    path: str
    filters: dict[str, str]
    paging: Paging
    total: Total

    @property
    def sizes(self) -> tuple[int, ...]:
        return SIZES

    @property
    def pages(self) -> int:
        return max(1, -(-self.total.count // self.paging.size))

    @property
    def first_row(self) -> int:
        return self.paging.offset + 1 if self.total.count else 0

    def last_row(self, shown: int) -> int:
        return self.paging.offset + shown

    @property
    def has_prev(self) -> bool:
        return self.paging.page > 1

    @property
    def has_next(self) -> bool:
        return self.paging.page < self.pages or not self.total.exact

    def link(self, **changes: Any) -> str:
        params = dict(self.filters) | {"sort": self.paging.sort_param, "size": str(self.paging.size),
                                       "page": str(self.paging.page)}
        params |= {k: str(v) for k, v in changes.items()}
        if params.get("page") == "1":
            params.pop("page")
        return f"{self.path}?{urlencode(params)}"

    def sort_link(self, column: str) -> str:
        """Sorting by a column starts at its first page; a second click reverses the order."""
        desc = not self.paging.desc if self.paging.sort == column else False
        return self.link(sort=("-" if desc else "") + column, page=1)

    def arrow(self, column: str) -> str:
        if self.paging.sort != column:
            return ""
        return "↓" if self.paging.desc else "↑"

    def aria_sort(self, column: str) -> str:
        if self.paging.sort != column:
            return "none"
        return "descending" if self.paging.desc else "ascending"

"""Every query on results, their files, events, parcels, parcel links and cross-references is built by the one
visibility layer (core/visibility.py), so that a restricted result cannot leak through a derived row. A
`select(...)` naming one of these tables anywhere else fails this test — except in the modules listed below,
each for a stated reason."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "yimatong"
GUARDED = {"Result", "ResultFile", "Event", "Parcel", "ProjectParcel", "ProjectRef", "TileMark", "TileCell"}
ALLOWED = {
    "core/visibility.py": "the visibility layer itself",
    "ledger/log.py": "appending (the previous hash) and verifying (every event, every file) see the whole ledger",
    "ledger/checkpoints.py": "a checkpoint signs the head of the whole ledger",
    "ledger/merkle.py": "the Merkle tree is built over every event's hash, whoever may read the event",
    "ledger/verify.py": "verification checks the whole ledger and the state it implies",
    "ledger/treeheads.py": "the public page says whether a project's latest record is in a witnessed head: it reads "
                           "that record's position, never its content",
    "ledger/feed.py": "the position of the ledger head (no row is read); the feed itself uses View.event_query",
    "supervision/service.py": "warnings are computed from the whole library; what each reader sees is filtered "
                              "by district scope on the way out",
    "supervision/facts.py": "the facts the warning rules read, from the whole library (as supervision/service.py)",
    "supervision/stored.py": "the stored warnings are updated from every event and every parcel link; readers get "
                             "them through supervision/service.py, filtered on the way out",
    "parcels/spatial.py": "the whole-library spatial screening of supervision (all_issues); per-project checks "
                          "use the view",
    "parcels/cells.py": "the map's dot cells are kept from every event and every parcel link; a tile reads them "
                        "through the clauses of View.marked (cell_rows) and the parcels they leave out through "
                        "the View",
    "projects/registry.py": "write commands read a project's references to keep them unique and carry them over "
                            "in a merge; nothing read there is shown",
    "delivery/queue.py": "loads the events of claimed deliveries; who receives which event was decided by the "
                          "visibility rule when the deliveries were enqueued",
}


def _names(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


def test_no_query_on_guarded_tables_outside_the_visibility_layer() -> None:
    wrong = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC).as_posix()
        if rel.startswith(("storage/",)) or rel in ALLOWED:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "select":
                hit = set().union(*(_names(a) for a in node.args)) & GUARDED if node.args else set()
                if hit:
                    wrong.append(f"{rel}:{node.lineno} select({', '.join(sorted(hit))}) outside core/visibility.py")
    assert wrong == [], "\n".join(wrong)

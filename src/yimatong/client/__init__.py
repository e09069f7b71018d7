"""Python client for neighbour systems of yimatong (一码通).

    from yimatong.client import YmtClient, verify_signature

    with YmtClient("http://ymt.bureau.local", token="ymt_...") as ymt:
        project = ymt.register_project({"name": "…", "division": "430702", "year": 2026, "approval_type": "01",
                                        "project_type": "01", "supply_type": "23", "land_use": "0701"})
        ymt.set_stage(project["code"], "pre_review", "done", case_no="YS-2026-001")
        ymt.add_result(project["code"], {"stage": "pre_review", "kind": "用地预审与选址意见书"},
                       files=[("意见书.pdf", open("意见书.pdf", "rb").read())])
        for event in ymt.events(after=0):
            ...

The ledger can be checked without trusting the server: pin `ymt.ledger_keys()` once, keep a signed
`ymt.tree_head()`, then `verify_tree_head(head, keys)`, `ymt.event_included(event, head)` and
`ymt.head_extends(old_head, new_head)` (proofs checked offline in O(log n), RFC 9162).

A webhook receiver checks each delivery with `verify_signature(secret, raw_body, request_headers)` (or with the
`X-Ymt-Signature` value alone); during a secret rotation it accepts either secret's signature.
"""

from yimatong.client.sdk import (
    YmtClient,
    YmtError,
    verify_consistency,
    verify_inclusion,
    verify_signature,
    verify_tree_head,
)

__all__ = ["YmtClient", "YmtError", "verify_consistency", "verify_inclusion", "verify_signature", "verify_tree_head"]

"""The SDK: typed calls over the REST API v1 with httpx."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx

from yimatong.domain import merkle
from yimatong.domain.signatures import pinned_from, signed_text, verify_head

Json = dict[str, Any]


class YmtError(Exception):
    """A problem+json answer: status, detail, field errors and (for duplicates) the existing code."""

    def __init__(self, status: int, body: Json) -> None:
        self.status = status
        self.detail = body.get("detail", "")
        self.errors: list[Json] = body.get("errors", [])
        self.existing_code: str | None = body.get("existing_code")
        self.rule: str | None = body.get("rule")
        self.body = body
        super().__init__(f"{status}: {self.detail}")


SIGNATURE_HEADERS = ("X-Ymt-Signature", "X-Ymt-Signature-Previous")


def verify_signature(secret: str | Iterable[str], body: bytes, header: str | Mapping[str, str] | None,
                     previous: str | None = None) -> bool:
    """Constant-time check of a delivery's signature `sha256=<hex HMAC-SHA256(secret, body)>`.

    `header` is the `X-Ymt-Signature` value, or the request's headers (then `X-Ymt-Signature` and, during a
    secret rotation's overlap window, `X-Ymt-Signature-Previous` are both read). `previous` is the
    `X-Ymt-Signature-Previous` value when passing values. `secret` may be several secrets (the old and the new
    one while switching over). True when any signature matches any secret: a receiver still on the old secret
    and one already on the new one both accept deliveries made during the window."""
    if isinstance(header, Mapping):
        lowered = {k.lower(): v for k, v in header.items()}
        signatures = [lowered.get(h.lower()) for h in SIGNATURE_HEADERS]
    else:
        signatures = [header, previous]
    secrets = [secret] if isinstance(secret, str) else list(secret)
    ok = False
    for key in secrets:
        expected = "sha256=" + hmac.new(key.encode(), body, hashlib.sha256).hexdigest()
        for sig in signatures:
            if sig and sig.startswith("sha256="):
                ok |= hmac.compare_digest(expected, sig)  # no early exit: the time does not tell which matched
    return ok


class YmtClient:
    """One client per neighbour system (its own token and role)."""

    def __init__(self, base_url: str, token: str, timeout: float = 30.0, transport: httpx.BaseTransport | None = None
                 ) -> None:
        self.http = httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout, transport=transport,
                                 headers={"Authorization": f"Bearer {token}", "User-Agent": "yimatong-sdk/1"})

    def __enter__(self) -> YmtClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.http.close()

    def _call(self, method: str, path: str, **kw: Any) -> httpx.Response:
        r = self.http.request(method, "/api/v1" + path, **kw)
        if r.status_code >= 400:
            try:
                body = r.json()
            except ValueError:
                body = {"detail": r.text[:500]}
            raise YmtError(r.status_code, body)
        return r

    # projects (项目列表接口)
    def register_project(self, project: Json, idempotency_key: str | None = None) -> Json:
        """Register and get the code. Pass an idempotency key to retry safely after a network error."""
        key = idempotency_key or str(uuid.uuid4())
        return self._call("POST", "/projects", json=project, headers={"Idempotency-Key": key}).json()

    def get_project(self, code: str) -> Json:
        return self._call("GET", f"/projects/{code}").json()

    def update_project(self, code: str, changes: Json) -> Json:
        return self._call("PATCH", f"/projects/{code}", json=changes).json()

    def list_projects(self, page_size: int = 200, **filters: Any) -> Iterator[Json]:
        """Every project matching the filters, following next_cursor."""
        cursor = None
        while True:
            params = {k: v for k, v in filters.items() if v is not None} | {"limit": page_size}
            if cursor:
                params["cursor"] = cursor
            page = self._call("GET", "/projects", params=params).json()
            yield from page["items"]
            cursor = page["next_cursor"]
            if not cursor:
                return

    def chain(self, code: str) -> Json:
        """The one-code query: project, stages, events, results, parcels."""
        return self._call("GET", f"/projects/{code}/chain").json()

    # stages (项目阶段接口)
    def stages(self, code: str) -> list[Json]:
        return self._call("GET", f"/projects/{code}/stages").json()

    def set_stage(self, code: str, key: str, status: str, **fields: Any) -> Json:
        return self._call("PUT", f"/projects/{code}/stages/{key}", json={"status": status, **fields}).json()

    def add_inspection(self, code: str, **fields: Any) -> Json:
        return self._call("POST", f"/projects/{code}/stages/inspection/records", json=fields).json()

    # results (成果输入接口 / 成果调取接口)
    def add_result(self, code: str, meta: Json, files: list[tuple[str, bytes | Path]] | None = None,
                   idempotency_key: str | None = None) -> Json:
        parts = [("files", (name, data.read_bytes() if isinstance(data, Path) else data, "application/octet-stream"))
                 for name, data in files or []]
        headers = {"Idempotency-Key": idempotency_key or str(uuid.uuid4())}
        return self._call("POST", f"/projects/{code}/results", data={"meta": json.dumps(meta, ensure_ascii=False)},
                          files=parts or None, headers=headers).json()

    def results(self, code: str, stage: str | None = None, kind: str | None = None) -> list[Json]:
        params = {k: v for k, v in {"stage": stage, "kind": kind, "limit": 1000}.items() if v is not None}
        return self._call("GET", f"/projects/{code}/results", params=params).json()["items"]

    def download(self, result_id: int, file_id: int) -> bytes:
        """The file's bytes, checked against the SHA-256 the service computed (its ETag)."""
        r = self._call("GET", f"/results/{result_id}/files/{file_id}")
        digest = hashlib.sha256(r.content).hexdigest()
        if r.headers.get("etag", "").strip('"') != digest:
            raise YmtError(502, {"detail": "下载内容与 SHA-256 不符"})
        return r.content

    def package(self, code: str, purpose: str, target: Path) -> Path:
        """Stream a registration or archive ZIP to a file."""
        with self.http.stream("GET", f"/api/v1/projects/{code}/package", params={"purpose": purpose}) as r:
            if r.status_code >= 400:
                r.read()
                raise YmtError(r.status_code, r.json())
            with open(target, "wb") as out:
                for chunk in r.iter_bytes():
                    out.write(chunk)
        return target

    # parcels and the project box
    def attach_parcel(self, code: str, feature: Json, crs: int | None = None) -> Json:
        params = {"crs": crs} if crs else None
        return self._call("POST", f"/projects/{code}/parcels", json=feature, params=params).json()

    def parcels(self, bbox: tuple[float, float, float, float] | None = None, code: str | None = None) -> Iterator[Json]:
        cursor = None
        while True:
            params: dict[str, Any] = {"limit": 1000}
            if bbox:
                params["bbox"] = ",".join(map(str, bbox))
            if code:
                params["code"] = code
            if cursor:
                params["cursor"] = cursor
            page = self._call("GET", "/parcels", params=params).json()
            yield from page["features"]
            cursor = page.get("next_cursor")
            if not cursor:
                return

    def project_box(self, parcel_id: int | None = None, lon: float | None = None, lat: float | None = None) -> Json:
        if parcel_id is not None:
            return self._call("GET", f"/parcels/{parcel_id}/box").json()
        return self._call("GET", "/project-box", params={"lon": lon, "lat": lat}).json()

    # the change feed
    def events(self, after: int = 0, follow: bool = False, poll: float = 1.0, page_size: int = 500,
               types: str | None = None) -> Iterator[Json]:
        """Events after `after` in seq order. Keep the last seq you processed and pass it to resume.
        With follow=True, polls for new events forever."""
        while True:
            params: dict[str, Any] = {"after": after, "limit": page_size}
            if types:
                params["type"] = types
            items = self._call("GET", "/events", params=params).json()["items"]
            for ev in items:
                after = ev["seq"]
                yield ev
            if len(items) < page_size:
                if not follow:
                    return
                time.sleep(poll)

    def verify_ledger(self) -> Json:
        return self._call("GET", "/ledger/verify").json()

    # webhooks: a system subscribes for itself and sees what its token may see
    def subscribe(self, url: str, secret: str, types: list[str] | None = None, **scope: Any) -> Json:
        return self._call("POST", "/subscriptions", json={"url": url, "secret": secret, "types": types or [],
                                                          **scope}).json()

    def subscriptions(self) -> list[Json]:
        return self._call("GET", "/subscriptions").json()["items"]

    def pause_subscription(self, sid: int) -> Json:
        return self._call("POST", f"/subscriptions/{sid}/pause").json()

    def resume_subscription(self, sid: int) -> Json:
        return self._call("POST", f"/subscriptions/{sid}/resume").json()

    def purge_subscription(self, sid: int) -> int:
        return int(self._call("POST", f"/subscriptions/{sid}/purge").json()["purged"])

    def rotate_secret(self, sid: int, secret: str | None = None, overlap_seconds: int = 86400) -> Json:
        """Switch to a new secret; both signatures are sent during the overlap. Without `secret` the service
        makes one and returns it (only this once) as `secret`."""
        body: Json = {"overlap_seconds": overlap_seconds} | ({"secret": secret} if secret else {})
        return self._call("POST", f"/subscriptions/{sid}/rotate-secret", json=body).json()

    def delete_subscription(self, sid: int) -> None:
        self._call("DELETE", f"/subscriptions/{sid}")

    # the verifiable log (RFC 9162): fetch heads and proofs, check them offline with the functions below
    def tree_head(self, size: int | None = None) -> Json:
        """The signed tree head now (or the one issued for `size`). Keep it: it is your proof of what you saw."""
        return self._call("GET", "/ledger/tree-head", params={"size": size} if size is not None else None).json()

    def ledger_keys(self) -> Json:
        """The log's public keys. Fetch once and pin them (store the JSON); check heads against the pinned copy."""
        return self._call("GET", "/ledger/keys").json()

    def inclusion_proof(self, seq: int, size: int) -> Json:
        return self._call("GET", "/ledger/proof/inclusion", params={"seq": seq, "size": size}).json()

    def consistency_proof(self, first: int, second: int) -> Json:
        return self._call("GET", "/ledger/proof/consistency", params={"first": first, "second": second}).json()

    def cosign_tree_head(self, head: Json, witness: str, sign: Any) -> Json:
        """Co-sign a head as a witness: `sign(message: bytes) -> bytes` with the witness's private key."""
        signature = base64.b64encode(sign(signed_text(head["size"], head["root_hash"], head["timestamp"]))).decode()
        return self._call("POST", "/ledger/tree-head/cosign", json={
            "size": head["size"], "root_hash": head["root_hash"], "witness": witness, "signature": signature}).json()

    def event_included(self, event: Json, head: Json) -> bool:
        """Fetch the inclusion proof of a feed event in `head` and check it offline: any role can check every
        event it sees, even with hidden events between (the feed's seq gaps)."""
        return verify_inclusion(event, head, self.inclusion_proof(event["seq"], head["size"]))

    def head_extends(self, old: Json, new: Json) -> bool:
        """Fetch a consistency proof and check offline that `new` extends `old` (no truncation, no fork)."""
        if old["size"] == new["size"]:
            return verify_consistency(old, new, {"consistency_path": []})
        if old["size"] == 0:
            return True
        return verify_consistency(old, new, self.consistency_proof(old["size"], new["size"]))


def verify_tree_head(head: Json, keys: Json) -> bool:
    """The head is signed by one of the pinned keys (`keys`: the JSON of GET /ledger/keys you stored)."""
    try:
        trusted = pinned_from(json.dumps(keys))
    except ValueError:
        return False
    return verify_head(head, trusted) is None


def verify_inclusion(event: Json, head: Json, proof: Json) -> bool:
    """Offline, O(log n): the event (its `hash`, `seq`) is leaf seq-1 of the tree whose root `head` gives."""
    try:
        if proof["leaf_index"] != event["seq"] - 1 or proof["tree_size"] != head["size"]:
            return False
        alg = head.get("hash_alg", "sha256")
        leaf = merkle.leaf_hash(alg, merkle.leaf_bytes(event["hash"]))
        return merkle.verify_inclusion(alg, proof["leaf_index"], head["size"], leaf,
                                       [bytes.fromhex(p) for p in proof["audit_path"]], bytes.fromhex(head["root_hash"]))
    except (KeyError, TypeError, ValueError):
        return False


def verify_consistency(old: Json, new: Json, proof: Json) -> bool:
    """Offline, O(log n): the tree of `new` extends the tree of `old`."""
    try:
        alg = new.get("hash_alg", "sha256")
        if old.get("hash_alg", alg) != alg:
            return False
        return merkle.verify_consistency(alg, old["size"], new["size"], bytes.fromhex(old["root_hash"]),
                                         bytes.fromhex(new["root_hash"]),
                                         [bytes.fromhex(p) for p in proof["consistency_path"]])
    except (KeyError, TypeError, ValueError):
        return False

"""deploy/nginx/yimatong.conf in front of a live server, on loopback with a throw-away certificate: HTTPS works,
HTTP redirects, the forwarded client address and scheme reach the service (session cookies are Secure behind
TLS, not on plain HTTP), and nginx's request id is the service's."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import ssl
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from conftest import ROOT, YMT, LiveServer, free_port, serve
from web.test_auth import csrf_of

NGINX = Path("/usr/sbin/nginx")  # Debian's package (scripts/setup.sh installs it)
CONF = ROOT / "deploy" / "nginx" / "yimatong.conf"
pytestmark = pytest.mark.skipif(not NGINX.is_file(), reason="nginx 未安装：运行 scripts/setup.sh")


def certificate(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ymt.test")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("ymt.test"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.2"))]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .sign(key, hashes.SHA256()))
    crt, pem = directory / "fullchain.pem", directory / "privkey.pem"
    crt.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pem.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
    return crt, pem


@pytest.fixture
def proxied(db_url: str, tmp_path: Path) -> Iterator[tuple[LiveServer, str, str, Path]]:
    gen = serve(db_url, tmp_path / "srv", {"YMT_DELIVER_WEBHOOKS": "false", "YMT_LOG_FORMAT": "json"})
    server = next(gen)
    crt, pem = certificate(tmp_path)
    https_port, http_port = free_port(), free_port()
    site = (CONF.read_text(encoding="utf-8")
            .replace("listen 443 ssl;", f"listen 127.0.0.2:{https_port} ssl;")
            .replace("listen 80;", f"listen 127.0.0.2:{http_port};")
            .replace("/etc/ssl/yimatong/fullchain.pem", str(crt)).replace("/etc/ssl/yimatong/privkey.pem", str(pem))
            .replace("server 127.0.0.1:8000;", f"server {server.url.removeprefix('http://')};"))
    assert str(https_port) in site and str(crt) in site and server.url.rsplit(":", 1)[1] in site
    run = tmp_path / "nginx"
    run.mkdir()
    temps = "\n".join(f"    {kind}_temp_path {run / kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    (run / "nginx.conf").write_text(f"""daemon off;
pid {run / 'nginx.pid'};
error_log {run / 'error.log'} info;
events {{ worker_connections 64; }}
http {{
    access_log {run / 'access.log'};
{temps}
{site}
}}
""", encoding="utf-8")
    proc = subprocess.Popen([str(NGINX), "-p", str(run), "-c", str(run / "nginx.conf")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"https://127.0.0.2:{https_port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(url + "/healthz", verify=ssl.create_default_context(cafile=str(crt)), timeout=1)
            break
        except httpx.HTTPError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError((run / "error.log").read_text() if (run / "error.log").exists() else "nginx") from None
            time.sleep(0.1)
    yield server, url, f"http://127.0.0.2:{http_port}", crt
    proc.terminate()
    proc.wait(timeout=15)
    next(gen, None)


def _login(client: httpx.Client, username: str, password: str) -> httpx.Response:
    page = client.get("/login")
    return client.post("/login", data={"username": username, "password": password, "csrf": csrf_of(page.text),
                                       "next": "/projects"}, follow_redirects=False)


def test_tls_proxy_forwards_scheme_client_and_request_id(proxied, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    server, https_url, http_url, crt = proxied
    made = subprocess.run([YMT, "user", "create", "--username", "wangwu", "--role", "registrar", "--password-stdin"],
                          env=server.env, input="Correct-horse-9\n", capture_output=True, text=True, timeout=120)
    assert made.returncode == 0, made.stderr
    redirect = httpx.get(http_url + "/projects", follow_redirects=False)
    assert redirect.status_code == 301 and redirect.headers["location"].startswith("https://")

    # from another loopback address than nginx's own: the service must see this one (X-Forwarded-For)
    transport = httpx.HTTPTransport(verify=ssl.create_default_context(cafile=str(crt)), local_address="127.0.0.3")
    with httpx.Client(base_url=https_url, transport=transport) as web:
        r = web.get("/healthz", headers={"X-Request-Id": "client-chosen"})
        assert r.status_code == 200 and r.headers["strict-transport-security"]
        rid = r.headers["x-request-id"]
        assert rid != "client-chosen" and len(rid) == 32  # nginx's $request_id, passed through and echoed
        login = _login(web, "wangwu", "Correct-horse-9")
        assert login.status_code == 303, login.text
        cookies = login.headers.get_list("set-cookie")
        assert cookies and all("Secure" in c for c in cookies)
        page = web.get("/projects", follow_redirects=False)  # the session works through the proxy (a first login
        assert page.status_code == 200 or page.headers["location"].startswith("/account/password")  # sets a password)
    with httpx.Client(base_url=server.url) as direct:  # plain HTTP straight to the service: no Secure flag
        cookies = _login(direct, "wangwu", "Correct-horse-9").headers.get_list("set-cookie")
        assert cookies and not any("Secure" in c for c in cookies)

    log = next(Path(server.env["YMT_DATA_DIR"]).parent.glob(f"server-{server.url.rsplit(':', 1)[1]}.log"))
    deadline = time.monotonic() + 30
    while rid not in log.read_text(encoding="utf-8") and time.monotonic() < deadline:
        time.sleep(0.1)
    lines = [json.loads(x) for x in log.read_text(encoding="utf-8").splitlines() if x.strip()]
    seen = [x for x in lines if x.get("request_id") == rid and x.get("msg") == "request"]
    assert seen and seen[0]["client"] == "127.0.0.3" and seen[0]["path"] == "/healthz"

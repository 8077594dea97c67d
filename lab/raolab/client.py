#!/usr/bin/python3
"""What a user of the cloud does, from the lab's client namespace (standard library only).

Run as `ip netns exec <pfx>-cl /usr/bin/python3 client.py COMMAND ...`; every command
prints one JSON object on stdout. The admin password comes from the environment
(LAB_OS_PASSWORD), never from the command line.

    poll OUT KEYSTONE_URL GLANCE_URL [INTERVAL] [TIMEOUT] [work]
        GET <keystone>/v3 and <glance>/healthcheck every INTERVAL s (default 0.1), each
        bounded by TIMEOUT s (default 1.5), started on schedule even while earlier ones
        hang, until stdin closes (or SIGTERM). Appends "epoch api ok code latency" lines
        to OUT. "work": real work instead (a load): a token issued for admin (password
        auth, 201) and an image list with the latest token (200), every INTERVAL s.
        "tokens": as work, and Keystone's sample also validates the new token and every
        token in LAB_OLD_TOKENS (space-separated; GET /v3/auth/tokens, 200): with HAProxy
        in front, each request may meet another controller, as clients' requests do.
    check KEYSTONE_URL GLANCE_URL        one GET of each, plus a token and an image list
    token KEYSTONE_URL                   issue a token for admin/admin
    validate KEYSTONE_URL TOKEN          validate TOKEN (GET /v3/auth/tokens) with a new admin token
    upload KEYSTONE_URL GLANCE_URL NAME SIZE   create an image of SIZE random bytes
    verify KEYSTONE_URL GLANCE_URL ID SHA256   the image is listed, active, downloads with SHA256
    delete KEYSTONE_URL GLANCE_URL NAME_PREFIX delete every image whose name starts so
    user KEYSTONE_URL NAME [create|find]  create a user of that name in the Default domain
                                          (201), or find it: {"id": ..., "status": HTTP code}
"""

import hashlib
import http.client
import json
import os
import signal
import sys
import threading
import time
from typing import Callable, Dict, List, Optional, Tuple
from urllib.parse import urlsplit

TIMEOUT = 20.0
MAX_IN_FLIGHT = 30


def request(url: str, method: str = "GET", body: Optional[bytes] = None,
            headers: Optional[Dict[str, str]] = None, timeout: float = TIMEOUT) -> Tuple[int, Dict[str, str], bytes]:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=timeout)
    try:
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data
    finally:
        conn.close()


def admin_token(keystone: str, timeout: float = TIMEOUT) -> str:
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "admin", "domain": {"name": "Default"}, "password": os.environ["LAB_OS_PASSWORD"]}}},
        "scope": {"project": {"name": "admin", "domain": {"name": "Default"}}}}}
    status, headers, data = request(f"{keystone}/v3/auth/tokens", "POST", json.dumps(body).encode(),
                                    {"Content-Type": "application/json"}, timeout=timeout)
    if status != 201:
        raise RuntimeError(f"token issue: HTTP {status} {data[:200]!r}")
    return headers["x-subject-token"]


# ---------------------------------------------------------------- poller

def _health_requests(keystone: str, glance: str, timeout: float) -> Dict[str, Callable[[], Tuple[bool, object]]]:
    def get(url: str) -> Tuple[bool, object]:
        status, _, _ = request(url, timeout=timeout)
        return status == 200, status
    return {"keystone": lambda: get(f"{keystone}/v3"), "glance": lambda: get(f"{glance}/healthcheck")}


def _work_requests(keystone: str, glance: str, timeout: float,
                   validate: Optional[List[str]] = None) -> Dict[str, Callable[[], Tuple[bool, object]]]:
    """validate (mode "tokens"): Keystone's sample also validates the new token and these."""
    latest = {"token": ""}

    def issue() -> Tuple[bool, object]:
        try:
            latest["token"] = admin_token(keystone, timeout)
        except RuntimeError as err:   # an HTTP answer other than 201
            return False, str(err).split()[3] if len(str(err).split()) > 3 else "error"
        for subject in ([latest["token"]] + validate) if validate is not None else []:
            status, _, _ = request(f"{keystone}/v3/auth/tokens", timeout=timeout,
                                   headers={"X-Auth-Token": latest["token"], "X-Subject-Token": subject})
            if status != 200:
                return False, status
        return True, 201

    def images() -> Tuple[bool, object]:
        status, _, _ = request(f"{glance}/v2/images?limit=5", headers={"X-Auth-Token": latest["token"]},
                               timeout=timeout)
        return status == 200, status
    return {"keystone": issue, "glance": images}


def poll(out: str, keystone: str, glance: str, interval: float = 0.1, timeout: float = 1.5,
         mode: str = "health") -> Dict:
    """Start one request per API every `interval` s, whether or not the previous ones have
    answered (a hung or unreachable API does not stretch the sampling), at most
    MAX_IN_FLIGHT per API. Each line: start epoch, api, ok, status, latency. ``mode``:
    "health" (the unauthenticated GETs) or "work" (token issue, image list)."""
    stop = threading.Event()
    lock = threading.Lock()
    sink = open(out, "a", buffering=1)
    in_flight = {"keystone": 0, "glance": 0}
    if mode == "health":
        requests = _health_requests(keystone, glance, timeout)
    else:
        requests = _work_requests(keystone, glance, timeout,
                                  os.environ.get("LAB_OLD_TOKENS", "").split() if mode == "tokens" else None)

    def one(api: str) -> None:
        t = time.time()
        t0 = time.monotonic()
        try:
            ok, status = requests[api]()
        except Exception as err:  # refused, reset, timed out: the API is down for the client
            status, ok = type(err).__name__, False
        latency = time.monotonic() - t0
        with lock:
            if not sink.closed:
                sink.write(f"{t:.3f} {api} {int(ok)} {status} {latency:.3f}\n")
            in_flight[api] -= 1

    def loop() -> None:
        next_at = time.monotonic()
        while not stop.is_set():
            for api in ("keystone", "glance"):
                with lock:
                    if in_flight[api] >= MAX_IN_FLIGHT:
                        continue
                    in_flight[api] += 1
                threading.Thread(target=one, args=(api,), daemon=True).start()
            next_at += interval
            delay = next_at - time.monotonic()
            if delay > 0:
                stop.wait(delay)
            else:
                next_at = time.monotonic()

    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    scheduler = threading.Thread(target=loop, daemon=True)
    scheduler.start()
    print(json.dumps({"polling": True}), flush=True)
    try:
        while not stop.is_set():   # until stdin closes: the driver holds the other end
            if not sys.stdin.readline():
                break
    finally:
        stop.set()
        scheduler.join(interval + 1)
        deadline = time.monotonic() + timeout + 1
        while time.monotonic() < deadline:
            with lock:
                if not any(in_flight.values()):
                    break
            time.sleep(0.05)
        with lock:
            sink.close()
    return {"stopped": True}


# ---------------------------------------------------------------- one-shot commands

def check(keystone: str, glance: str) -> Dict:
    result = {}
    status, _, data = request(f"{keystone}/v3", timeout=5)
    result["keystone_v3"] = status
    result["keystone_version"] = json.loads(data)["version"]["id"] if status == 200 else None
    status, _, data = request(f"{glance}/versions", timeout=5)
    result["glance_versions"] = status
    token = admin_token(keystone)
    result["token"] = bool(token)
    status, _, data = request(f"{glance}/v2/images?limit=1", headers={"X-Auth-Token": token}, timeout=10)
    result["glance_images"] = status
    return result


def token(keystone: str) -> Dict:
    return {"token": admin_token(keystone)}


def validate(keystone: str, subject: str) -> Dict:
    status, _, data = request(f"{keystone}/v3/auth/tokens",
                              headers={"X-Auth-Token": admin_token(keystone), "X-Subject-Token": subject})
    info = json.loads(data).get("token", {}) if status == 200 else {}
    return {"status": status, "user": info.get("user", {}).get("name"), "expires_at": info.get("expires_at")}


def upload(keystone: str, glance: str, name: str, size: int) -> Dict:
    tok = admin_token(keystone)
    payload = os.urandom(size)
    meta = {"name": name, "disk_format": "raw", "container_format": "bare", "visibility": "private"}
    status, _, data = request(f"{glance}/v2/images", "POST", json.dumps(meta).encode(),
                              {"X-Auth-Token": tok, "Content-Type": "application/json"})
    if status != 201:
        raise RuntimeError(f"image create: HTTP {status} {data[:300]!r}")
    image_id = json.loads(data)["id"]
    status, _, data = request(f"{glance}/v2/images/{image_id}/file", "PUT", payload,
                              {"X-Auth-Token": tok, "Content-Type": "application/octet-stream"}, timeout=60)
    if status != 204:
        raise RuntimeError(f"image upload: HTTP {status} {data[:300]!r}")
    status, _, data = request(f"{glance}/v2/images/{image_id}", headers={"X-Auth-Token": tok})
    image = json.loads(data)
    return {"id": image_id, "status": image.get("status"), "size": image.get("size"),
            "sha256": hashlib.sha256(payload).hexdigest(), "md5": hashlib.md5(payload).hexdigest(),
            "glance_checksum": image.get("checksum"), "os_hash_value": image.get("os_hash_value")}


def verify(keystone: str, glance: str, image_id: str, sha256: str) -> Dict:
    tok = admin_token(keystone)
    status, _, data = request(f"{glance}/v2/images?limit=1000", headers={"X-Auth-Token": tok})
    listed = status == 200 and any(i["id"] == image_id for i in json.loads(data)["images"])
    status, _, data = request(f"{glance}/v2/images/{image_id}", headers={"X-Auth-Token": tok})
    image = json.loads(data) if status == 200 else {}
    status, _, payload = request(f"{glance}/v2/images/{image_id}/file", headers={"X-Auth-Token": tok}, timeout=60)
    return {"listed": listed, "status": image.get("status"), "download": status,
            "sha256": hashlib.sha256(payload).hexdigest() if status == 200 else None,
            "md5": hashlib.md5(payload).hexdigest() if status == 200 else None,
            "glance_checksum": image.get("checksum"), "same": status == 200
            and hashlib.sha256(payload).hexdigest() == sha256}


def delete(keystone: str, glance: str, prefix: str) -> Dict:
    tok = admin_token(keystone)
    status, _, data = request(f"{glance}/v2/images?limit=1000", headers={"X-Auth-Token": tok})
    gone = []
    for image in json.loads(data)["images"] if status == 200 else []:
        if image.get("name", "").startswith(prefix):
            code, _, _ = request(f"{glance}/v2/images/{image['id']}", "DELETE", headers={"X-Auth-Token": tok})
            if code == 204:
                gone.append(image["id"])
    return {"deleted": gone}


def user(keystone: str, name: str, action: str = "find") -> Dict:
    tok = admin_token(keystone)
    if action == "create":
        body = {"user": {"name": name, "domain_id": "default", "enabled": True}}
        status, _, data = request(f"{keystone}/v3/users", "POST", json.dumps(body).encode(),
                                  {"X-Auth-Token": tok, "Content-Type": "application/json"})
        return {"status": status, "id": json.loads(data)["user"]["id"] if status == 201 else None}
    status, _, data = request(f"{keystone}/v3/users?name={name}", headers={"X-Auth-Token": tok})
    found = json.loads(data).get("users", []) if status == 200 else []
    return {"status": status, "id": found[0]["id"] if found else None}


def main(argv) -> int:
    cmd, args = argv[1], argv[2:]
    try:
        if cmd == "poll":
            result = poll(args[0], args[1], args[2], *(float(a) for a in args[3:5]),
                          *(args[5:6] if args[5:6] in (["work"], ["tokens"]) else []))
        elif cmd == "check":
            result = check(*args)
        elif cmd == "token":
            result = token(*args)
        elif cmd == "validate":
            result = validate(*args)
        elif cmd == "upload":
            result = upload(args[0], args[1], args[2], int(args[3]))
        elif cmd == "verify":
            result = verify(*args)
        elif cmd == "delete":
            result = delete(*args)
        elif cmd == "user":
            result = user(*args)
        else:
            print(__doc__, file=sys.stderr)
            return 2
    except Exception as err:
        print(json.dumps({"error": f"{type(err).__name__}: {err}"}), flush=True)
        return 1
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

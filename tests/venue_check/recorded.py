"""A tiny loopback HTTP server answering from recorded venue answers, and the accounts that point a config at it."""

from __future__ import annotations

import base64
import copy
import json
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ANSWERS = Path(__file__).parent / "answers"
LIGHTER_ACCOUNT_INDEX = 12345
LIGHTER_API_KEY_INDEX = 3
GRVT_SUB_ACCOUNT = 8289849667772468


def recorded(venue: str) -> dict[str, Any]:
    return json.loads((ANSWERS / f"{venue}.json").read_text())


def altered(answers: dict[str, Any], key: str, path: list[str | int], action: str, value: Any = None
            ) -> dict[str, Any]:
    """A copy of ``answers`` with the field at ``path`` in ``key``'s body removed (``action`` "remove") or replaced
    by ``value`` ("retype")."""
    changed = copy.deepcopy(answers)
    holder = changed[key]
    name: str | int = "body"
    for step in path:
        holder, name = holder[name], step
    if action == "remove":
        del holder[name]
    else:
        holder[name] = value
    return changed


@contextmanager
def serve(answers: dict[str, Any], replacements: dict[str, str] | None = None) -> Iterator[str]:
    """Answer every request from ``answers`` (keyed ``"METHOD /path"``) on 127.0.0.1; yields the base URL."""
    text = json.dumps(answers)
    for placeholder, value in (replacements or {}).items():
        text = text.replace("{{" + placeholder + "}}", value)
    table = json.loads(text)

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            entry = table.get(f"{self.command} {urlsplit(self.path).path}")
            if entry is None:
                entry = {"status": 404, "body": {"code": 404, "message": "no recorded answer"}}
            body = json.dumps(entry["body"]).encode()
            self.send_response(entry["status"])
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for name, value in entry.get("headers", {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_DELETE = _answer

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def lighter_key() -> tuple[str, str]:
    """A fresh Lighter api key pair (private, public) from the SDK's own generator."""
    import lighter

    private, public, error = lighter.create_api_key()
    assert error is None
    return private, public[2:] if public.startswith("0x") else public


def accounts(url: str, *, lighter_private_key: str) -> dict[str, Any]:
    """An accounts document (``sim serve --accounts-out`` shape) whose venues are all at ``url``."""
    from nacl.signing import SigningKey

    key = SigningKey.generate()
    lighter_account = {"api_key_index": LIGHTER_API_KEY_INDEX, "api_private_key": lighter_private_key}
    return {
        "backpack": {"url": url, "accounts": [{
            "name": "backpack", "api_key": base64.b64encode(bytes(key.verify_key)).decode(),
            "api_secret": base64.b64encode(bytes(key)).decode()}]},
        "lighter": {"url": url, "accounts": [
            {"name": "lighter1", "account_index": LIGHTER_ACCOUNT_INDEX, **lighter_account},
            {"name": "lighter2", "account_index": LIGHTER_ACCOUNT_INDEX + 1, **lighter_account}]},
        "grvt": {"url": url, "accounts": [{
            "name": "grvt", "api_key": secrets.token_urlsafe(20), "private_key": "0x" + secrets.token_hex(32),
            "sub_account_id": GRVT_SUB_ACCOUNT, "chain_id": 326}]},
    }

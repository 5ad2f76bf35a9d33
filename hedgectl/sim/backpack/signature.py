"""Paper Backpack's signature check: the signing string is rebuilt from the parsed JSON body (POST, DELETE, PATCH) or
query string (GET), so it does not depend on whitespace or key order; the window defaults to 5000 ms and may not
exceed 60000; a request older than its window has expired."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

from hedgectl.sim.backpack.wire import ApiError, bad_request

DEFAULT_WINDOW_MS = 5000
MAX_WINDOW_MS = 60000

# (method, path) -> instruction of the signing string.
SIGNED_ROUTES: dict[tuple[str, str], str] = {
    ("POST", "/api/v1/order"): "orderExecute",
    ("GET", "/api/v1/order"): "orderQuery",
    ("DELETE", "/api/v1/order"): "orderCancel",
    ("POST", "/api/v1/orders"): "orderExecute",
    ("GET", "/api/v1/orders"): "orderQueryAll",
    ("DELETE", "/api/v1/orders"): "orderCancelAll",
    ("GET", "/wapi/v1/history/orders"): "orderHistoryQueryAll",
    ("GET", "/wapi/v1/history/fills"): "fillHistoryQueryAll",
    ("GET", "/api/v1/position"): "positionQuery",
    ("GET", "/api/v1/capital"): "balanceQuery",
    ("GET", "/api/v1/capital/collateral"): "collateralQuery",
    ("GET", "/api/v1/account"): "accountQuery",
    ("PATCH", "/api/v1/account"): "accountUpdate",
    ("GET", "/api/v1/account/limits/order"): "maxOrderQuantity",
}


def signing_value(value: Any) -> str:
    """A parameter value as it appears in the signing string: booleans ``true``/``false``, the rest as text."""
    if value is True:
        return "true"
    if value is False:
        return "false"
    return str(value)


def signing_string(instruction: str, params: dict[str, Any] | list[dict[str, Any]], timestamp: str,
                   window: str) -> str:
    """Backpack's signed message for ``params`` (a dict, or a list of orders for a batch); null values are omitted."""
    items = params if isinstance(params, list) else [params]
    pieces = []
    for item in items:
        fields = "&".join(f"{key}={signing_value(value)}" for key, value in sorted(item.items()) if value is not None)
        if isinstance(params, list):
            pieces.append(f"instruction={instruction}" + (f"&{fields}" if fields else ""))
        elif fields:
            pieces.append(fields)
    if isinstance(params, list):
        body = "&".join(pieces)
    else:
        body = f"instruction={instruction}" + ("&" + pieces[0] if pieces else "")
    return f"{body}&timestamp={timestamp}&window={window}"


def authenticate(headers: Mapping[str, str], instruction: str, params: Any, now_ms: int,
                 verify_keys: Mapping[str, VerifyKey]) -> str:
    """The API key (public key) that signed a request, or ApiError: the headers, the window and the signature are
    checked as the venue does."""
    api_key = headers.get("X-API-Key")
    signature_text = headers.get("X-Signature")
    timestamp_text = headers.get("X-Timestamp")
    window_text = headers.get("X-Window")
    if not api_key:
        raise bad_request("Invalid X-API-Key header")
    if not signature_text:
        raise bad_request("Invalid X-Signature header")
    if not timestamp_text or not timestamp_text.isdigit():
        raise bad_request("Invalid X-Timestamp header")
    if window_text is None:
        window_text = str(DEFAULT_WINDOW_MS)
    if not window_text.isdigit():
        raise bad_request("Invalid X-Window header")
    if int(window_text) > MAX_WINDOW_MS:
        raise bad_request(f"Invalid X-Window header: window must not exceed {MAX_WINDOW_MS}")
    if now_ms > int(timestamp_text) + int(window_text):
        raise ApiError(401, "INVALID_CLIENT_REQUEST", "Request has expired")
    try:
        signature = base64.b64decode(signature_text, validate=True)
    except (binascii.Error, ValueError):
        raise bad_request("Invalid X-Signature header") from None
    if len(signature) != 64:
        raise bad_request("Invalid X-Signature header")
    verify_key = verify_keys.get(api_key)
    message = signing_string(instruction, params, timestamp_text, window_text).encode()
    try:
        if verify_key is None:
            raise BadSignatureError("unknown key")
        verify_key.verify(message, signature)
    except BadSignatureError:
        raise ApiError(401, "INVALID_CLIENT_REQUEST", "Invalid signature") from None
    return api_key

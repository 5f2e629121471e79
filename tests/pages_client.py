"""Driving the pages over HTTP as a browser would: cookies kept, the CSRF token read from each form."""

from __future__ import annotations

import re
from html import unescape
from typing import Any

from httpx import Response
from litestar.testing import AsyncTestClient

CSRF_INPUT = re.compile(r'name="_csrf_token" value="([^"]+)"')


def csrf_token(html: str) -> str:
    found = CSRF_INPUT.search(html)
    assert found is not None, "the page has no CSRF token"
    return unescape(found.group(1))


async def submit(
    client: AsyncTestClient[Any], page: str, action: str, data: dict[str, Any] | list[tuple[str, str]]
) -> Response:
    """GET ``page``, then POST ``data`` with the page's CSRF token to ``action``, as its form would."""
    shown = await client.get(page)
    assert shown.status_code == 200, shown.text
    fields = list(data.items()) if isinstance(data, dict) else list(data)
    form: dict[str, list[str]] = {"_csrf_token": [csrf_token(shown.text)]}
    for name, value in fields:
        form.setdefault(name, []).append(value)
    return await client.post(action, data=form, follow_redirects=False)


async def sign_in(client: AsyncTestClient[Any], token: str) -> Response:
    return await submit(client, "/login", "/login", {"token": token})

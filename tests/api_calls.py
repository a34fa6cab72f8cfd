"""Calls through the API's in-process door as a named account, for the API tests of every resource.

`api()` checks the answer against the endpoint's declared status and response schema and returns its data;
`refused()` expects the call to be refused and returns the `ApiError` (its status, code and words).
"""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest

from workbench.accounts import Access, Accounts
from workbench.api import core
from workbench.api.core import ApiError, Call
from workbench.store import Store


def access(store: Store, name: str) -> Access:
    return Access(store, Accounts(store).get(name), f"api:test@{name}")


def api(store: Store, who: str, method: str, path: str, body: Any = None, query: dict[str, str] | None = None) -> Any:
    """One call as `who`; its answer checked against the endpoint's schema; the data."""
    reply = core.dispatch(Call(access(store, who), body=body, local=True), method, path, query)
    ep, _ = core.find(method, path)
    assert reply.status == ep.status
    if ep.response is not None:
        jsonschema.validate(reply.data, ep.response)
    return reply.data


def refused(
    store: Store, who: str, method: str, path: str, body: Any = None, query: dict[str, str] | None = None
) -> ApiError:
    with pytest.raises(ApiError) as e:
        core.dispatch(Call(access(store, who), body=body, local=True), method, path, query)
    return e.value

"""Names of procrastinate 3.x's public API that our package keeps (issue 11 item 6)."""

from __future__ import annotations

from typing import Any

import pytest

from procrastinate import connector, exceptions, middleware

SUPPORT = "does not support external connections"


@pytest.mark.parametrize(
    "name", ["execute_query_one_with_connection", "execute_query_all_with_connection"]
)
def test_sync_caller_connection_methods_keep_their_3x_names(name: str) -> None:
    method = getattr(connector.BaseConnector(), name)
    with pytest.raises(exceptions.ConnectorException, match=SUPPORT):
        method(object(), "SELECT 1")


@pytest.mark.parametrize(
    "name",
    [
        "execute_query_one_async_with_connection",
        "execute_query_all_async_with_connection",
    ],
)
async def test_async_caller_connection_methods_have_their_3x_names(name: str) -> None:
    method = getattr(connector.BaseConnector(), name)
    with pytest.raises(exceptions.ConnectorException, match=SUPPORT):
        await method(object(), "SELECT 1")


def test_middleware_kind_has_its_3x_name() -> None:
    async def asynchronous(call_next: Any, context: Any, worker: Any) -> Any:
        return await call_next()

    def synchronous(call_next: Any, context: Any, worker: Any) -> Any:
        return call_next()

    assert middleware.is_async_middleware(asynchronous)
    assert not middleware.is_async_middleware(synchronous)

"""Fixtures of the registry tests: a service context on the test database."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from pv_service.config import Settings
from pv_service.context import ServiceContext


@pytest.fixture
async def context(settings: Settings) -> AsyncIterator[ServiceContext]:
    context = ServiceContext.from_settings(settings)
    yield context
    await context.database.dispose()

"""The module-scoped paper engine on local Ray, shared by the actor test modules.

A module that wants it defines a module-scoped ``engine_spec`` fixture (which also starts the Ray
it runs on) and asks for ``engine``. The helper is imported inside the fixture so that the other
engine tests, which never start Ray, do not pay for importing it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import pytest
import pytest_asyncio

if TYPE_CHECKING:
    from tests.engine.ray_support import EngineSpec, Running


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def engine(engine_spec: EngineSpec, tmp_path_factory: pytest.TempPathFactory
                 ) -> AsyncIterator[Running]:
    from tests.engine.ray_support import running_engine

    async with running_engine(engine_spec, tmp_path_factory.mktemp("paper")) as running:
        yield running

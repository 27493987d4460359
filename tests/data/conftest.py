from __future__ import annotations

import pytest

from data.contract import CONTRACTS_DIR, Contract, load_contracts


@pytest.fixture(scope="session")
def contracts() -> dict[str, Contract]:
    return load_contracts(CONTRACTS_DIR)

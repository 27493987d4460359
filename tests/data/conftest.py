from __future__ import annotations

from pathlib import Path

import pytest

from data.contract import CONTRACTS_DIR, Contract, load_contracts


@pytest.fixture(scope="session")
def contracts() -> dict[str, Contract]:
    return load_contracts(CONTRACTS_DIR)


DWP_HEADER = "record_id,claim_id,nino,forename,surname,dob,postcode,benefit_type,start_date,end_date"


def dwp_file(tmp_path: Path, rows: list[str], *, header: str = DWP_HEADER, name: str = "dwp_benefits.csv",
             encoding: str = "utf-8", newline: str = "\n", final_newline: bool = True) -> Path:
    text = newline.join([header, *rows]) + (newline if final_newline else "")
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path

from __future__ import annotations

import pytest

from tests.factories import REFERENCE


@pytest.fixture(scope="session")
def synth_records(synth_small):
    """The small synthetic population's extracts, ingested and standardised."""
    from data.contract import load_contracts
    from data.ingest import ingest_extract
    from data.readers import locate_extracts
    from matching import pipeline
    from matching.spec import PROGRAMME_SPEC

    contracts = load_contracts()
    tables = {s: ingest_extract(p, contracts[s]).records for s, p in locate_extracts(synth_small / "extracts", contracts).items()}
    return pipeline.person_records(PROGRAMME_SPEC, tables, REFERENCE)

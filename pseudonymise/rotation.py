"""Key rotation: the old-to-new mapping of every pseudonym a run published, so the evaluation can follow
people across the change. The mapping holds pseudonyms only; it is sent like the cohort file."""

from __future__ import annotations

import pandas as pd

from pseudonymise.pseudonyms import Pseudonymiser
from pseudonymise.submission import match_key_inputs


def council_key_mapping(crosswalk: pd.DataFrame, la_code: str, old: Pseudonymiser, new: Pseudonymiser) -> pd.DataFrame:
    """Family and person pseudonyms under the old and the new council key."""
    families = (la_code + ":" + crosswalk["family_id"].astype(str)).drop_duplicates()
    persons = crosswalk["person_id"].astype(str).drop_duplicates()
    return pd.concat([
        pd.DataFrame({"field": "family_pseudo_id", "old": old.column("family", families), "new": new.column("family", families)}),
        pd.DataFrame({"field": "person_pseudo_id", "old": old.column("person", persons), "new": new.column("person", persons)}),
    ], ignore_index=True)


def evaluation_key_mapping(people: pd.DataFrame, old: Pseudonymiser, new: Pseudonymiser) -> pd.DataFrame:
    """Match keys under the old and the new evaluation key, for the people of one run."""
    parts = []
    for field, (label, values) in match_key_inputs(people).items():
        values = values.dropna().drop_duplicates()
        parts.append(pd.DataFrame({"field": field, "old": old.column(label, values), "new": new.column(label, values)}))
    return pd.concat(parts, ignore_index=True)


def run_key_fingerprints(run_manifest: dict) -> dict[str, str]:
    """The fingerprints of the keys a run's submission was made with, from its manifest (either layout)."""
    submission = run_manifest["submission"]
    described = submission["cohort"] if "cohort" in submission else submission  # the earlier layout: one package
    return dict(described["key_fingerprints"])

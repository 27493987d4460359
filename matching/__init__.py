"""Person linkage: standardise, block, compare, score (Fellegi-Sunter), cluster.

Pure functions over pandas/Arrow tables; nothing here imports Prefect."""

"""The linkage's steps on a Dask cluster, for data bigger than one machine.

The comparisons, rules and decisions are the same objects the in-process steps use;
only how the work is split and where it runs differs, and the results are the same.
Each worker reads its slice of the intermediate tables from shared storage, so the
tables are never gathered on the machine that started the run.
"""

"""Excel workbooks written the same way every time, so that the same content gives the same bytes.

openpyxl stamps a workbook with the time it was made, in its document
properties and on every entry of its zip: two writes of one table differ.
Reruns of a month must leave their outputs byte for byte as they were, and
the generator's files must depend on the seed alone, so those stamps are fixed.
"""

from __future__ import annotations

import io
import re
import zipfile

FIXED_ZIP_TIME = (2026, 1, 1, 0, 0, 0)


def without_timestamps(workbook_bytes: bytes) -> bytes:
    """The workbook with a fixed time on every zip entry and document property, so a seed gives the same bytes."""
    source = zipfile.ZipFile(io.BytesIO(workbook_bytes))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "docProps/core.xml":
                data = re.sub(rb"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z", b"2026-01-01T00:00:00Z", data)
            target.writestr(zipfile.ZipInfo(item.filename, date_time=FIXED_ZIP_TIME), data,
                            compress_type=zipfile.ZIP_DEFLATED)
    return out.getvalue()



"""JSON Lines call files: one object a line with ``identity`` (a header value or a list of
them), ``orig``, ``dest`` and optional ``time`` (Unix seconds or ISO 8601) and ``call_id``.

A line that is not such an object is a record with ``invalid`` set (never an exception).
"""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Iterator
from typing import Any

from .records import CallRecord, Progress, plausible_time
from .text import lines

__all__ = ["jsonl_record", "read_jsonl"]


def _time_value(v: Any) -> float | None:
    if v is None:
        return None
    if isinstance(v, bool):
        raise ValueError("time is not a number")
    if isinstance(v, int | float):
        t = float(v)
    elif isinstance(v, str):
        s = v.strip()
        try:
            t = float(s)
        except ValueError:
            d = _dt.datetime.fromisoformat(s.replace("Z", "+00:00"))
            if d.tzinfo is None:
                d = d.replace(tzinfo=_dt.timezone.utc)
            t = d.timestamp()
    else:
        raise ValueError("time is not a number or ISO 8601 string")
    if plausible_time(t) is None:
        raise ValueError(f"time {v!r} is not a Unix time between 1970 and 9999")
    return t


def _number_value(v: Any, what: str) -> str | None:
    if v is None:
        return None
    if isinstance(v, str):
        return v
    if isinstance(v, int) and not isinstance(v, bool):
        return str(v)
    raise ValueError(f"{what} is not a string")


def jsonl_record(name: str, line_no: int, raw: bytes) -> CallRecord:
    try:
        obj = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as e:
        return CallRecord(name, line=line_no, invalid=f"not valid JSON ({str(e)[:80]})")
    if not isinstance(obj, dict):
        return CallRecord(name, line=line_no, invalid="not a JSON object")
    try:
        ident = obj.get("identity")
        if ident is None:
            values: tuple[str, ...] = ()
        elif isinstance(ident, str):
            values = (ident,) if ident.strip() else ()
        elif isinstance(ident, list) and all(isinstance(x, str) for x in ident):
            values = tuple(x for x in ident if x.strip())
        else:
            raise ValueError("identity is not a string or a list of strings")
        call_id = obj.get("call_id")
        return CallRecord(
            name,
            line=line_no,
            time=_time_value(obj.get("time")),
            identity=values,
            orig=_number_value(obj.get("orig"), "orig"),
            dest=_number_value(obj.get("dest"), "dest"),
            call_id=None if call_id is None else str(call_id),
        )
    except (ValueError, OverflowError) as e:
        return CallRecord(name, line=line_no, invalid=str(e)[:120])


def read_jsonl(name: str, f: Any, max_bytes: int, tick: Progress) -> Iterator[CallRecord]:
    nbytes = 0
    for line_no, raw in enumerate(lines(f, max_bytes), start=1):
        nbytes += len(raw)
        if not line_no % 4096:
            tick(line_no, nbytes)
        if len(raw) > max_bytes:
            yield CallRecord(name, line=line_no, invalid=f"line is over {max_bytes} bytes")
        elif raw.strip():
            yield jsonl_record(name, line_no, raw)

"""Ledger errors as people read them (``rules status``): a run of attempts that failed alike
said once, durations of rows written by older releases in today's words."""

from __future__ import annotations

import re
from typing import Any

from ..store.ledger import EARLIER_SEP, NEVER_COMPLETED


def _old_age(m: re.Match[str]) -> str:
    """``max_age 1 day, 0:00:00`` as rows written before durations were readable say it."""
    from datetime import timedelta

    from ..util import duration

    days, h, mi, sec = (int(m.group(i) or 0) for i in (2, 3, 4, 5))
    return "max_age " + duration(timedelta(days=days, hours=h, minutes=mi, seconds=sec))


def error_text(text: str | None) -> str | None:
    """A ledger error for people: runs of attempts that failed alike are said once
    (``boom (attempts 1-4/4)``), newest first like the ledger keeps them; durations of
    older rows written readably."""

    if not text:
        return text
    text = re.sub(r"max_age ((\d+) days?, )?(\d+):(\d\d):(\d\d)\b", _old_age, text)
    body, never, tail = text.partition(NEVER_COMPLETED)
    runs: list[list[Any]] = []  # [message, newest attempt, oldest attempt, of]
    for entry in body.split(EARLIER_SEP):
        m = re.fullmatch(r"(.*) \(attempt (\d+)/(\d+)\)", entry, flags=re.S)
        msg, n, of = (m.group(1), int(m.group(2)), m.group(3)) if m else (entry, None, None)
        last = runs[-1] if runs else None
        if last and n is not None and last[0] == msg and last[3] == of and last[2] == n + 1:
            last[2] = n
        else:
            runs.append([msg, n, n, of])
    parts = []
    for msg, newest, oldest, of in runs:
        if newest is None:
            parts.append(msg)
        elif newest == oldest:
            parts.append(f"{msg} (attempt {newest}/{of})")
        else:
            parts.append(f"{msg} (attempts {oldest}-{newest}/{of})")
    return EARLIER_SEP.join(parts) + never + tail

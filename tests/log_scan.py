"""Every log line of the suite, scanned for personal data when it ends.

The suite sends NIRs, phone numbers and e-mail addresses in reports on purpose (they must be refused) and
issues tokens by the hundred: none of them may reach a log. Records are collected as they are made, whatever
logger or handler (uvicorn's loggers do not propagate), and the service processes' log files are read at the
end.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pv_service.rules.personal_identifiers import find_personal_identifier
from pv_service.users.service import TOKEN_PATTERN

# The tests' own HTTP client logs each URL it asks for, including the identifiers tests send on purpose.
CLIENT_LOGGERS = ("httpx", "httpcore")


def personal_data_in(line: str) -> str | None:
    """What kind of personal data ``line`` holds (``nir``, ``phone``, ``email``, ``token``), if any."""
    if TOKEN_PATTERN.search(line):
        return "token"
    return find_personal_identifier(line)


def _text(record: logging.LogRecord) -> str:
    try:
        text = record.getMessage()
    except (TypeError, ValueError):  # a record whose arguments do not fit its format: scan both
        text = f"{record.msg} {record.args}"
    if record.exc_info and record.exc_info[1] is not None:
        text += "\n" + "".join(traceback.format_exception(record.exc_info[1]))
    return text


@contextmanager
def collected_log_lines() -> Iterator[list[str]]:
    """Each record made while the block runs, as ``logger: text``, in the list it yields (the client's left out)."""
    lines: list[str] = []
    make: Callable[..., logging.LogRecord] = logging.getLogRecordFactory()

    def collecting(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make(*args, **kwargs)
        if not record.name.startswith(CLIENT_LOGGERS):
            lines.append(f"{record.name}: {_text(record)}")
        return record

    logging.setLogRecordFactory(collecting)
    try:
        yield lines
    finally:
        logging.setLogRecordFactory(make)


def log_files(folder: Path) -> Iterator[tuple[str, str]]:
    """``(file: line number, line)`` of every ``*.log`` file under ``folder``."""
    for path in sorted(folder.rglob("*.log")):
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            yield f"{path.name}:{number}", line


def leaks(lines: Iterable[tuple[str, str]]) -> list[str]:
    """The lines that hold personal data, each with where it was and what kind."""
    found = []
    for where, line in lines:
        kind = personal_data_in(line)
        if kind is not None:
            found.append(f"{where}: a {kind} in: {line[:200]!r}")
    return found

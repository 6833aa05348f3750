"""Streaming CSV reading for imports: header checks, line-numbered rows, collected errors, spooled uploads."""

from __future__ import annotations

import csv
import io
import tempfile
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO

from core.errors import InvalidInput
from shop.errors import ImportFailed

MAX_ERRORS = 100
MAX_UPLOAD_BYTES = 64 * 1024 * 1024


@dataclass
class Errors:
    items: list[tuple[int, str]] = field(default_factory=list)

    def add(self, line: int, message: str) -> None:
        if len(self.items) < MAX_ERRORS:
            self.items.append((line, message))

    def __bool__(self) -> bool:
        return bool(self.items)

    def raise_if_any(self, rows: int) -> None:
        if self.items:
            raise ImportFailed(sorted(self.items), rows=rows)


def read_rows(
    lines: Iterable[str], *, required: Iterable[str], optional: Iterable[str] = ()
) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, row) for each data row; the header must name every required column and nothing unknown.

    A row with too many or too few fields raises ImportFailed naming its line: the file's shape is wrong
    and every later row would be misread.
    """
    reader = csv.DictReader(_strip_bom(lines), restkey="\x00extra", restval=None)
    try:
        header = [h.strip() for h in (reader.fieldnames or [])]
    except csv.Error as exc:
        raise ImportFailed([(1, f"unreadable header ({exc})")], rows=0) from None
    except UnicodeDecodeError:
        raise ImportFailed([(1, "the file is not UTF-8 text; save it as 'CSV UTF-8'")], rows=0) from None
    reader.fieldnames = header
    need, may = set(required), set(optional)
    missing = [c for c in required if c not in header]
    unknown = [c for c in header if c not in need | may]
    dupes = sorted({c for c in header if header.count(c) > 1})
    problems = []
    if missing:
        problems.append(f"missing column(s) {', '.join(missing)}")
    if unknown:
        problems.append(f"unknown column(s) {', '.join(unknown)} (allowed: {', '.join(sorted(need | may))})")
    if dupes:
        problems.append(f"repeated column(s) {', '.join(dupes)}")
    if problems:
        raise ImportFailed([(1, "; ".join(problems))], rows=0)
    count = 0
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise ImportFailed([(reader.line_num, f"malformed CSV ({exc})")], rows=count) from None
        except UnicodeDecodeError:
            raise ImportFailed(
                [(reader.line_num + 1, "not UTF-8 text; save the file as 'CSV UTF-8'")], rows=count
            ) from None
        count += 1
        if "\x00extra" in row:
            raise ImportFailed(
                [(reader.line_num, f"more fields than the {len(header)} columns of the header")], rows=count
            )
        if any(v is None for v in row.values()):
            if not any((v or "").strip() for v in row.values()):
                continue  # a blank line
            raise ImportFailed(
                [(reader.line_num, f"fewer fields than the {len(header)} columns of the header")], rows=count
            )
        yield reader.line_num, {k: (v or "").strip() for k, v in row.items()}


def _strip_bom(lines: Iterable[str]) -> Iterator[str]:
    first = True
    for line in lines:
        if first:
            line = line.lstrip("\ufeff")
            first = False
        yield line


def parse_bool(value: str, column: str) -> bool:
    v = value.strip().lower()
    if v in ("", "0", "false", "no", "n", "否"):
        return False
    if v in ("1", "true", "yes", "y", "是"):
        return True
    raise InvalidInput(f"{column} must be 1/0, true/false or 是/否, got {value!r}")


def parse_list(value: str) -> list[str]:
    return [x.strip() for x in value.split("|") if x.strip()]


async def spool(chunks: AsyncIterator[bytes], *, limit: int = MAX_UPLOAD_BYTES) -> IO[str]:
    """An uploaded body as a text file (on disk past 1 MiB), so an import reads it as a stream."""
    raw = tempfile.SpooledTemporaryFile(max_size=1024 * 1024)
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raw.close()
            raise InvalidInput(f"the file is larger than {limit // (1024 * 1024)} MiB; import it with the o2o command")
        raw.write(chunk)
    raw.seek(0)
    return io.TextIOWrapper(raw, encoding="utf-8", newline="")  # type: ignore[arg-type]

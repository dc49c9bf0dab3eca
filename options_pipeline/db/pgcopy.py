"""PostgreSQL's binary COPY format built from numpy columns, without a Python object per value.

Layout (PostgreSQL docs, "COPY" -> "Binary Format"): an 11-byte signature, a flags word and a
header-extension length; then per tuple an int16 field count and, per field, an int32 byte length
(-1 = NULL) followed by the value in the type's binary send format; a trailer int16 -1. All
integers are big-endian (network order).

A NULL changes a field's length, so tuples are grouped by their NULL pattern (a chain has a
handful) and each group is one numpy structured array of fixed-width records; COPY does not care
about row order.

Values as the receiving types expect them (src/backend/utils/adt/*.c, `*_recv`):
- timestamptz: int64 microseconds since 2000-01-01 00:00 UTC; date: int32 days since 2000-01-01;
- uuid: 16 raw bytes; char(n)/text: the bytes; int4: int32;
- numeric: int16 ndigits, int16 weight, uint16 sign (0 or 0x4000), uint16 dscale, then ndigits
  int16 base-10000 digits, most significant first, `weight` being the base-10000 exponent of the
  first. numeric_recv strips leading and trailing zero digits itself, so every value here is sent
  with a fixed five digits.

Floats become numerics with 15 significant digits (DBL_DIG, what every double carries; the
conversion PostgreSQL's own float8::numeric uses), trailing zeros dropped. A value whose shortest
decimal form (Python's repr) has at most 15 significant digits -- prices, strikes, sizes, rounded
IVs, anything parsed from a provider's JSON -- is therefore stored with exactly the digits and
scale a text COPY of its repr would store; computed values with 16-17 digits (greeks) are rounded
to 15 (relative error below 1e-14).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

import numpy as np

SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00"
TRAILER = b"\xff\xff"
PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
PG_EPOCH_DAY = np.datetime64("2000-01-01", "D")
NUMERIC_DIGITS = 5  # base-10000 digits per numeric: up to 20 decimal digits, enough for 15 + shift
_NUMERIC_WORDS = 4 + NUMERIC_DIGITS
_NUMERIC_BYTES = 2 * _NUMERIC_WORDS
_NEG = 0x4000


@dataclass(frozen=True, slots=True)
class Column:
    """One field of the tuples: kind is "numeric", "int4", "date" or "char1"; for "numeric" and
    "int4" NaN is NULL (the other kinds have no NULLs)."""

    kind: str
    values: np.ndarray


_P10_OFFSET = 340
with np.errstate(over="ignore"):  # a table (pow() per element is slow); past 1e308: inf, unused
    _P10 = 10.0 ** np.arange(-_P10_OFFSET, _P10_OFFSET + 1)
_I10 = 10 ** np.arange(4, dtype=np.int64)


def _pow10(k: np.ndarray) -> np.ndarray:
    powers: np.ndarray = _P10[k + _P10_OFFSET]
    return powers


def numeric_words(values: np.ndarray) -> np.ndarray:
    """(n, 9) int16 words of the numeric binary form of each float (NaN rows: anything)."""
    v = np.asarray(values, dtype=np.float64)
    n = v.size
    a = np.abs(v)
    ok = np.isfinite(a) & (a > 0)
    safe = np.where(ok, a, 1.0)
    e = np.floor(np.log10(safe)).astype(np.int64)
    e += safe >= _pow10(e + 1)  # log10 can land one off next to a power of ten
    e -= safe < _pow10(e)
    k = 14 - e  # scale to a 15-digit integer mantissa: value ~ m * 10**(e - 14)
    k1 = np.minimum(k, 300)  # subnormals need more than one float power of ten
    m = np.rint(safe * _pow10(k1) * _pow10(k - k1)).astype(np.int64)
    carry = np.flatnonzero(m >= 10**15)  # 9.99...95 rounding up to 10.0
    m[carry] //= 10
    e[carry] += 1
    m[~ok] = 0
    p = e - 14
    g = p >> 2  # floor(p / 4): align the decimal exponent on a base-10000 digit boundary
    big = m * _I10[p & 3]  # value = big * 10000**g, big <= 10**18
    hi, lo = np.divmod(big, 10**8)
    top, mid = np.divmod(hi, 10**8)
    words = np.empty((n, _NUMERIC_WORDS), dtype=np.int16)
    digits = words[:, 4:]
    digits[:, 0] = top
    digits[:, 1], digits[:, 2] = np.divmod(mid.astype(np.int32), 10_000)
    digits[:, 3], digits[:, 4] = np.divmod(lo.astype(np.int32), 10_000)
    # the scale a text input would have: decimals down to the last non-zero digit, at least one
    # (repr() of a float below 1e16 always shows a decimal)
    last = (NUMERIC_DIGITS - 1) - np.argmax(digits[:, ::-1] != 0, axis=1)
    tail = digits[np.arange(n), last].astype(np.int32)
    zeros = (tail % 10 == 0).astype(np.int64) + (tail % 100 == 0) + (tail % 1000 == 0)
    lowest = 4 * (g + (NUMERIC_DIGITS - 1) - last) + zeros
    floor = np.where(a < 1e16, 1, 0)
    words[:, 0] = NUMERIC_DIGITS
    words[:, 1] = g + NUMERIC_DIGITS - 1
    words[:, 2] = np.where(v < 0, _NEG, 0)
    words[:, 3] = np.where(m == 0, 1, np.maximum(-lowest, floor))
    return words


def _timestamp_us(when: datetime) -> int:
    delta = when - PG_EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def copy_buffer(
    n: int,
    *,
    constants: Sequence[tuple[str, object]],
    columns: Sequence[Column],
) -> bytes:
    """A complete binary COPY stream of `n` tuples: each tuple is the `constants` (kind
    "timestamptz" with a datetime, "uuid" with a UUID) followed by the `columns`, in order.

    Each NULL pattern's tuples are one (rows, bytes per tuple) uint8 block: filled from a
    template tuple (field count, lengths, constants) in one broadcast, then each column's
    big-endian bytes copied into its byte range (no per-field structured-array casts)."""
    # per column: its values as (n, width) big-endian bytes, and its NULL mask (None: no NULLs)
    prepared: list[tuple[np.ndarray, np.ndarray | None]] = []
    null_bits = np.zeros(n, dtype=np.int64)
    nullable = 0
    for col in columns:
        nulls: np.ndarray | None = None
        if col.kind == "numeric":
            nulls = np.isnan(col.values)
            data = numeric_words(col.values).astype(">i2")
        elif col.kind == "int4":
            nulls = np.isnan(col.values)
            ints = np.where(nulls, 0, col.values).astype(np.int64)
            if ints.size and (ints.max() > 2**31 - 1 or ints.min() < -(2**31)):
                raise ValueError("a value does not fit PostgreSQL's integer")
            data = ints.astype(">i4")
        elif col.kind == "date":
            days = (col.values.astype("datetime64[D]") - PG_EPOCH_DAY).astype(np.int64)
            data = days.astype(">i4")
        elif col.kind == "char1":
            data = np.asarray(col.values, dtype="S1")
        else:
            raise ValueError(f"unsupported column kind {col.kind!r}")
        prepared.append((np.ascontiguousarray(data).view(np.uint8).reshape(n, -1), nulls))
        if nulls is not None:
            if nulls.any():
                null_bits |= nulls.astype(np.int64) << nullable
            nullable += 1

    head = bytearray(struct.pack(">h", len(constants) + len(columns)))
    for kind, value in constants:
        if kind == "timestamptz":
            assert isinstance(value, datetime)
            head += struct.pack(">iq", 8, _timestamp_us(value))
        elif kind == "uuid":
            assert isinstance(value, UUID)
            head += struct.pack(">i", 16) + value.bytes
        else:
            raise ValueError(f"unsupported constant kind {kind!r}")

    chunks: list[bytes | memoryview] = [SIGNATURE]
    patterns = np.unique(null_bits) if n else np.empty(0, dtype=np.int64)
    for pattern in patterns.tolist():
        rows = np.flatnonzero(null_bits == pattern) if len(patterns) > 1 else None
        size = n if rows is None else rows.size
        template = bytearray(head)
        present: list[tuple[int, np.ndarray]] = []  # (byte offset, values) of non-NULL fields
        bit = 0
        for data, nulls in prepared:
            is_null = False
            if nulls is not None:
                is_null = bool((pattern >> bit) & 1)
                bit += 1
            if is_null:
                template += struct.pack(">i", -1)
                continue
            width = data.shape[1]
            template += struct.pack(">i", width)
            present.append((len(template), data))
            template += bytes(width)
        block = np.empty((size, len(template)), dtype=np.uint8)
        block[:] = np.frombuffer(bytes(template), dtype=np.uint8)
        for offset, data in present:
            block[:, offset : offset + data.shape[1]] = data if rows is None else data[rows]
        chunks.append(block.reshape(-1).data)
    chunks.append(TRAILER)
    return b"".join(chunks)

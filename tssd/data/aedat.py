r"""Vectorised readers of the two AEDAT versions the paper's event datasets use.

AEDAT 2.0 (CIFAR10-DVS) and AEDAT 3.1 (DVS128 Gesture) are read here with numpy because no
maintained reader library both installs and imports here for these versions. CIFAR10-DVS events
are mapped to spikingjelly 2.0's orientation, so our ``events_np`` equals a spikingjelly cache;
external (non-pixel) events and events without the valid mark are dropped. Of each AEDAT 3.1
packet we read the first eventNumber slots and skip the rest of its eventCapacity slots, as the
format defines them (spikingjelly's ``load_aedat_v3`` decodes all eventCapacity slots: the two
agree on full packets of valid events). :func:`scan_aedat2` and :func:`scan_aedat31` check a
file's headers against its size without decoding events (for ``data check``).

Both binary layouts, their sources and the eventNumber / eventCapacity question in full:
docs/datasets.md, section ``tssd/data/aedat.py``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tssd.data.events import DatasetCorrupt

AEDAT31_END = b"#!END-HEADER"
# AEDAT 3.1 packet header: 28 bytes, little-endian, followed by eventCapacity * eventSize bytes of
# events, of which the first eventNumber slots are in use (layout: docs/datasets.md).
PACKET_HEADER = np.dtype(
    [
        ("type", "<i2"),
        ("source", "<i2"),
        ("size", "<i4"),
        ("ts_offset", "<i4"),
        ("ts_overflow", "<i4"),
        ("capacity", "<i4"),
        ("number", "<i4"),
        ("valid", "<i4"),
    ]
)
assert PACKET_HEADER.itemsize == 28
POLARITY_EVENT = 1


def _read(path: Path) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise DatasetCorrupt(f"{path}: cannot be read ({exc})") from exc


def parse_header(buf: bytes, path: Path, end_line: bytes | None = None) -> tuple[list[str], int]:
    """Split the ASCII header off an AEDAT file.

    Args:
        buf: the whole file.
        path: its name (for errors).
        end_line: stop after this line (AEDAT 3.1's ``#!END-HEADER``); otherwise the header ends
            at the first byte that does not start a ``#`` line.

    Returns:
        The header lines (without line endings) and the offset of the binary data.

    Raises:
        DatasetCorrupt: an unterminated header line, or ``end_line`` never found.
    """
    lines, pos = [], 0
    while buf[pos : pos + 1] == b"#":
        end = buf.find(b"\n", pos)
        if end < 0:
            raise DatasetCorrupt(
                f"{path}: header line at byte {pos} is not terminated by a "
                "newline (truncated file?)"
            )
        line = buf[pos:end].rstrip(b"\r")
        lines.append(line.decode("latin-1"))
        pos = end + 1
        if end_line is not None and line == end_line:
            return lines, pos
    if end_line is not None:
        raise DatasetCorrupt(
            f"{path}: AEDAT 3.1 header has no {end_line.decode()!r} line "
            "(truncated or not an AEDAT 3.1 file)"
        )
    return lines, pos


def _version(lines: list[str]) -> str:
    return (
        lines[0][len("#!AER-DAT") :].strip() if lines and lines[0].startswith("#!AER-DAT") else ""
    )


def _read_head(path: Path, end_line: bytes | None = None) -> tuple[list[str], int, int]:
    """Header lines, data offset and file size, reading only as much of the file as the header
    needs (the whole file only when the header is longer than 1 MiB)."""
    try:
        size = Path(path).stat().st_size
        with open(path, "rb") as f:
            head = f.read(1 << 20)
    except OSError as exc:
        raise DatasetCorrupt(f"{path}: cannot be read ({exc})") from exc
    try:
        lines, start = parse_header(head, path, end_line)
    except DatasetCorrupt:
        if len(head) == size:
            raise
        lines, start = parse_header(_read(path), path, end_line)
    return lines, start, size


def _aedat2_events(lines: list[str], start: int, size: int, path: Path) -> int:
    """The number of 8-byte events after an AEDAT 2.0 header (checks version and body size)."""
    version = _version(lines)
    # A file without a version line is read as 2.0 (8-byte events): jAER has written that line
    # since 2010, and the CIFAR10-DVS recordings are documented as AEDAT 2.0. An explicit other
    # version is refused.
    if version and not version.startswith("2."):
        raise DatasetCorrupt(
            f"{path}: expected an AEDAT 2.0 file (first line '#!AER-DAT2.0'), found {lines[0]!r}"
        )
    body = size - start
    if body % 8:
        raise DatasetCorrupt(
            f"{path}: event data of {body} bytes is not a multiple of 8 (8-byte "
            f"events): truncated or corrupt after {body // 8} events"
        )
    return body // 8


def scan_aedat2(path: Path) -> int:
    """Check an AEDAT 2.0 file's header and size without decoding it; return its event count.

    Raises:
        DatasetCorrupt: the errors of :func:`read_aedat2_raw` that need no decoding.
    """
    lines, start, size = _read_head(path)
    return _aedat2_events(lines, start, size, path)


def read_aedat2_raw(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Addresses (uint32) and timestamps (int64, microseconds) of an AEDAT 2.0 file.

    Raises:
        DatasetCorrupt: not AEDAT 2.x, or a body that is not a whole number of 8-byte events.
    """
    buf = _read(path)
    lines, start = parse_header(buf, path)
    _aedat2_events(lines, start, len(buf), path)
    ev = np.frombuffer(buf, dtype=[("addr", ">u4"), ("ts", ">u4")], offset=start)
    return ev["addr"].astype(np.uint32), ev["ts"].astype(np.int64)


def read_cifar10_dvs(path: Path) -> dict[str, np.ndarray]:
    """Events of one CIFAR10-DVS recording (AEDAT 2.0, DVS128), in spikingjelly's orientation.

    Returns:
        ``{"t", "x", "y", "p"}``: t int64 microseconds, x/y in [0, 127], p in {0, 1}.
    """
    addr, ts = read_aedat2_raw(path)
    # DVS128 address bits: 0 polarity (1 = ON), 1-7 x, 8-14 y (origin lower left), 15 external;
    # mapped to (127 - y_raw, 127 - x_raw, 1 - p_raw) as spikingjelly 2.0 maps them.
    pixel = (addr & 0x8000) == 0  # bit 15: external event, not a pixel
    addr, ts = addr[pixel], ts[pixel]
    p_raw = addr & 0x1
    x_raw = (addr >> 1) & 0x7F
    y_raw = (addr >> 8) & 0x7F
    return {
        "t": ts,
        "x": (127 - y_raw).astype(np.uint16),
        "y": (127 - x_raw).astype(np.uint16),
        "p": (1 - p_raw).astype(np.uint8),
    }


def _check_aedat31_version(lines: list[str], path: Path) -> None:
    if not _version(lines).startswith("3."):
        raise DatasetCorrupt(
            f"{path}: expected an AEDAT 3.1 file (first line '#!AER-DAT3.1'), found {lines[0]!r}"
        )


def _packet_bounds(h, pos: int, n: int, path: Path) -> tuple[int, int]:
    """Body start and end of the packet whose header ``h`` (None: cut short) is at ``pos`` of a
    file of ``n`` bytes; checks the header's fields and that the body fits in the file."""
    if h is None:
        raise DatasetCorrupt(
            f"{path}: truncated packet header at byte {pos} ({n - pos} of 28 bytes)"
        )
    size, capacity, number = int(h["size"]), int(h["capacity"]), int(h["number"])
    if size <= 0 or capacity < 0 or not 0 <= number <= capacity:
        raise DatasetCorrupt(
            f"{path}: corrupt packet header at byte {pos} (eventSize={size}, "
            f"eventCapacity={capacity}, eventNumber={number})"
        )
    body = pos + PACKET_HEADER.itemsize
    end = body + size * capacity
    if end > n:
        raise DatasetCorrupt(
            f"{path}: packet at byte {pos} declares {capacity} events of "
            f"{size} bytes but the file ends after {n - body} bytes"
        )
    if int(h["type"]) == POLARITY_EVENT and number and size != 8:
        raise DatasetCorrupt(
            f"{path}: polarity packet at byte {pos} has eventSize {size}, expected 8"
        )
    return body, end


def scan_aedat31(path: Path) -> int:
    """Check an AEDAT 3.1 file's header and every packet header against the file size, reading
    28 bytes per packet and no event; return the number of polarity events (valid or not).

    Raises:
        DatasetCorrupt: the errors of :func:`read_aedat31_polarity` that need no decoding.
    """
    lines, pos, n = _read_head(path, end_line=AEDAT31_END)
    _check_aedat31_version(lines, path)
    events = 0
    try:
        with open(path, "rb") as f:
            while pos < n:
                f.seek(pos)
                raw = f.read(PACKET_HEADER.itemsize)
                h = np.frombuffer(raw, PACKET_HEADER, count=1)[0] if len(raw) == 28 else None
                _, pos = _packet_bounds(h, pos, n, path)
                if int(h["type"]) == POLARITY_EVENT:
                    events += int(h["number"])
    except OSError as exc:
        raise DatasetCorrupt(f"{path}: cannot be read ({exc})") from exc
    return events


def read_aedat31_polarity(path: Path) -> dict[str, np.ndarray]:
    """Valid polarity events of an AEDAT 3.1 file (DVS128 Gesture): the first eventNumber slots
    of each polarity packet, those with the valid mark (see the module docstring).

    Returns:
        ``{"t", "x", "y", "p"}``: t int64 microseconds (with the packet's overflow), x, y, p.

    Raises:
        DatasetCorrupt: not AEDAT 3.1, a truncated packet header or body, or a polarity packet
            whose event size is not 8 bytes; the message names the file and the byte offset.
    """
    buf = _read(path)
    lines, pos = parse_header(buf, path, end_line=AEDAT31_END)
    _check_aedat31_version(lines, path)
    chunks: list[np.ndarray] = []
    overflows: list[np.ndarray] = []
    n = len(buf)
    while pos < n:
        h = np.frombuffer(buf, PACKET_HEADER, count=1, offset=pos)[0] if n - pos >= 28 else None
        body, end = _packet_bounds(h, pos, n, path)
        number = int(h["number"])
        if int(h["type"]) == POLARITY_EVENT and number:
            chunks.append(
                np.frombuffer(
                    buf, dtype=[("data", "<u4"), ("ts", "<i4")], count=number, offset=body
                )
            )
            overflows.append(np.full(number, int(h["ts_overflow"]), np.int64))
        pos = end
    if not chunks:
        return {
            k: np.zeros(0, dt)
            for k, dt in (("t", np.int64), ("x", np.uint16), ("y", np.uint16), ("p", np.uint8))
        }
    ev = np.concatenate(chunks)
    over = np.concatenate(overflows)
    # Polarity event: uint32 data (bit 0 valid mark, bit 1 polarity, bits 2-16 y, bits 17-31 x;
    # origin upper left), int32 timestamp; the 64-bit time is eventTSOverflow << 31 | timestamp.
    keep = (ev["data"] & 0x1) == 1
    data, ts, over = ev["data"][keep], ev["ts"][keep].astype(np.int64), over[keep]
    if len(ts) and ts.min() < 0:
        raise DatasetCorrupt(
            f"{path}: negative event timestamp {ts.min()} (timestamps are "
            "31-bit non-negative in AEDAT 3.1): corrupt data"
        )
    return {
        "t": (over << 31) | ts,
        "x": ((data >> 17) & 0x7FFF).astype(np.uint16),
        "y": ((data >> 2) & 0x7FFF).astype(np.uint16),
        "p": ((data >> 1) & 0x1).astype(np.uint8),
    }


# ---- writers (test fixtures, emulator output in the recordings' own formats) -------------------


def write_aedat2_dvs128(
    path: Path,
    t: np.ndarray,
    x_raw: np.ndarray,
    y_raw: np.ndarray,
    p_raw: np.ndarray,
    header: tuple[str, ...] = (),
) -> None:
    """Write raw DVS128 events as an AEDAT 2.0 file (the inverse of :func:`read_aedat2_raw`).

    ``x_raw``, ``y_raw``, ``p_raw`` are the address fields as the sensor reports them (origin
    lower left, p 1 = ON); ``header`` lines are written after ``#!AER-DAT2.0``.
    """
    y_bits = (np.asarray(y_raw, np.uint32) & 0x7F) << 8
    x_bits = (np.asarray(x_raw, np.uint32) & 0x7F) << 1
    addr = y_bits | x_bits | (np.asarray(p_raw, np.uint32) & 1)
    ev = np.empty(len(addr), dtype=[("addr", ">u4"), ("ts", ">u4")])
    ev["addr"], ev["ts"] = addr, np.asarray(t, np.int64)
    lines = ["#!AER-DAT2.0", *header]
    Path(path).write_bytes("".join(f"{ln}\r\n" for ln in lines).encode("latin-1") + ev.tobytes())


def polarity_packet(
    t: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    p: np.ndarray,
    valid: np.ndarray | None = None,
    overflow: int = 0,
    source: int = 1,
) -> bytes:
    """One AEDAT 3.1 polarity packet (28-byte header + 8 bytes per event); ``t`` holds the low 31
    bits of the timestamps, ``overflow`` the packet's eventTSOverflow."""
    n = len(t)
    valid = np.ones(n, bool) if valid is None else np.asarray(valid, bool)
    head = np.zeros(1, PACKET_HEADER)
    head["type"], head["source"], head["size"], head["ts_offset"] = POLARITY_EVENT, source, 8, 4
    head["ts_overflow"], head["capacity"], head["number"] = overflow, n, n
    head["valid"] = int(valid.sum())
    ev = np.empty(n, dtype=[("data", "<u4"), ("ts", "<i4")])
    ev["data"] = (
        (np.asarray(x, np.uint32) << 17)
        | (np.asarray(y, np.uint32) << 2)
        | (np.asarray(p, np.uint32) << 1)
        | valid.astype(np.uint32)
    )
    ev["ts"] = np.asarray(t, np.int64)
    return head.tobytes() + ev.tobytes()


def write_aedat31(
    path: Path,
    t: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    p: np.ndarray,
    packet_events: int = 4096,
    extra_packets: tuple[bytes, ...] = (),
) -> None:
    """Write polarity events as an AEDAT 3.1 file (the inverse of :func:`read_aedat31_polarity`).

    Events (sorted by ``t``) are cut into packets of at most ``packet_events``, never across a
    timestamp overflow (``t >> 31``); ``extra_packets`` (raw bytes) are appended after them.
    """
    t = np.asarray(t, np.int64)
    over = t >> 31
    cuts = sorted(set(range(0, len(t), packet_events)) | set(np.flatnonzero(np.diff(over)) + 1))
    body = b""
    for a, b in zip(cuts, [*cuts[1:], len(t)], strict=True):
        body += polarity_packet(t[a:b] & 0x7FFFFFFF, x[a:b], y[a:b], p[a:b], overflow=int(over[a]))
    header = (
        b"#!AER-DAT3.1\r\n#Format: RAW\r\n#Source 1: DVS128\r\n"
        b"#Start-Time: 2017-01-01 00:00:00 (TZ+0000)\r\n#!END-HEADER\r\n"
    )
    Path(path).write_bytes(header + body + b"".join(extra_packets))

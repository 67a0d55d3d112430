"""Just enough ISO-BMFF (MP4) box reading to find the complete fragments of a fragmented MP4.

A fragmented MP4 is ``ftyp``, ``moov`` (no samples), then ``moof``+``mdat`` pairs, one per segment.
After a crash the last pair may be cut short; :func:`scan_fragments` counts the video samples in the
pairs that are whole, which is where a resumed render starts.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from typing import BinaryIO, Iterator


@dataclass
class FragmentScan:
    """What :func:`scan_fragments` found in a file."""

    fragmented: bool  # has a moov without samples and at least the fragment layout
    frames: int  # video samples in complete moof+mdat pairs
    end: int  # byte offset just after the last complete pair (or after moov when none)
    fragments: int  # complete pairs
    video_track: int | None  # track_ID of the video track
    finished: bool  # an mfra box (written on a clean close) is present


def _boxes(f: BinaryIO, start: int, stop: int) -> Iterator[tuple[bytes, int, int, int]]:
    """``(type, box_start, payload_start, box_end)`` for boxes in ``[start, stop)``; stops at a cut box."""
    pos = start
    while pos + 8 <= stop:
        f.seek(pos)
        header = f.read(8)
        if len(header) < 8:
            return
        size, kind = struct.unpack(">I4s", header)
        payload = pos + 8
        if size == 1:
            large = f.read(8)
            if len(large) < 8:
                return
            size = struct.unpack(">Q", large)[0]
            payload = pos + 16
        elif size == 0:
            size = stop - pos
        if size < payload - pos:
            return  # corrupt size: treat the rest as cut
        yield kind, pos, payload, pos + size
        pos += size


def _children(f: BinaryIO, payload: int, end: int, kind: bytes) -> list[tuple[int, int]]:
    return [(p, e) for k, _, p, e in _boxes(f, payload, end) if k == kind and e <= end]


def _video_track(f: BinaryIO, moov_payload: int, moov_end: int) -> int | None:
    for trak, trak_end in _children(f, moov_payload, moov_end, b"trak"):
        track_id = None
        for tkhd, _ in _children(f, trak, trak_end, b"tkhd"):
            f.seek(tkhd)
            version = f.read(1)[0]
            f.seek(tkhd + (20 if version == 1 else 12))
            track_id = struct.unpack(">I", f.read(4))[0]
        for mdia, mdia_end in _children(f, trak, trak_end, b"mdia"):
            for hdlr, _ in _children(f, mdia, mdia_end, b"hdlr"):
                f.seek(hdlr + 8)
                if f.read(4) == b"vide":
                    return track_id
    return None


def _samples_in_moof(f: BinaryIO, payload: int, end: int, track: int | None) -> int:
    count = 0
    for traf, traf_end in _children(f, payload, end, b"traf"):
        tfhd = _children(f, traf, traf_end, b"tfhd")
        if not tfhd:
            continue
        f.seek(tfhd[0][0] + 4)
        if track is not None and struct.unpack(">I", f.read(4))[0] != track:
            continue
        for trun, _ in _children(f, traf, traf_end, b"trun"):
            f.seek(trun + 4)
            count += struct.unpack(">I", f.read(4))[0]
    return count


def scan_fragments(path: str | os.PathLike) -> FragmentScan:
    """Count the video frames in the complete fragments of the MP4 at ``path``.

    >>> scan_fragments(__file__).fragmented  # not an MP4 at all
    False
    """
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        moov = None
        frames = fragments = 0
        end = 0
        video = None
        finished = False
        pending_moof: tuple[int, int] | None = None  # (payload, end) of a moof awaiting its mdat
        for kind, _, payload, box_end in _boxes(f, 0, size):
            if box_end > size:
                break  # a box cut by the crash: everything from here on is incomplete
            if kind == b"moov":
                moov = (payload, box_end)
                video = _video_track(f, payload, box_end)
                end = box_end
            elif kind == b"moof":
                pending_moof = (payload, box_end)
            elif kind == b"mdat" and pending_moof is not None:
                frames += _samples_in_moof(f, pending_moof[0], pending_moof[1], video)
                fragments += 1
                end = box_end
                pending_moof = None
            elif kind == b"mfra":
                finished = True
        return FragmentScan(
            fragmented=moov is not None and _is_empty_moov(f, moov),
            frames=frames,
            end=end,
            fragments=fragments,
            video_track=video,
            finished=finished,
        )


def _is_empty_moov(f: BinaryIO, moov: tuple[int, int]) -> bool:
    """A moov that announces fragments (has mvex) is a fragmented file even before its first fragment."""
    return bool(_children(f, moov[0], moov[1], b"mvex"))

"""The world: a voxel-hashed, memory-bounded set of coloured 3D points (torch).

Each voxel of side ``voxel_size`` holds at most one point: the first one that fell into it, at its
exact position (not the voxel centre, so a point re-projects where it was seen). Colours follow
wc-vid2vid's rule: a point not yet coloured takes the colour it is given, an already coloured one
keeps its colour (the first colour sticks). Memory is bounded by ``capacity`` points: when it is
full, the least recently seen voxels (seen = hit by an :meth:`PointWorld.add`) are evicted.

The hash map is our own open-addressing table over int64 voxel keys (linear probing, vectorised
over a whole frame's points; tombstones for evicted keys, rebuilt when they pile up). Keys pack
21 bits per axis, so a world spans 2^21 voxels per axis (100 km at 5 cm); points outside are dropped.

>>> import torch
>>> w = PointWorld(voxel_size=0.1, capacity=100)
>>> w.add(torch.tensor([[0.0, 0.0, 1.0]]), torch.tensor([[255, 0, 0]], dtype=torch.uint8))
1
>>> w.add(torch.tensor([[0.01, 0.0, 1.0]]), torch.tensor([[0, 255, 0]], dtype=torch.uint8))  # same voxel
0
>>> w.coloured_points()[1].tolist()  # the first colour stuck
[[255, 0, 0]]
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass

import numpy as np
import torch

from vidsynth.errors import VidsynthError, require

_EMPTY = -1
_TOMB = -2
_AXIS_BITS = 21
_AXIS_OFFSET = 1 << (_AXIS_BITS - 1)
_AXIS_MASK = (1 << _AXIS_BITS) - 1
_HASH_MUL = -7046029254386353131  # 0x9E3779B97F4A7C15 as a signed int64


@dataclass
class WorldConfig:
    """Resolution and memory bound of a :class:`PointWorld`."""

    voxel_size: float = 0.05      # metres; one point per voxel
    capacity: int = 4_000_000     # most points held at once (about 75 bytes a slot, hash table included)
    evict_fraction: float = 0.05  # when full, evict at least this fraction of capacity at once
    device: str = "cpu"

    def validate(self) -> None:
        if not self.voxel_size > 0:
            raise VidsynthError(f"world: expected voxel_size > 0 metres, found {self.voxel_size}")
        if self.capacity < 1:
            raise VidsynthError(f"world: expected capacity >= 1 points, found {self.capacity}")
        if not 0.0 <= self.evict_fraction < 1.0:
            raise VidsynthError(f"world: expected evict_fraction in [0, 1), found {self.evict_fraction}")


def pack_colours(colours: torch.Tensor) -> torch.Tensor:
    """[P,3] uint8 colours → [P] int32, one per point (bytes r, g, b, 0 in memory order), so that a
    gather moves one 4-byte value per point instead of a 3-byte row (several times faster on CPU)."""
    rgba = torch.zeros(colours.shape[0], 4, dtype=torch.uint8, device=colours.device)
    rgba[:, :3] = colours
    return rgba.view(torch.int32).squeeze(1)


def unpack_colours(packed: torch.Tensor) -> torch.Tensor:
    """[P] int32 from :func:`pack_colours` → [P,3] uint8 (a view)."""
    return packed.view(torch.uint8).view(-1, 4)[:, :3]


class PointWorld:
    """Coloured points in voxels; ``add`` feeds it, ``coloured_points`` reads it (see module docs).

    Storage is column-wise ([3, slots] positions, one packed int32 colour per slot) and every gather
    and scatter is an ``index_select``/``index_copy_``: on CPU these are many times faster than
    advanced indexing and than row copies of 3 elements.
    """

    def __init__(self, config: WorldConfig | None = None, **overrides):
        cfg = config or WorldConfig()
        if overrides:
            cfg = WorldConfig(**{**asdict(cfg), **overrides})
        cfg.validate()
        self.config = cfg
        self.device = torch.device(cfg.device)
        self.clock = 0          # add() calls so far: the "time" a voxel was last seen
        self.evicted = 0        # points evicted so far
        self._alloc(min(cfg.capacity, 1 << 16))

    # -- storage
    def _alloc(self, slots: int) -> None:
        dev = self.device
        self._xyz = torch.zeros(3, slots, dtype=torch.float32, device=dev)
        self._rgb = torch.zeros(slots, dtype=torch.int32, device=dev)  # packed, see pack_colours
        self.coloured = torch.zeros(slots, dtype=torch.bool, device=dev)  # only alive slots are ever coloured
        self.alive = torch.zeros(slots, dtype=torch.bool, device=dev)
        self.last_seen = torch.zeros(slots, dtype=torch.int64, device=dev)
        self.key = torch.full((slots,), _EMPTY, dtype=torch.int64, device=dev)
        self._free = torch.arange(slots - 1, -1, -1, dtype=torch.int64, device=dev)  # a stack: pop from the end
        self._used = 0  # slots below this may be alive; the free stack hands out low slots first
        self._new_table(slots)

    def _new_table(self, slots: int) -> None:
        size = 1
        while size < 2 * slots:
            size <<= 1
        self._table_keys = torch.full((size,), _EMPTY, dtype=torch.int64, device=self.device)
        self._table_slot = torch.full((size,), -1, dtype=torch.int64, device=self.device)
        self._mask = size - 1
        self._tombs = 0

    def __len__(self) -> int:
        return int(self.alive.sum())

    @property
    def slots(self) -> int:
        return self._xyz.shape[1]

    @property
    def xyz(self) -> torch.Tensor:
        """[slots,3] positions (a view; only alive slots mean anything)."""
        return self._xyz.T

    @property
    def rgb(self) -> torch.Tensor:
        """[slots,3] uint8 colours (a view; only coloured slots mean anything)."""
        return unpack_colours(self._rgb)

    def nbytes(self) -> int:
        """Bytes held by the world's tensors (points and hash table)."""
        ts = [self._xyz, self._rgb, self.coloured, self.alive, self.last_seen, self.key, self._free,
              self._table_keys, self._table_slot]
        return sum(t.numel() * t.element_size() for t in ts)

    # -- keys and the hash table
    def voxel_keys(self, points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """int64 voxel keys of [P,3] points and a mask of the points inside the key range."""
        return self._voxel_keys_rows(points.T)

    def _voxel_keys_rows(self, rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        keys = None
        ok = None
        for axis in range(3):
            idx = torch.floor(rows[axis].to(torch.float64) / self.config.voxel_size).to(torch.int64).add_(_AXIS_OFFSET)
            inside = (idx >= 0) & (idx <= _AXIS_MASK)
            ok = inside if ok is None else ok.logical_and_(inside)
            idx.clamp_(0, _AXIS_MASK)
            keys = idx if keys is None else keys.bitwise_left_shift_(_AXIS_BITS).bitwise_or_(idx)
        return keys, ok

    def _hash(self, keys: torch.Tensor) -> torch.Tensor:
        h = keys * _HASH_MUL
        h = h ^ (h >> 31)
        return h.bitwise_and_(self._mask)

    def _find(self, keys: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Slots and table positions of ``keys`` (-1 where absent)."""
        n = keys.shape[0]
        slot = torch.full((n,), -1, dtype=torch.int64, device=self.device)
        where = torch.full((n,), -1, dtype=torch.int64, device=self.device)
        active = torch.arange(n, device=self.device)
        want = keys
        pos = self._hash(keys)
        while active.numel():
            tk = self._table_keys.index_select(0, pos)
            hit = tk == want
            found = torch.nonzero(hit).squeeze(1)
            if found.numel():
                at, fpos = active.index_select(0, found), pos.index_select(0, found)
                slot.index_copy_(0, at, self._table_slot.index_select(0, fpos))
                where.index_copy_(0, at, fpos)
            more = torch.nonzero(~hit & (tk != _EMPTY)).squeeze(1)  # tombstones do not end a probe sequence
            active, want = active.index_select(0, more), want.index_select(0, more)
            pos = pos.index_select(0, more).add_(1).bitwise_and_(self._mask)
        return slot, where

    def _insert(self, keys: torch.Tensor, slots: torch.Tensor) -> None:
        """Put ``keys`` (unique, known to be absent) into the table, pointing at ``slots``."""
        pos = self._hash(keys)
        while keys.numel():
            tk = self._table_keys.index_select(0, pos)
            open_ = torch.nonzero(tk < 0).squeeze(1)  # empty or tombstone
            cand, cpos = keys.index_select(0, open_), pos.index_select(0, open_)
            self._table_keys.index_copy_(0, cpos, cand)  # several may race for one position: one of them wins
            won = torch.nonzero(self._table_keys.index_select(0, cpos) == cand).squeeze(1)
            wpos = cpos.index_select(0, won)
            self._table_slot.index_copy_(0, wpos, slots.index_select(0, open_.index_select(0, won)))
            self._tombs -= int((tk.index_select(0, open_.index_select(0, won)) == _TOMB).sum())
            left = torch.ones(keys.shape[0], dtype=torch.bool, device=self.device)
            left.index_fill_(0, open_.index_select(0, won), False)
            left = torch.nonzero(left).squeeze(1)
            keys, slots = keys.index_select(0, left), slots.index_select(0, left)
            pos = pos.index_select(0, left).add_(1).bitwise_and_(self._mask)

    def _rebuild_table(self, slots: int | None = None) -> None:
        live = torch.nonzero(self.alive).squeeze(1)
        self._new_table(slots or self.slots)
        self._insert(self.key.index_select(0, live), live)

    # -- growth and eviction
    def _grow(self, need: int) -> None:
        new = self.slots
        while new < need and new < self.config.capacity:
            new = min(2 * new, self.config.capacity)
        if new == self.slots:
            return
        old = self.slots
        xyz = torch.zeros(3, new, dtype=torch.float32, device=self.device)
        xyz[:, :old] = self._xyz
        self._xyz = xyz
        for name in ("_rgb", "coloured", "alive", "last_seen", "key"):
            t = getattr(self, name)
            g = torch.zeros((new,), dtype=t.dtype, device=self.device)
            g[:old] = t
            setattr(self, name, g)
        self.key[old:] = _EMPTY
        self._free = torch.cat([torch.arange(new - 1, old - 1, -1, device=self.device), self._free])
        self._rebuild_table(new)

    def _evict(self, count: int) -> None:
        """Free the ``count`` least recently seen points."""
        live = torch.nonzero(self.alive).squeeze(1)
        count = min(count, live.numel())
        if count <= 0:
            return
        oldest = live.index_select(0, torch.topk(self.last_seen.index_select(0, live), count, largest=False,
                                                 sorted=False).indices)
        _, where = self._find(self.key.index_select(0, oldest))
        self._table_keys.index_fill_(0, where, _TOMB)
        self._tombs += count
        self.alive.index_fill_(0, oldest, False)
        self.coloured.index_fill_(0, oldest, False)
        self.key.index_fill_(0, oldest, _EMPTY)
        # freed slots go on the stack ordered so the lowest is handed out first (keeps _used small)
        self._free = torch.cat([self._free, torch.sort(oldest, descending=True).values])
        self.evicted += count
        if self._tombs > self._table_keys.numel() // 4:
            self._rebuild_table()

    # -- the public operations
    def add(self, points, colours=None) -> int:
        """Add [P,3] world points with [P,3] uint8 colours (or None: geometry only, colour later).

        New voxels take the point and its colour; voxels that exist keep their point, take the colour
        only if they have none yet, and count as seen now. Non-finite points are skipped. Returns the
        number of new voxels.
        """
        pts = torch.as_tensor(points, dtype=torch.float32, device=self.device).reshape(-1, 3)
        cols = None if colours is None else torch.as_tensor(colours, device=self.device).reshape(-1, 3)
        if cols is not None:
            if cols.dtype != torch.uint8:
                raise VidsynthError(f"world.add: expected uint8 colours, found {cols.dtype}; convert with "
                                    "(x * 255).round().to(torch.uint8) for [0,1] floats")
            if cols.shape[0] != pts.shape[0]:
                raise VidsynthError(f"world.add: expected one colour per point ({pts.shape[0]}), found {cols.shape[0]}")
        return self.add_rows(pts.T.contiguous(), None if cols is None else pack_colours(cols))

    def add_rows(self, rows: torch.Tensor, packed: torch.Tensor | None = None) -> int:
        """:meth:`add` for [3,P] float32 points (x, y, z rows) and [P] colours from :func:`pack_colours`."""
        self.clock += 1
        keys, ok = self._voxel_keys_rows(rows)
        ok.logical_and_(torch.isfinite(rows).all(0))
        if not bool(ok.all()):
            sel = torch.nonzero(ok).squeeze(1)
            keys, rows = keys.index_select(0, sel), rows.index_select(1, sel)
            packed = None if packed is None else packed.index_select(0, sel)
        n = keys.shape[0]
        if n == 0:
            return 0
        # one candidate per voxel in this batch: the first point that fell in it (a stable sort keeps
        # the points of one voxel in input order, so a run's first element is its first point)
        sorted_keys, order = torch.sort(keys, stable=True)
        starts = torch.ones(n, dtype=torch.bool, device=self.device)
        torch.ne(sorted_keys[1:], sorted_keys[:-1], out=starts[1:])
        starts = torch.nonzero(starts).squeeze(1)
        uniq, first = sorted_keys.index_select(0, starts), order.index_select(0, starts)
        slot, _ = self._find(uniq)

        have = slot >= 0
        hv = torch.nonzero(have).squeeze(1)
        seen = slot.index_select(0, hv)
        self.last_seen.index_fill_(0, seen, self.clock)
        if packed is not None and seen.numel():
            blank_at = torch.nonzero(~self.coloured.index_select(0, seen)).squeeze(1)
            if blank_at.numel():
                blank = seen.index_select(0, blank_at)
                src = first.index_select(0, hv.index_select(0, blank_at))
                self._rgb.index_copy_(0, blank, packed.index_select(0, src))
                self.coloured.index_fill_(0, blank, True)

        nw = torch.nonzero(~have).squeeze(1)
        n_new = nw.shape[0]
        if n_new == 0:
            return 0
        new_keys, new_src = uniq.index_select(0, nw), first.index_select(0, nw)
        if n_new > self.config.capacity:  # one batch larger than the whole world: keep its first part
            new_keys, new_src, n_new = new_keys[: self.config.capacity], new_src[: self.config.capacity], self.config.capacity
        if self._free.numel() < n_new:
            self._grow(len(self) + n_new)
        if self._free.numel() < n_new:
            spare = max(n_new - self._free.numel(), int(self.config.evict_fraction * self.config.capacity))
            self._evict(spare)
            if self._free.numel() < n_new:  # what is left was all seen in this very batch
                n_new = self._free.numel()
                new_keys, new_src = new_keys[:n_new], new_src[:n_new]
        slots = self._free[-n_new:].flip(0) if n_new else self._free[:0]
        self._free = self._free[: self._free.numel() - n_new]
        if n_new:
            self._used = max(self._used, int(slots.max()) + 1)
        self._xyz.index_copy_(1, slots, rows.index_select(1, new_src))
        self.alive.index_fill_(0, slots, True)
        self.key.index_copy_(0, slots, new_keys)
        self.last_seen.index_fill_(0, slots, self.clock)
        if packed is not None:
            self._rgb.index_copy_(0, slots, packed.index_select(0, new_src))
        self.coloured.index_fill_(0, slots, packed is not None)
        self._insert(new_keys, slots)
        return int(n_new)

    def drawable(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """What a renderer needs without copying the world: [3,U] positions, [U] packed colours and a
        [U] mask of the coloured points, over the slots in use (U ≤ slots)."""
        u = self._used
        return self._xyz[:, :u], self._rgb[:u], self.coloured[:u]  # coloured implies alive

    def coloured_points(self) -> tuple[torch.Tensor, torch.Tensor]:
        """[M,3] float32 positions and [M,3] uint8 colours of the points that have a colour."""
        sel = torch.nonzero(self.coloured).squeeze(1)
        return self._xyz.index_select(1, sel).T.contiguous(), unpack_colours(self._rgb.index_select(0, sel)).contiguous()

    def lookup(self, points) -> torch.Tensor:
        """Slot of the voxel each point falls in, -1 where the world has none."""
        pts = torch.as_tensor(points, dtype=torch.float32, device=self.device).reshape(-1, 3)
        keys, ok = self.voxel_keys(pts)
        slot, _ = self._find(keys)
        return torch.where(ok, slot, torch.full_like(slot, -1))

    def clear(self) -> None:
        self.clock = 0
        self.evicted = 0
        self._alloc(min(self.config.capacity, 1 << 16))

    # -- snapshots and export
    def state_dict(self) -> dict:
        """The live points (compacted) and counters: enough to rebuild an equal world."""
        sel = torch.nonzero(self.alive).squeeze(1)
        return {"config": asdict(self.config), "clock": self.clock, "evicted": self.evicted,
                "xyz": self._xyz.index_select(1, sel).T.contiguous().cpu(),
                "rgb": unpack_colours(self._rgb.index_select(0, sel)).contiguous().cpu(),
                "coloured": self.coloured[sel].cpu(), "last_seen": self.last_seen[sel].cpu()}

    def load_state_dict(self, state: dict) -> None:
        try:
            cfg = WorldConfig(**{**state["config"], "device": self.config.device})
            xyz, rgb = state["xyz"], state["rgb"]
            coloured, last_seen = state["coloured"], state["last_seen"]
        except (KeyError, TypeError) as exc:
            raise VidsynthError(f"world snapshot: expected keys config/xyz/rgb/coloured/last_seen, found "
                                f"{sorted(state) if isinstance(state, dict) else type(state).__name__} ({exc}); "
                                "use a snapshot written by PointWorld.state_dict()") from None
        cfg.validate()
        self.config = cfg
        n = xyz.shape[0]
        self._alloc(max(1, min(cfg.capacity, max(n, 1 << 16))))
        keys, _ = self.voxel_keys(xyz.to(self.device, torch.float32))
        slots = torch.arange(n, device=self.device)
        self._xyz[:, :n] = xyz.to(self.device, torch.float32).T
        self._rgb[:n] = pack_colours(rgb.to(self.device))
        self.coloured[:n] = coloured.to(self.device)
        self.last_seen[:n] = last_seen.to(self.device)
        self.alive[:n] = True
        self.key[:n] = keys
        self._free = torch.arange(self.slots - 1, n - 1, -1, dtype=torch.int64, device=self.device)
        self._used = n
        self._insert(keys, slots)
        self.clock = int(state.get("clock", 0))
        self.evicted = int(state.get("evicted", 0))

    def to_ply(self, path: str, include_uncoloured: bool = False) -> int:
        """Write the points as a .ply (Open3D) for any point-cloud viewer; returns the point count.

        Uncoloured points (geometry only) are left out unless asked for (then they are grey).
        """
        o3d = require("open3d", "writing the world as .ply")
        if include_uncoloured:
            sel = torch.nonzero(self.alive).squeeze(1)
            rgb = unpack_colours(self._rgb.index_select(0, sel))
            rgb = torch.where(self.coloured[sel, None], rgb, torch.full_like(rgb, 128))
            xyz = self._xyz.index_select(1, sel).T
        else:
            xyz, rgb = self.coloured_points()
        pc = o3d.geometry.PointCloud()
        pc.points = o3d.utility.Vector3dVector(xyz.cpu().numpy().astype(np.float64))
        pc.colors = o3d.utility.Vector3dVector(rgb.cpu().numpy().astype(np.float64) / 255.0)
        directory = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(directory):
            raise VidsynthError(f"world export: expected an existing folder for {path!r}, found none; create it first")
        tmp = os.path.join(directory, f".{os.path.basename(path)}.tmp.ply")
        if not o3d.io.write_point_cloud(tmp, pc, write_ascii=False):
            raise VidsynthError(f"world export: could not write {path!r}; check the path is writable")
        os.replace(tmp, path)
        return int(xyz.shape[0])

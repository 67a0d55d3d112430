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
    capacity: int = 4_000_000     # most points held at once (about 60 bytes each, table included)
    evict_fraction: float = 0.05  # when full, evict at least this fraction of capacity at once
    device: str = "cpu"

    def validate(self) -> None:
        if not self.voxel_size > 0:
            raise VidsynthError(f"world: expected voxel_size > 0 metres, found {self.voxel_size}")
        if self.capacity < 1:
            raise VidsynthError(f"world: expected capacity >= 1 points, found {self.capacity}")
        if not 0.0 <= self.evict_fraction < 1.0:
            raise VidsynthError(f"world: expected evict_fraction in [0, 1), found {self.evict_fraction}")


class PointWorld:
    """Coloured points in voxels; ``add`` feeds it, ``coloured_points`` reads it (see module docs)."""

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
        self.xyz = torch.zeros(slots, 3, dtype=torch.float32, device=dev)
        self.rgb = torch.zeros(slots, 3, dtype=torch.uint8, device=dev)
        self.coloured = torch.zeros(slots, dtype=torch.bool, device=dev)
        self.alive = torch.zeros(slots, dtype=torch.bool, device=dev)
        self.last_seen = torch.zeros(slots, dtype=torch.int64, device=dev)
        self.key = torch.full((slots,), _EMPTY, dtype=torch.int64, device=dev)
        self._free = torch.arange(slots - 1, -1, -1, dtype=torch.int64, device=dev)  # a stack: pop from the end
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
        return self.xyz.shape[0]

    def nbytes(self) -> int:
        """Bytes held by the world's tensors (points and hash table)."""
        ts = [self.xyz, self.rgb, self.coloured, self.alive, self.last_seen, self.key, self._free,
              self._table_keys, self._table_slot]
        return sum(t.numel() * t.element_size() for t in ts)

    # -- keys and the hash table
    def voxel_keys(self, points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """int64 voxel keys of [P,3] points and a mask of the points inside the key range."""
        idx = torch.floor(points.to(torch.float64) / self.config.voxel_size).to(torch.int64) + _AXIS_OFFSET
        ok = ((idx >= 0) & (idx <= _AXIS_MASK)).all(1)
        idx = idx.clamp(0, _AXIS_MASK)
        keys = (idx[:, 0] << (2 * _AXIS_BITS)) | (idx[:, 1] << _AXIS_BITS) | idx[:, 2]
        return keys, ok

    def _hash(self, keys: torch.Tensor) -> torch.Tensor:
        h = keys * _HASH_MUL
        h = h ^ (h >> 31)
        return h & self._mask

    def _find(self, keys: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Slots and table positions of ``keys`` (-1 where absent)."""
        n = keys.shape[0]
        slot = torch.full((n,), -1, dtype=torch.int64, device=self.device)
        where = torch.full((n,), -1, dtype=torch.int64, device=self.device)
        active = torch.arange(n, device=self.device)
        pos = self._hash(keys)
        while active.numel():
            tk = self._table_keys[pos]
            hit = tk == keys[active]
            if hit.any():
                slot[active[hit]] = self._table_slot[pos[hit]]
                where[active[hit]] = pos[hit]
            go_on = ~hit & (tk != _EMPTY)  # tombstones do not end a probe sequence
            active, pos = active[go_on], (pos[go_on] + 1) & self._mask
        return slot, where

    def _insert(self, keys: torch.Tensor, slots: torch.Tensor) -> None:
        """Put ``keys`` (unique, known to be absent) into the table, pointing at ``slots``."""
        pos = self._hash(keys)
        active = torch.arange(keys.shape[0], device=self.device)
        while active.numel():
            tk = self._table_keys[pos]
            open_ = tk < 0  # empty or tombstone
            cand, cpos = active[open_], pos[open_]
            self._table_keys[cpos] = keys[cand]  # several may race for one position: one of them wins
            won = self._table_keys[cpos] == keys[cand]
            self._table_slot[cpos[won]] = slots[cand[won]]
            self._tombs -= int((tk[open_][won] == _TOMB).sum())
            settled = torch.zeros_like(active, dtype=torch.bool)
            settled[torch.nonzero(open_).squeeze(1)[won]] = True
            active, pos = active[~settled], (pos[~settled] + 1) & self._mask

    def _rebuild_table(self, slots: int | None = None) -> None:
        live = torch.nonzero(self.alive).squeeze(1)
        self._new_table(slots or self.slots)
        self._insert(self.key[live], live)

    # -- growth and eviction
    def _grow(self, need: int) -> None:
        new = self.slots
        while new < need and new < self.config.capacity:
            new = min(2 * new, self.config.capacity)
        if new == self.slots:
            return
        old = self.slots
        grown = {}
        for name in ("xyz", "rgb", "coloured", "alive", "last_seen", "key"):
            t = getattr(self, name)
            g = torch.zeros((new,) + tuple(t.shape[1:]), dtype=t.dtype, device=self.device)
            g[:old] = t
            grown[name] = g
        grown["key"][old:] = _EMPTY
        for name, t in grown.items():
            setattr(self, name, t)
        self._free = torch.cat([torch.arange(new - 1, old - 1, -1, device=self.device), self._free])
        self._rebuild_table(new)

    def _evict(self, count: int) -> None:
        """Free the ``count`` least recently seen points."""
        live = torch.nonzero(self.alive).squeeze(1)
        count = min(count, live.numel())
        if count <= 0:
            return
        oldest = live[torch.topk(self.last_seen[live], count, largest=False, sorted=False).indices]
        _, where = self._find(self.key[oldest])
        self._table_keys[where] = _TOMB
        self._tombs += count
        self.alive[oldest] = False
        self.coloured[oldest] = False
        self.key[oldest] = _EMPTY
        self._free = torch.cat([self._free, oldest])
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
        self.clock += 1
        keys, ok = self.voxel_keys(pts)
        ok &= torch.isfinite(pts).all(1)
        if not bool(ok.all()):
            sel = torch.nonzero(ok).squeeze(1)
            keys, pts = keys[sel], pts[sel]
            cols = None if cols is None else cols[sel]
        if keys.numel() == 0:
            return 0
        # one candidate per voxel in this batch: the first point that fell in it
        uniq, inverse = torch.unique(keys, return_inverse=True)
        order = torch.arange(keys.shape[0], device=self.device)
        first = torch.full((uniq.shape[0],), keys.shape[0], dtype=torch.int64, device=self.device)
        first.scatter_reduce_(0, inverse, order, reduce="amin")
        slot, _ = self._find(uniq)

        have = slot >= 0
        seen = slot[have]
        self.last_seen[seen] = self.clock
        if cols is not None:
            blank = seen[~self.coloured[seen]]
            if blank.numel():
                src = first[have][~self.coloured[seen]]
                self.rgb[blank] = cols[src]
                self.coloured[blank] = True

        new_keys = uniq[~have]
        new_src = first[~have]
        n_new = new_keys.shape[0]
        if n_new == 0:
            return 0
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
        self.xyz[slots] = pts[new_src]
        self.alive[slots] = True
        self.key[slots] = new_keys
        self.last_seen[slots] = self.clock
        if cols is not None:
            self.rgb[slots] = cols[new_src]
            self.coloured[slots] = True
        else:
            self.coloured[slots] = False
        self._insert(new_keys, slots)
        return int(n_new)

    def coloured_points(self) -> tuple[torch.Tensor, torch.Tensor]:
        """[M,3] float32 positions and [M,3] uint8 colours of the points that have a colour."""
        sel = torch.nonzero(self.alive & self.coloured).squeeze(1)
        return self.xyz[sel], self.rgb[sel]

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
                "xyz": self.xyz[sel].cpu(), "rgb": self.rgb[sel].cpu(), "coloured": self.coloured[sel].cpu(),
                "last_seen": self.last_seen[sel].cpu()}

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
        self.xyz[:n] = xyz.to(self.device)
        self.rgb[:n] = rgb.to(self.device)
        self.coloured[:n] = coloured.to(self.device)
        self.last_seen[:n] = last_seen.to(self.device)
        self.alive[:n] = True
        self.key[:n] = keys
        self._free = torch.arange(self.slots - 1, n - 1, -1, dtype=torch.int64, device=self.device)
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
            rgb = torch.where(self.coloured[sel, None], self.rgb[sel], torch.full_like(self.rgb[sel], 128))
            xyz = self.xyz[sel]
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

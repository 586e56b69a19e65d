"""Bounded result cache: least-recently-used eviction by *bytes*, not by entry count.

Attribution maps are small (a 100×100 float32 map is 40 kB) while prepared faces carry tensors and
images; counting entries would either waste memory or evict too early. Revisiting an image hits
this cache and is instant. The worker thread and the GUI thread both touch it, hence the lock.
"""

from __future__ import annotations

import sys
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

import numpy as np


def estimate_nbytes(value: Any) -> int:
    """Approximate memory held by ``value`` (numpy arrays, torch tensors, containers, objects)."""
    seen: set[int] = set()

    def size(obj: Any, depth: int) -> int:
        if id(obj) in seen or depth > 6:
            return 0
        seen.add(id(obj))
        if isinstance(obj, np.ndarray):
            return int(obj.nbytes) + 112
        if type(obj).__module__.startswith("torch") and hasattr(obj, "element_size"):
            return int(obj.element_size() * obj.nelement()) + 112
        if isinstance(obj, (str, bytes, int, float, bool, type(None))):
            return sys.getsizeof(obj)
        if isinstance(obj, dict):
            return 64 + sum(size(k, depth + 1) + size(v, depth + 1) for k, v in obj.items())
        if isinstance(obj, (list, tuple, set, frozenset)):
            return 56 + sum(size(v, depth + 1) for v in obj)
        if hasattr(obj, "__dict__"):
            return 64 + size(vars(obj), depth + 1)
        if hasattr(obj, "__slots__"):
            return 64 + sum(size(getattr(obj, s, None), depth + 1) for s in obj.__slots__)
        return sys.getsizeof(obj)

    return size(value, 0)


class ByteLRU:
    """Thread-safe LRU mapping whose total estimated size stays under ``max_bytes``.

    An entry larger than the whole budget is not stored (it would evict everything and then be
    evicted itself on the next put).
    """

    def __init__(self, max_bytes: int, sizeof: Callable[[Any], int] = estimate_nbytes) -> None:
        self.max_bytes = int(max_bytes)
        self._sizeof = sizeof
        self._data: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable, default: Any = None) -> Any:
        with self._lock:
            item = self._data.get(key)
            if item is None:
                self.misses += 1
                return default
            self._data.move_to_end(key)
            self.hits += 1
            return item[0]

    def __contains__(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._data

    def put(self, key: Hashable, value: Any) -> bool:
        """Store ``value``; returns False if it alone exceeds the budget (then nothing changes)."""
        nbytes = self._sizeof(value)
        with self._lock:
            if nbytes > self.max_bytes:
                return False
            old = self._data.pop(key, None)
            if old is not None:
                self._bytes -= old[1]
            self._data[key] = (value, nbytes)
            self._bytes += nbytes
            while self._bytes > self.max_bytes and self._data:
                _, (_, freed) = self._data.popitem(last=False)
                self._bytes -= freed
            return True

    def pop(self, key: Hashable) -> Any:
        with self._lock:
            item = self._data.pop(key, None)
            if item is None:
                return None
            self._bytes -= item[1]
            return item[0]

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
            self._bytes = 0

    def discard_where(self, predicate: Callable[[Hashable], bool]) -> int:
        """Drop every entry whose key matches; used when a model is unloaded."""
        with self._lock:
            doomed = [k for k in self._data if predicate(k)]
            for k in doomed:
                self._bytes -= self._data.pop(k)[1]
            return len(doomed)

    @property
    def nbytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._data)

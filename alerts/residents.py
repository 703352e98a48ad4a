"""Dense resident indexing: every per-resident array in the alert core is indexed by a resident's position here."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from carewatch.model import Resident

MISSING = -1


class ResidentIndex:
    def __init__(self) -> None:
        self._position: dict[str, int] = {}
        self.residents: list[Resident] = []

    def __len__(self) -> int:
        return len(self.residents)

    def add(self, residents: Iterable[Resident]) -> list[int]:
        """Index new residents (known ones keep their position and take the new details). Returns new positions."""
        added = []
        for resident in residents:
            position = self._position.get(resident.resident_id)
            if position is None:
                position = self._position[resident.resident_id] = len(self.residents)
                self.residents.append(resident)
                added.append(position)
            else:
                self.residents[position] = resident
        return added

    def position(self, resident_id: str) -> int:
        return self._position.get(resident_id, MISSING)

    def positions(self, resident_ids: Iterable[str | None]) -> np.ndarray:
        """(n,) int64 positions; MISSING for unknown or absent residents."""
        get = self._position.get
        return np.fromiter((get(r, MISSING) if r else MISSING for r in resident_ids), dtype=np.int64)

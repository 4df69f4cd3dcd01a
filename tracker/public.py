"""What anyone not signed in may see: the one policy of the public map and every public export.

Amur leopards are poached and a camera's place tells where they walk, so a public output
- moves every position to the centre of its grid cell (`TRACKER_PUBLIC_GRID`, 0.01 to 1 degree),
  the cell computed one way everywhere (`cell_index`): 43.3 N is in the cell from 43.3 to 43.4;
- leaves out sightings and photos of people and vehicles (species of kind human or vehicle, and
  any species named Homo sapiens): where and when a person passed a camera is theirs, and tells
  patrol (or poaching) patterns;
- names a photo by its stored name (`<sha256>.jpg`), never by the client's folder or file name,
  which on a memory card often holds a place name or even coordinates;
- leaves out free text (station names, comments, notes, outage reasons) and who classified what:
  each writer drops those columns, and the public test checks every format for them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Select, func, or_, select

from tracker.models import Sighting, Species

MIN_GRID = 0.01  # about a kilometre: anything finer would show where the cameras are
MAX_GRID = 1.0  # about 110 km: coarser says nothing a park's name does not
DEFAULT_GRID = 0.1
PRIVATE_KINDS = ("human", "vehicle")
PEOPLE = "homo sapiens"  # also when a photo tag created it as an animal


def grid_problem(grid: float) -> str | None:
    """Why `grid` cannot be a public grid, or None when it can."""
    if not (isinstance(grid, int | float) and math.isfinite(grid)):
        return "The public grid is a cell size in degrees."
    if not MIN_GRID <= grid <= MAX_GRID:
        return (
            f"The public grid must be {MIN_GRID:g} to {MAX_GRID:g} degrees (finer would show "
            f"where the cameras are), not {grid:g}."
        )
    return None


def cell_index(degrees: float, grid: float) -> int:
    """The number of the grid cell a coordinate falls in: cell n runs from n * grid (included)
    to (n + 1) * grid."""
    # Rounded first: 43.3 / 0.1 is 432.99999999999994 in floating point, and belongs to cell 433.
    return math.floor(round(degrees / grid, 9))


@dataclass(frozen=True)
class Cell:
    """A grid cell's edges in degrees."""

    south: float
    west: float
    north: float
    east: float


@dataclass(frozen=True)
class PublicPolicy:
    """The policy at one grid size; see the module's docstring."""

    grid: float = DEFAULT_GRID

    def problem(self) -> str | None:
        return grid_problem(self.grid)

    def generalise(self, degrees: float) -> float:
        """The centre of the grid cell the coordinate falls in."""
        return round((cell_index(degrees, self.grid) + 0.5) * self.grid, 10)

    def place(self, latitude: float, longitude: float) -> tuple[float, float]:
        """A position moved to the centre of its cell."""
        return self.generalise(latitude), self.generalise(longitude)

    def cell(self, latitude: float, longitude: float) -> Cell:
        """The cell a position falls in."""
        row, col = cell_index(latitude, self.grid), cell_index(longitude, self.grid)
        g = self.grid
        return Cell(
            round(row * g, 6), round(col * g, 6), round((row + 1) * g, 6), round((col + 1) * g, 6)
        )

    @staticmethod
    def private_species() -> Select:
        """The ids of species never shown in public: people and vehicles."""
        return select(Species.id).where(
            or_(Species.kind.in_(PRIVATE_KINDS), func.lower(Species.scientific_name) == PEOPLE)
        )

    def shown(self) -> ColumnElement[bool]:
        """The condition on Sighting that a public output may show it."""
        return Sighting.species_id.not_in(self.private_species())

    @staticmethod
    def media_name(sha256: str) -> str:
        """A photo's name in public: its stored name, never the client's."""
        return f"{sha256}.jpg"

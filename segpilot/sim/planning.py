"""Geodesic distance fields and the shortest-path expert: they live in `segpilot.nav.planning` (shared with the
policies' floor map); re-exported here for the simulator's episodes and users of `segpilot.sim.planning`."""

from segpilot.nav.planning import (  # noqa: F401
    ShortestPathExpert,
    distance_field,
    footprint_distance,
    goal_region,
    traversable,
)

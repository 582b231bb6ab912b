"""The simulator protocol, actions, poses and configuration: they live in `segpilot.nav.base` (shared with the
policies); re-exported here for the simulator backends and users of `segpilot.sim.base`."""

from segpilot.nav.base import (  # noqa: F401
    DISCRETE_ACTIONS,
    AgentPose,
    BaseCommand,
    Observation,
    SimConfig,
    Simulator,
    check_action,
    next_pose,
)

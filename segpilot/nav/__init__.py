"""Navigation core shared by the simulators and the policies: agent poses, actions and the camera / agent
configuration (`base`), floor grids (`grid`), geodesic distance fields and the shortest-path expert
(`planning`). Pure numpy on top of `geometry`: the simulators (sim/) and the VLA (policies/vla) both build on
it, so neither imports the other for these."""

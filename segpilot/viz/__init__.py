"""Pictures of results: per-view overlays, PLY token clouds."""

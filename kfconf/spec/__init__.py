"""The spec: loading with a source map, overlays and environments, stacks, the MLProject model."""

"""Git: reading project trees at a revision (gitsource) and publishing rendered trees (publish)."""

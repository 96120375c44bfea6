"""The studio's document: project state, the non-destructive edit layer, project files. No Qt."""

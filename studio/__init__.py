"""UniMotion Studio: the Qt desktop app (PySide6, pyqtgraph). Uses the engine; the engine never uses it."""

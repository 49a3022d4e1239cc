"""Terminal helpers shared by interactive commands: key reading and rendering (no business logic)."""

"""aitelier: the whole LoRA fine-tuning loop for one narrow task.

The CLI (`ait`) is a thin layer over this package; a script can do anything the CLI does:

    from aitelier import Project
    project = Project.find(".")
    examples = project.store.read()
"""

from __future__ import annotations

__version__ = "0.1.0"

from .errors import AitelierError, ExitStatus  # noqa: E402
from .project import Project  # noqa: E402

__all__ = ["AitelierError", "ExitStatus", "Project", "__version__"]

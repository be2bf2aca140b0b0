"""The studio's state and computation: everything the browser editor does, callable without a browser.

A ``StudioNetwork`` (``.network``) is one generator named on the command line, shared by every
tab, with its slider directions. A ``StudioSession`` (``.session``) is one tab: a latent, the edit
state with undo, renders and exports. ``.projection`` runs one projection per server at a time
(``ProjectionSlot``) and stops it through ``projector.project``'s own ``should_stop``.
"""

from .network import Direction, StudioNetwork
from .projection import (
    ProjectionOptions,
    ProjectionOutcome,
    ProjectionSlot,
    ProjectionUpdate,
    StudioBusyError,
    Tuning,
    run_projection,
)
from .session import DEFAULT_STATE, StudioSession, number, safe_name, whole_number

__all__ = ["Direction", "StudioNetwork", "ProjectionOptions", "ProjectionOutcome", "ProjectionSlot",
           "ProjectionUpdate", "StudioBusyError", "Tuning", "run_projection", "DEFAULT_STATE", "StudioSession",
           "number", "safe_name", "whole_number"]

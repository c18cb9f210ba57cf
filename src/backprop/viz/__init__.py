"""Pictures of a training run: the network learning (animated GIF) and the loss curve.

Everything here reads a recorded run (``backprop.history``); matplotlib and Pillow are imported
only when a picture is drawn, so ``import backprop.viz`` stays light.
"""

from ..history import GIF_FRAMES
from .animate import animate, animate_slp, slp_frames
from .curves import SUFFIXES, plot_history, plot_losses
from .diagram import check_drawable

__all__ = [
    "GIF_FRAMES",
    "SUFFIXES",
    "animate",
    "animate_slp",
    "check_drawable",
    "plot_history",
    "plot_losses",
    "slp_frames",
]

"""One explicit runtime setup (thread counts, quiet third-party logs), called by entry points, not at import."""
from __future__ import annotations

import logging
import os
import warnings

_done = False


def setup(threads: int | None = None, quiet: bool = True) -> None:
    """Configure process-wide settings once. Safe to call more than once."""
    global _done
    if _done:
        return
    _done = True
    if quiet:
        # MediaPipe logs through absl/glog on stderr; users do not want that in their terminal.
        os.environ.setdefault("GLOG_minloglevel", "2")
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        warnings.filterwarnings("ignore", module="google.protobuf")
        try:
            import absl.logging

            absl.logging.set_verbosity(absl.logging.ERROR)
        except ImportError:
            pass
        logging.getLogger("av").setLevel(logging.ERROR)
    if threads:
        import torch

        torch.set_num_threads(threads)

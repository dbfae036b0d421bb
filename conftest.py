"""Collection settings for the whole tree (tests/ and the doctests in perflaw/).

The suite runs without the optional extras: when torch is not installed, the modules that
import it at the top are not collected for doctests (said in the report header, so
nothing is skipped silently), and tests/test_sweep.py skips itself with the reason.
"""

import importlib.util

#: modules whose import needs torch (``perflaw[train]``)
TORCH_MODULES = ["perflaw/train/backbones.py"]
try:
    TORCH = importlib.util.find_spec("torch") is not None
except ImportError:  # a finder that refuses it
    TORCH = False

collect_ignore = [] if TORCH else list(TORCH_MODULES)


def pytest_report_header(config):
    if not TORCH:
        return [
            f"torch not installed: doctests of {', '.join(TORCH_MODULES)} not collected, "
            "sweep tests skipped (pip install 'perflaw[train]')"
        ]
    return []

"""Collection settings for the whole tree (tests/ and the doctests in perflaw/).

The suite runs without the optional extras: when torch (or Optuna) is not installed, the
modules that import it at the top are not collected for doctests (said in the report
header, so nothing is skipped silently), and tests/test_sweep.py (tests/test_optuna.py)
skips itself with the reason.
"""

import importlib.util


def _installed(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ImportError:  # a finder that refuses it
        return False


#: modules whose import needs torch (``perflaw[train]``)
TORCH_MODULES = ["perflaw/train/backbones.py"]
#: modules whose import needs Optuna (``perflaw[optuna]``)
OPTUNA_MODULES = ["perflaw/optuna.py"]
TORCH = _installed("torch")
OPTUNA = _installed("optuna")

collect_ignore = ([] if TORCH else list(TORCH_MODULES)) + ([] if OPTUNA else list(OPTUNA_MODULES))


def pytest_report_header(config):
    lines = []
    if not TORCH:
        lines.append(
            f"torch not installed: doctests of {', '.join(TORCH_MODULES)} not collected, "
            "sweep tests skipped (pip install 'perflaw[train]')"
        )
    if not OPTUNA:
        lines.append(
            f"optuna not installed: doctests of {', '.join(OPTUNA_MODULES)} not collected, "
            "optuna tests skipped (pip install 'perflaw[optuna]')"
        )
    return lines

"""tests/npu_stub on PYTHONPATH gives `import torch_npu` the CPU stand-in that ships with portkit
(src/portkit/pipeline/npu_stub/torch_npu, the one `portkit trace` runs ported programs with).

There is one stand-in: this module loads that file in its own place, so the tests that put
tests/npu_stub on the path run exactly what the trace runs (tests/test_npu_stub.py checks it).
"""

import importlib.util
import sys
from pathlib import Path

_SHIPPED = Path(__file__).resolve().parents[3] / "src" / "portkit" / "pipeline" / "npu_stub" / "torch_npu"
_spec = importlib.util.spec_from_file_location(__name__, _SHIPPED / "__init__.py",
                                               submodule_search_locations=[str(_SHIPPED)])
assert _spec is not None and _spec.loader is not None, _SHIPPED
_module = importlib.util.module_from_spec(_spec)
sys.modules[__name__] = _module  # the import statement returns what sys.modules holds once this ends
_spec.loader.exec_module(_module)

# Every kernel started with this profile (IPYTHONDIR=.ipython: the test
# suite, make notebooks) that runs in the portable numerical mode also gets
# the mode's torch flags, which have no environment variable. See
# scripts/portable_numerics.py.
import os as _os

if _os.environ.get("VAECOURSE_PORTABLE_NUMERICS") == "1":
    import sys as _sys
    from pathlib import Path as _Path

    _sys.path.insert(0, str(_Path(__file__).resolve().parents[3] / "scripts"))
    import portable_numerics as _portable_numerics

    _sys.path.pop(0)
    _portable_numerics.use_portable_torch_backends()
    del _sys, _Path, _portable_numerics
del _os

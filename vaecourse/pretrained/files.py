"""The shipped files: where they are, how they are read, checked and written.

Each shipped model ``NAME`` is two files in ``vaecourse/weights/`` (or in
another folder given as ``directory``):

- ``NAME.safetensors``: the weights, in the safetensors format, never
  pickle (which can run code when it is loaded), at most :data:`MAX_BYTES`;
- ``NAME.json``: the record of the run that made them, a JSON object whose
  ``sha256`` is the SHA-256 of the weights file.

Everything read is checked before it is used: the record is UTF-8, a JSON
object, with no NaN or infinity (which are not JSON), and a ``sha256``;
the weights file is no larger than :data:`MAX_BYTES`, matches that
SHA-256, is a safetensors file, and holds finite numbers only. Anything
else raises :class:`WeightsError`, whose message names the file and the
command that remakes it.
"""

from __future__ import annotations

import hashlib
import json
import math
from importlib import resources
from pathlib import Path

import torch

__all__ = [
    "MAX_BYTES",
    "WeightsError",
    "weights_dir",
    "command",
    "paths",
    "sha256",
    "read_record",
    "read_state",
    "write",
]

#: Largest size of a shipped weights file, in bytes (5 MB).
MAX_BYTES = 5_000_000


class WeightsError(OSError):
    """A shipped weights file is missing, corrupt or does not fit its model.

    The message names the file and the command that remakes it.
    """


def weights_dir() -> Path:
    """The folder of the shipped files, ``vaecourse/weights``."""
    return Path(str(resources.files("vaecourse") / "weights"))


def command(name: str) -> str:
    """The command that remakes the shipped files of ``name``."""
    return f"python -m vaecourse.pretrained train {name}"


def paths(name: str, directory: str | Path | None) -> tuple[Path, Path]:
    """The weights file and the record of ``name`` in ``directory``."""
    folder = weights_dir() if directory is None else Path(directory)
    return folder / f"{name}.safetensors", folder / f"{name}.json"


def fail(path: Path, name: str, problem: str) -> WeightsError:
    """The error for a file that cannot be used: the file, the problem and
    the command that remakes it."""
    return WeightsError(
        f"{path}: {problem}; remake it with `{command(name)}` "
        f"(add --out {path.parent} to write it there)"
    )


def sha256(path: Path) -> str:
    """The SHA-256 of a file, in hexadecimal."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _refuse_constant(constant: str) -> None:
    # json.loads calls this for NaN, Infinity and -Infinity, which Python
    # writes by default but JSON does not have.
    raise ValueError(f"{constant} is not a JSON number")


def read_record(name: str, directory: str | Path | None) -> dict:
    """The record of ``name``, checked: UTF-8, a JSON object, a ``sha256``.

    Raises
    ------
    WeightsError
        If the file is missing, not UTF-8, not JSON (a NaN or an infinity
        included), not an object, or has no ``sha256`` string.
    """
    _, path = paths(name, directory)
    if not path.is_file():
        raise fail(path, name, "file not found")
    try:
        text = path.read_bytes().decode("utf-8")
        result = json.loads(text, parse_constant=_refuse_constant)
    except UnicodeDecodeError as error:
        raise fail(path, name, f"not UTF-8 text ({error})") from None
    except ValueError as error:  # json.JSONDecodeError is a ValueError
        raise fail(path, name, f"not a valid JSON record ({error})") from None
    if not isinstance(result, dict):
        raise fail(
            path,
            name,
            f"not a JSON object (the record is a {type(result).__name__})",
        )
    digest = result.get("sha256")
    if not isinstance(digest, str):
        raise fail(path, name, "the record has no sha256 of the weights")
    return result


def read_state(
    name: str, directory: str | Path | None, device: torch.device
) -> dict[str, torch.Tensor]:
    """The weights of ``name``, read with safetensors and checked.

    Raises
    ------
    WeightsError
        If the file is missing, over :data:`MAX_BYTES`, differs from the
        record's SHA-256, is not a safetensors file, or holds a NaN or an
        infinity.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path, _ = paths(name, directory)
    if not path.is_file():
        raise fail(path, name, "file not found")
    size = path.stat().st_size
    if size > MAX_BYTES:
        raise fail(
            path,
            name,
            f"{size:,} bytes, over the {MAX_BYTES:,} a shipped file may be",
        )
    if sha256(path) != read_record(name, directory)["sha256"]:
        raise fail(
            path, name, "corrupt: its SHA-256 differs from the record's"
        )
    try:
        state = load_file(path, device=str(device))
    except (SafetensorError, OSError, ValueError) as error:
        raise fail(path, name, f"not a safetensors file ({error})") from None
    for key, tensor in state.items():
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            raise fail(
                path, name, f"its weights {key} hold NaN or an infinity"
            )
    return state


def write(
    name: str,
    directory: str | Path,
    state: dict[str, torch.Tensor],
    record: dict,
) -> dict:
    """Write the weights and their record (given ``sha256`` and ``bytes``).

    Returns the record as written. Raises ``ValueError`` for a weights file
    over :data:`MAX_BYTES` (which is then removed) or a record that holds
    a NaN or an infinity.
    """
    from safetensors.torch import save_file

    path, record_path = paths(name, directory)
    # One metadata entry: safetensors writes its metadata map in an order
    # that changes from one write to the next, so with two entries the
    # same weights would not always give the same file (and SHA-256).
    save_file(state, path, metadata={"name": name})
    size = path.stat().st_size
    if size > MAX_BYTES:
        path.unlink()
        raise ValueError(f"{path} would be {size:,} bytes, over {MAX_BYTES:,}")
    result = {**record, "sha256": sha256(path), "bytes": size}
    try:
        text = json.dumps(result, indent=1, allow_nan=False)
    except ValueError as error:
        bad = [k for k, v in _floats(result) if not math.isfinite(v)]
        raise ValueError(
            f"the record of {name} holds non-finite numbers at {bad}: {error}"
        ) from None
    record_path.write_text(text + "\n", encoding="utf-8")
    return result


def _floats(value: object, where: str = "") -> list[tuple[str, float]]:
    """Every float in a JSON-like value, with where it is."""
    if isinstance(value, float):
        return [(where, value)]
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, (list, tuple)):
        items = enumerate(value)
    else:
        return []
    return [
        pair for key, item in items for pair in _floats(item, f"{where}/{key}")
    ]

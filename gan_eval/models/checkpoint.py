"""Generator checkpoints without pickles: `generator.pt` (a state dict) and `config.json`.

`config.json` holds everything needed to rebuild the generator (architecture,
latent size, output kind) and to retrace its training (model, data set,
steps, seed, loss and optimiser hyper-parameters, gan-eval version). The state
dict loads with `torch.load(..., weights_only=True)`. Both files are written
atomically.
"""

from __future__ import annotations

import io
import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import torch
from torch import nn

from gan_eval.atomic import atomic_folder, atomic_write_bytes
from gan_eval.errors import GanEvalError
from gan_eval.models.dcgan import ConvDiscriminator, ConvGenerator
from gan_eval.models.mlp import MLPDiscriminator, MLPGenerator
from gan_eval.tensor_files import load_tensors

CONFIG_FORMAT = "gan-eval-generator/1"
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "generator.pt"

_GENERATORS: dict[str, type[nn.Module]] = {"mlp": MLPGenerator, "conv32": ConvGenerator}
_DISCRIMINATORS: dict[str, type[nn.Module]] = {"mlp": MLPDiscriminator, "conv32": ConvDiscriminator}


@dataclass(frozen=True)
class GeneratorConfig:
    """What a trained generator is and how it was trained, as stored in `config.json`.

    `data`: `{"kind": "points" | "images", "shape": [2] or [3, 32, 32], "n_classes": int}`;
    `generator`, `discriminator`: `{"type": "mlp" | "conv32", **constructor arguments}`;
    `loss`: `{"name", "n_critic", "clip", "gp_weight", "r1_weight"?}`; `optimizer`: `{"name", "lr", "betas"?}`
    (the same for both nets); `training`: where and how long it ran, filled in after training.
    """

    model: str
    dataset: str
    data: dict[str, Any]
    generator: dict[str, Any]
    discriminator: dict[str, Any]
    loss: dict[str, Any]
    optimizer: dict[str, Any]
    batch_size: int
    steps: int
    seed: int
    gan_eval_version: str
    training: dict[str, Any] = field(default_factory=dict)
    format: str = CONFIG_FORMAT

    @property
    def latent_dim(self) -> int:
        """Length of the generator's noise vector."""
        return int(self.generator["latent_dim"])

    @property
    def n_classes(self) -> int:
        """Number of class labels the generator is conditioned on (0: unconditional)."""
        return int(self.generator.get("n_classes", 0))

    @property
    def is_images(self) -> bool:
        """True for image generators, False for 2-D point generators."""
        return self.data["kind"] == "images"

    def to_json(self) -> dict[str, Any]:
        """The config as a JSON-ready dict."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: Any, source: str) -> GeneratorConfig:
        """Check and convert a parsed `config.json`; `source` names the file in errors."""
        if not isinstance(data, dict):
            raise GanEvalError(f"{source}: not a gan-eval generator config (expected a JSON object)")
        if data.get("format") != CONFIG_FORMAT:
            raise GanEvalError(f"{source}: format is {data.get('format')!r}, expected {CONFIG_FORMAT!r}")
        names = {f.name for f in fields(cls)}
        missing = sorted(n for n in names - set(data) if n != "training")
        if missing:
            raise GanEvalError(f"{source}: missing {', '.join(missing)}")
        config = cls(**{k: v for k, v in data.items() if k in names})
        for part in ("data", "generator", "discriminator", "loss", "optimizer"):
            if not isinstance(getattr(config, part), dict):
                raise GanEvalError(f"{source}: {part!r} must be a JSON object")
        if config.data.get("kind") not in ("points", "images"):
            raise GanEvalError(f"{source}: data kind must be 'points' or 'images'")
        _check_sizes(config, source)
        return config


# What a config may ask for: beyond these, a typo or a damaged file, not a generator (refused before allocating).
MAX_LATENT_DIM = 4096
MAX_CLASSES = 100_000
MAX_SIZE = 4096  # of an image side, a channel count, a hidden layer, a conv width


def _whole(value: Any, what: str, low: int, high: int) -> int:
    """`value` when it is an int within [low, high]; `GanEvalError` naming `what`, the value and the limits."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise GanEvalError(f"{what} {value!r}: must be a whole number between {low} and {high}")
    return value


def _sizes(value: Any, what: str, empty_ok: bool = False) -> None:
    """`value` must be a list of sizes, each within [1, MAX_SIZE] (and not empty unless `empty_ok`)."""
    if not isinstance(value, list) or not (value or empty_ok):
        raise GanEvalError(f"{what} {value!r}: must be a list of sizes")
    for index, size in enumerate(value):
        _whole(size, f"{what}[{index}]", 1, MAX_SIZE)


def _check_sizes(config: GeneratorConfig, source: str) -> None:
    """Refuse a generator or data description whose sizes no generator has (negative, zero, huge, not ints)."""
    generator = config.generator
    if generator.get("type") not in _GENERATORS:
        known = ", ".join(_GENERATORS)
        raise GanEvalError(f"{source}: unknown generator type {generator.get('type')!r}; known: {known}")
    described = f"{source}: bad generator description: generator"
    _whole(generator.get("latent_dim"), f"{described}.latent_dim", 1, MAX_LATENT_DIM)
    _whole(generator.get("n_classes", 0), f"{described}.n_classes", 0, MAX_CLASSES)
    for key in ("width", "channels"):
        if key in generator:
            _whole(generator[key], f"{described}.{key}", 1, MAX_SIZE)
    if "hidden" in generator:
        _sizes(generator["hidden"], f"{described}.hidden", empty_ok=True)
    if "out_shape" in generator:
        _sizes(generator["out_shape"], f"{described}.out_shape")
    _sizes(config.data.get("shape"), f"{source}: data.shape")
    _whole(config.data.get("n_classes", 0), f"{source}: data.n_classes", 0, MAX_CLASSES)


def _build(table: dict[str, type[nn.Module]], description: dict[str, Any], what: str) -> nn.Module:
    kind = description.get("type")
    if kind not in table:
        raise GanEvalError(f"config.json: unknown {what} type {kind!r}; known: {', '.join(table)}")
    arguments = {k: v for k, v in description.items() if k != "type"}
    try:
        return table[kind](**arguments)
    except (TypeError, ValueError) as exc:
        raise GanEvalError(f"config.json: bad {what} description: {exc}") from None


def build_generator(config: GeneratorConfig) -> nn.Module:
    """A freshly initialised generator as `config.generator` describes it."""
    return _build(_GENERATORS, config.generator, "generator")


def build_discriminator(config: GeneratorConfig) -> nn.Module:
    """A freshly initialised discriminator as `config.discriminator` describes it."""
    return _build(_DISCRIMINATORS, config.discriminator, "discriminator")


def save_generator(folder: str | os.PathLike[str], generator: nn.Module, config: GeneratorConfig) -> Path:
    """Write `generator.pt` (state dict, CPU tensors) and `config.json` into `folder`; returns the folder."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise GanEvalError(f"--out {folder} is a file; name a folder")
    state = {name: tensor.detach().cpu() for name, tensor in generator.state_dict().items()}
    buffer = io.BytesIO()
    torch.save(state, buffer)
    atomic_write_bytes(folder / WEIGHTS_FILE, buffer.getvalue())
    text = json.dumps(config.to_json(), indent=2, sort_keys=True) + "\n"
    atomic_write_bytes(folder / CONFIG_FILE, text.encode())
    return folder


def check_new_checkpoint_folder(folder: str | os.PathLike[str]) -> Path:
    """`folder` as a Path when `create_checkpoint` can write it: absent, or an empty folder."""
    folder = Path(folder)
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        what = "is a file" if not folder.is_dir() else "exists and is not empty"
        raise GanEvalError(f"--out {folder} {what}; name a new or empty folder")
    return folder


def create_checkpoint(folder: str | os.PathLike[str], generator: nn.Module, config: GeneratorConfig) -> Path:
    """Write a new checkpoint folder all at once: both files go to a hidden sibling folder, renamed at the end.

    `folder` must be absent or empty; a failure or a kill leaves it as it was.
    """
    folder = check_new_checkpoint_folder(folder)
    with atomic_folder(folder) as staging:
        save_generator(staging, generator, config)
    return folder


def read_config(folder: str | os.PathLike[str]) -> GeneratorConfig:
    """The checked `config.json` of a checkpoint folder."""
    folder = Path(folder)
    if not folder.is_dir():
        what = "is a file, not a checkpoint folder" if folder.exists() else "does not exist"
        raise GanEvalError(f"{folder} {what} (expected a folder with {CONFIG_FILE} and {WEIGHTS_FILE})")
    path = folder / CONFIG_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise GanEvalError(f"{path} is missing: {folder} is not a gan-eval checkpoint") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise GanEvalError(f"{path}: unreadable JSON ({exc})") from None
    return GeneratorConfig.from_json(data, str(path))


def load_generator(folder: str | os.PathLike[str]) -> tuple[nn.Module, GeneratorConfig]:
    """Rebuild the generator of a checkpoint folder, on CPU in eval mode, with its config."""
    config = read_config(folder)
    path = Path(folder) / WEIGHTS_FILE
    if not path.is_file():
        raise GanEvalError(f"{path} is missing")
    try:
        state = load_tensors(path)
    except Exception as exc:  # torch reports damaged or pickled files with several exception types
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise GanEvalError(f"{path}: not a readable state dict ({reason[:200]})") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise GanEvalError(f"{path}: expected a state dict of tensors")
    # The architecture is first built on the meta device (no memory): a config describing a far larger
    # network than the file holds is refused before anything of its size is allocated.
    with torch.device("meta"):
        skeleton = build_generator(config)
    expected = {name: tuple(t.shape) for name, t in skeleton.state_dict().items()}
    if {name: tuple(t.shape) for name, t in state.items()} != expected:
        raise GanEvalError(f"{path} does not match the architecture in {CONFIG_FILE}")
    generator = build_generator(config)
    try:
        generator.load_state_dict(state)
    except RuntimeError:
        raise GanEvalError(f"{path} does not match the architecture in {CONFIG_FILE}") from None
    return generator.eval(), config

"""The DINOv2 ViT-S/14 and ViT-L/14 backbones (Oquab et al. 2023), built with timm, at 224x224 input.

The official checkpoints (`dinov2_vits14_pretrain.pth`, `dinov2_vitl14_pretrain.pth`)
were trained at 518 px: their position embedding holds 1 + 37x37 tokens.
The official model (facebookresearch/dinov2, `DinoVisionTransformer`) resizes
it to the input's patch grid on every forward, with bicubic interpolation
(no antialias) of the 37x37 grid by the scale factor `(16 + 0.1) / 37` (the
"interpolate_offset" kludge of DINO), which gives a 16x16 grid at 224 px.
We run at 224 px only, so `interpolate_pos_embed` does that once, at load
time, with the same float32 call; the forward then adds exactly the
embedding the official model computes.

Otherwise timm's ViT is the official architecture: patch embedding by a
14x14 stride-14 convolution, a class token, pre-norm blocks (LayerNorm eps
1e-6, qkv with bias, exact GELU MLP with ratio 4, LayerScale on both
branches), a final LayerNorm, and the normalised class token as output
(`x_norm_clstoken`, what the hub model's forward returns with its
Identity head). The checkpoint's names are timm's names, except
`mask_token` (used only in training), which is dropped.

Input: `(N, 3, 224, 224)` float32, ImageNet-normalised. Output: `(N, D)`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

PATCH_SIZE = 14
CHECKPOINT_SIZE = 518  # the official checkpoints' training resolution: a 37x37 patch grid
INPUT_SIZE = 224  # dgm-eval's input size: a 16x16 patch grid
INTERPOLATE_OFFSET = 0.1  # the official `interpolate_offset`
MLP_RATIO = 4


@dataclass(frozen=True)
class Dinov2Arch:
    """One DINOv2 backbone size: its official name, timm's model name and its dimensions."""

    official_name: str
    timm_name: str
    embed_dim: int
    depth: int
    num_heads: int


ARCHS = {
    "vits14": Dinov2Arch("dinov2_vits14", "vit_small_patch14_dinov2", 384, 12, 6),
    "vitl14": Dinov2Arch("dinov2_vitl14", "vit_large_patch14_dinov2", 1024, 24, 16),
}


def official_shapes(arch: Dinov2Arch) -> dict[str, tuple[int, ...]]:
    """Every key of the official `*_pretrain.pth` state dict and its shape (518-px position embedding)."""
    d, hidden, grid = arch.embed_dim, MLP_RATIO * arch.embed_dim, CHECKPOINT_SIZE // PATCH_SIZE
    shapes: dict[str, tuple[int, ...]] = {
        "cls_token": (1, 1, d),
        "pos_embed": (1, 1 + grid * grid, d),
        "mask_token": (1, d),
        "patch_embed.proj.weight": (d, 3, PATCH_SIZE, PATCH_SIZE),
        "patch_embed.proj.bias": (d,),
    }
    for i in range(arch.depth):
        block = {
            "norm1.weight": (d,),
            "norm1.bias": (d,),
            "attn.qkv.weight": (3 * d, d),
            "attn.qkv.bias": (3 * d,),
            "attn.proj.weight": (d, d),
            "attn.proj.bias": (d,),
            "ls1.gamma": (d,),
            "norm2.weight": (d,),
            "norm2.bias": (d,),
            "mlp.fc1.weight": (hidden, d),
            "mlp.fc1.bias": (hidden,),
            "mlp.fc2.weight": (d, hidden),
            "mlp.fc2.bias": (d,),
            "ls2.gamma": (d,),
        }
        shapes.update({f"blocks.{i}.{k}": s for k, s in block.items()})
    shapes.update({"norm.weight": (d,), "norm.bias": (d,)})
    return shapes


def interpolate_pos_embed(pos_embed: torch.Tensor, image_size: int = INPUT_SIZE) -> torch.Tensor:
    """The official model's position embedding for square `image_size` inputs, as it computes it per forward.

    `pos_embed`: `(1, 1 + M*M, D)` (M = 37 for the 518-px checkpoints). The
    class token's entry is kept; the M x M grid is resized in float32 by
    bicubic interpolation (align_corners False, no antialias) with scale factor
    `(g + 0.1) / M` per side, g = image_size // 14, which `F.interpolate` turns
    into a g x g grid sampled at `(i + 0.5) * M / (g + 0.1) - 0.5`.
    Returns `(1, 1 + g*g, D)` in `pos_embed`'s dtype.
    """
    dtype = pos_embed.dtype
    pos_embed = pos_embed.float()
    tokens, dim = pos_embed.shape[1] - 1, pos_embed.shape[2]
    side = math.isqrt(tokens)
    if side * side != tokens:
        raise ValueError(f"position embedding of {tokens} patch tokens is not a square grid")
    grid = image_size // PATCH_SIZE
    if grid == side:
        return pos_embed.to(dtype)
    scale = float(grid + INTERPOLATE_OFFSET) / side
    patches = pos_embed[:, 1:].reshape(1, side, side, dim).permute(0, 3, 1, 2)
    patches = F.interpolate(patches, scale_factor=(scale, scale), mode="bicubic", antialias=False)
    if patches.shape[-2:] != (grid, grid):
        raise ValueError(f"interpolated grid {tuple(patches.shape[-2:])} is not {grid}x{grid}")
    patches = patches.permute(0, 2, 3, 1).reshape(1, grid * grid, dim)
    return torch.cat((pos_embed[:, :1], patches), dim=1).to(dtype)


def build_network(arch: Dinov2Arch, state_dict: dict[str, torch.Tensor]) -> nn.Module:
    """timm's ViT for `arch` at 224 px, loaded from an official state dict (already checked), in eval mode.

    The module maps `(N, 3, 224, 224)` float32 to the normalised class token `(N, embed_dim)`.
    """
    import timm

    net = timm.create_model(
        arch.timm_name,
        pretrained=False,
        img_size=INPUT_SIZE,
        num_classes=0,
        global_pool="token",
        dynamic_img_size=False,
        weight_init="skip",
    )
    weights = {k: v for k, v in state_dict.items() if k != "mask_token"}
    weights["pos_embed"] = interpolate_pos_embed(state_dict["pos_embed"])
    net.load_state_dict(weights, strict=True)
    return net.requires_grad_(False).eval()

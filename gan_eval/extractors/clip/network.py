"""The image tower of OpenAI's CLIP ViTs (ViT-B/32, ViT-L/14, ViT-L/14@336px), built with timm.

OpenAI's model (openai/CLIP `clip/model.py`, `VisionTransformer`): a
patch-size convolution without bias (`conv1`), a class embedding, a learned
position embedding, a LayerNorm before the blocks (`ln_pre`), pre-norm blocks
(LayerNorm eps 1e-5, `nn.MultiheadAttention` with a packed q/k/v projection
with bias, an MLP of ratio 4 with QuickGELU, `x * sigmoid(1.702 x)`), a
LayerNorm of the class token (`ln_post`) and a projection without bias
(`proj`, width x embed_dim). `encode_image` returns that projection, not
L2-normalised.

timm 1.0's `VisionTransformer` with `pre_norm=True` (so the patch
convolution has no bias and `norm_pre` is `ln_pre`), LayerNorm eps 1e-5,
`act_layer="quick_gelu"`, token pooling and a linear head is the same
network, the one timm's own `vit_*_clip_quickgelu_*` models are; we use timm
because it is already our DINOv2 backbone and is well kept, rather than
adding open_clip or hand-writing the tower. The projection becomes timm's head
(`proj.T` as its weight, a zero bias). The renaming of OpenAI's keys is
written here (`timm_state_dict`) from the two models' module names.

Input: `(N, 3, S, S)` float32 normalised with CLIP's mean and std (S = 224 or
336). Output: `(N, embed_dim)` float32.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import torch
from torch import nn

MLP_RATIO = 4
HEAD_WIDTH = 64  # OpenAI's ViTs have heads of 64 channels: heads = width // 64
LAYER_NORM_EPS = 1e-5


@dataclass(frozen=True)
class ClipArch:
    """One OpenAI CLIP ViT image tower: its file, the file's sha256, and its dimensions."""

    key: str
    file_name: str
    sha256: str
    image_size: int
    patch_size: int
    width: int
    layers: int
    embed_dim: int

    @property
    def heads(self) -> int:
        """Attention heads (64 channels each)."""
        return self.width // HEAD_WIDTH

    @property
    def tokens(self) -> int:
        """The class token plus the patch grid."""
        return 1 + (self.image_size // self.patch_size) ** 2


# The sha256 is the folder of the official URL (openai/CLIP `clip/clip.py` `_MODELS`; torch-fidelity 0.4.0
# `feature_extractor_clip.py` MODEL_METADATA lists the same three).
ARCHS = {
    "vitb32": ClipArch(
        "vitb32",
        "ViT-B-32.pt",
        "40d365715913c9da98579312b702a82c18be219cc2a73407c4526f58eba950af",
        224,
        32,
        768,
        12,
        512,
    ),
    "vitl14": ClipArch(
        "vitl14",
        "ViT-L-14.pt",
        "b8cca3fd41ae0c99ba7e8951adf17d267cdb84cd88be6f7c2e0eca1737a03836",
        224,
        14,
        1024,
        24,
        768,
    ),
    "vitl14-336": ClipArch(
        "vitl14-336",
        "ViT-L-14-336px.pt",
        "3035c92b350959924f9f00213499208652fc7ea050643e8b385c2dac08641f02",
        336,
        14,
        1024,
        24,
        768,
    ),
}


def official_visual_shapes(arch: ClipArch) -> dict[str, tuple[int, ...]]:
    """Every `visual.*` tensor of the official TorchScript archive and its shape."""
    w, p = arch.width, arch.patch_size
    shapes: dict[str, tuple[int, ...]] = {
        "visual.class_embedding": (w,),
        "visual.positional_embedding": (arch.tokens, w),
        "visual.proj": (w, arch.embed_dim),
        "visual.conv1.weight": (w, 3, p, p),
        "visual.ln_pre.weight": (w,),
        "visual.ln_pre.bias": (w,),
        "visual.ln_post.weight": (w,),
        "visual.ln_post.bias": (w,),
    }
    for i in range(arch.layers):
        block = {
            "attn.in_proj_weight": (3 * w, w),
            "attn.in_proj_bias": (3 * w,),
            "attn.out_proj.weight": (w, w),
            "attn.out_proj.bias": (w,),
            "ln_1.weight": (w,),
            "ln_1.bias": (w,),
            "mlp.c_fc.weight": (MLP_RATIO * w, w),
            "mlp.c_fc.bias": (MLP_RATIO * w,),
            "mlp.c_proj.weight": (w, MLP_RATIO * w),
            "mlp.c_proj.bias": (w,),
            "ln_2.weight": (w,),
            "ln_2.bias": (w,),
        }
        shapes.update({f"visual.transformer.resblocks.{i}.{k}": s for k, s in block.items()})
    return shapes


_BLOCK_NAMES = {
    "attn.in_proj_weight": "attn.qkv.weight",
    "attn.in_proj_bias": "attn.qkv.bias",
    "attn.out_proj.weight": "attn.proj.weight",
    "attn.out_proj.bias": "attn.proj.bias",
    "ln_1.weight": "norm1.weight",
    "ln_1.bias": "norm1.bias",
    "mlp.c_fc.weight": "mlp.fc1.weight",
    "mlp.c_fc.bias": "mlp.fc1.bias",
    "mlp.c_proj.weight": "mlp.fc2.weight",
    "mlp.c_proj.bias": "mlp.fc2.bias",
    "ln_2.weight": "norm2.weight",
    "ln_2.bias": "norm2.bias",
}


def timm_state_dict(arch: ClipArch, visual: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """OpenAI's `visual.*` tensors (checked, float32) under timm's names and shapes."""
    out = {
        "cls_token": visual["visual.class_embedding"].reshape(1, 1, -1),
        "pos_embed": visual["visual.positional_embedding"].unsqueeze(0),
        "patch_embed.proj.weight": visual["visual.conv1.weight"],
        "norm_pre.weight": visual["visual.ln_pre.weight"],
        "norm_pre.bias": visual["visual.ln_pre.bias"],
        "norm.weight": visual["visual.ln_post.weight"],
        "norm.bias": visual["visual.ln_post.bias"],
        "head.weight": visual["visual.proj"].T.contiguous(),
        "head.bias": torch.zeros(arch.embed_dim),
    }
    for i in range(arch.layers):
        prefix = f"visual.transformer.resblocks.{i}."
        out.update({f"blocks.{i}.{theirs}": visual[prefix + ours] for ours, theirs in _BLOCK_NAMES.items()})
    return out


def build_network(arch: ClipArch, visual: dict[str, torch.Tensor]) -> nn.Module:
    """timm's ViT for `arch`, loaded from the official `visual.*` tensors (already checked), in eval mode.

    The module maps `(N, 3, S, S)` float32 to the image embedding `(N, embed_dim)`.
    """
    from timm.models.vision_transformer import VisionTransformer

    net = VisionTransformer(
        img_size=arch.image_size,
        patch_size=arch.patch_size,
        num_classes=arch.embed_dim,
        global_pool="token",
        embed_dim=arch.width,
        depth=arch.layers,
        num_heads=arch.heads,
        mlp_ratio=MLP_RATIO,
        qkv_bias=True,
        pre_norm=True,
        norm_layer=partial(nn.LayerNorm, eps=LAYER_NORM_EPS),
        act_layer="quick_gelu",
        weight_init="skip",
    )
    net.load_state_dict(timm_state_dict(arch, visual), strict=True)
    return net.requires_grad_(False).eval()

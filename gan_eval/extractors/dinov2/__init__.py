"""DINOv2 ViT-L/14 and ViT-S/14 (Oquab et al. 2023) as dgm-eval uses them for FD_DINOv2: network, weights, extractor."""

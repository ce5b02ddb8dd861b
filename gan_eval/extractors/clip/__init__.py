"""OpenAI CLIP image towers (Radford et al. 2021) for CLIP-FID and CMMD: network, weights, extractor."""

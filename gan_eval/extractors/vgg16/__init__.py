"""VGG-16 (Simonyan & Zisserman 2015) fc2 features as torch-fidelity computes them: network, weights, extractor."""

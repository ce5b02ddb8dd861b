"""Neural style transfer evaluation (Gatys et al., CVPR 2016): style and content distances with VGG-19."""

"""Image kernels (header check, decode, resize, encode, blur, perceptual hash) and filters."""

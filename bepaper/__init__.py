"""bepaper: Background Erasing (CVPR 2021), reproduced."""

__version__ = "0.1.0"

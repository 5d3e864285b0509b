"""lightavseg-mobile: reference LightAVSeg model and its phone deployment toolchain."""

__version__ = "0.1.0"

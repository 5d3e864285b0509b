"""The LightAVSeg network: visual backbone, audio encoder, reciprocal encoder, fusion decoder, head."""

from .lightavseg import INFERENCE_MODULES, TRAINING_ONLY_MODULES, LightAVSeg, LightAVSegInference

__all__ = ["INFERENCE_MODULES", "TRAINING_ONLY_MODULES", "LightAVSeg", "LightAVSegInference"]

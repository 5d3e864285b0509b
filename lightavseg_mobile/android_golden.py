"""Golden vectors for the Android app's JVM core, written by the Python package (the reference).

`python -m lightavseg_mobile.android_golden --out DIR` writes DIR/golden.json plus .npy/.wav files that
the JUnit tests in android_demo/core read: log-mel of the shipped recordings, frames_to_input on frames of
camera-like sizes, the int8 quantization contract, mask thresholds and nearest upsampling, a real
manifest (with its artifact and a tampered copy). numpy + PIL + soundfile only; no torch.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import numpy as np

from lightavseg_mobile.audio import VGGISH, log_mel, log_mel_file, waveform_patches
from lightavseg_mobile.audio.logmel_numpy import read_wav
from lightavseg_mobile.artifact.manifest import Manifest, Quantization, TensorSpec, artifact_sha256, manifest_path
from lightavseg_mobile.data.preprocess import IMAGENET_MEAN, IMAGENET_STD, frames_to_input, preprocessing_block
from lightavseg_mobile.io_atomic import write_text_atomic
from lightavseg_mobile.metrics.task import logits_to_mask

ASSETS = Path(__file__).resolve().parent / "assets"
RECORDINGS = ("speech", "music", "silence", "tone", "clipped")
HELDOUT_CLIP = "synth_000000"
# Camera-like and awkward source sizes (w, h): downscale, upscale, one axis only, odd factors.
RESIZE_CASES = ((320, 240), (640, 480), (160, 120), (224, 300), (300, 224), (97, 61), (1280, 720))
IMAGE_SIZE = 224
SEED = 20261124


def quantize_reference(x: np.ndarray, scale: float, zero_point: int, signed: bool) -> np.ndarray:
    """The app's quantization contract: the runtime package's rule (round half away from zero), one source of truth."""
    from .artifact.manifest import Quantization
    from .artifact.tensors import quantize

    return quantize(x, Quantization(float(scale), int(zero_point)), "int8" if signed else "uint8")


def dequantize_reference(q: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """float32(q - zero_point) * float32(scale)."""
    return (q.astype(np.int32) - zero_point).astype(np.float32) * np.float32(scale)


def resize_nearest_reference(mask: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """Nearest resize at pixel centres: src = floor((2 * dst + 1) * in / (2 * out)), integer arithmetic."""
    h, w = mask.shape
    ys = ((2 * np.arange(out_h, dtype=np.int64) + 1) * h) // (2 * out_h)
    xs = ((2 * np.arange(out_w, dtype=np.int64) + 1) * w) // (2 * out_w)
    return mask[ys[:, None], xs[None, :]]


def _save(out: Path, rel: str, arr: np.ndarray) -> str:
    """Save arr as out/rel (.npy) and return rel."""
    path = out / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, np.ascontiguousarray(arr))
    return rel


def _logmel_cases(out: Path) -> list[dict]:
    """Shipped recordings (all whole patches) and a held-out clip (5 patches, AVSBench's rule)."""
    cases = []
    for name in RECORDINGS:
        src = ASSETS / "audio" / f"{name}.wav"
        (out / "audio").mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, out / "audio" / src.name)
        cases.append({"name": name, "wav": f"audio/{src.name}", "num_patches": 0,
                      "expected": _save(out, f"audio/{name}.logmel.npy", log_mel_file(src))})
    clip_wav = next((ASSETS / "heldout" / "audio_wav").glob(f"*/{HELDOUT_CLIP}.wav"))
    shutil.copyfile(clip_wav, out / "audio" / clip_wav.name)
    cases.append({"name": HELDOUT_CLIP, "wav": f"audio/{clip_wav.name}", "num_patches": 5,
                  "expected": _save(out, f"audio/{HELDOUT_CLIP}.logmel.npy", log_mel_file(clip_wav, num_patches=5))})
    return cases


def _window_case(out: Path) -> dict:
    """The live path: one 15600-sample float32 window -> the same patch as log_mel."""
    data, rate = read_wav(ASSETS / "audio" / "speech.wav")
    windows = waveform_patches(data, rate)
    return {"windows": _save(out, "audio/speech.windows.npy", windows),
            "expected": _save(out, "audio/speech.windows.logmel.npy",
                              np.stack([log_mel(w, VGGISH.sample_rate)[0] for w in windows]))}


def _resize_cases(out: Path) -> list[dict]:
    """Real held-out frames and seeded noise at camera-like sizes -> frames_to_input output (NCHW)."""
    from PIL import Image

    rng = np.random.default_rng(SEED)
    frame = Image.open(ASSETS / "heldout" / "visual_frames" / HELDOUT_CLIP / f"{HELDOUT_CLIP}.mp4_1.png").convert("RGB")
    cases = []
    for i, (w, h) in enumerate(RESIZE_CASES):
        if i % 2 == 0:
            src = np.asarray(frame.resize((w, h), Image.Resampling.BICUBIC), dtype=np.uint8)
        else:
            src = rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)  # noise: worst case for rounding
        name = f"frame_{w}x{h}"
        cases.append({"name": name, "width": w, "height": h,
                      "input": _save(out, f"image/{name}.rgb.npy", src),
                      "expected": _save(out, f"image/{name}.input.npy", frames_to_input(src, size=IMAGE_SIZE))})
    # Already at model size: normalisation only.
    src = np.asarray(frame, dtype=np.uint8)
    cases.append({"name": "frame_224x224", "width": IMAGE_SIZE, "height": IMAGE_SIZE,
                  "input": _save(out, "image/frame_224x224.rgb.npy", src),
                  "expected": _save(out, "image/frame_224x224.input.npy", frames_to_input(src, size=IMAGE_SIZE))})
    return cases


def _quant_cases(out: Path) -> list[dict]:
    """Values around every rounding edge, for a few (scale, zero point, signedness) combinations."""
    rng = np.random.default_rng(SEED + 1)
    cases = []
    for i, (scale, zp, signed) in enumerate(((0.0235, -3, True), (1.0 / 255.0, -128, True), (0.1, 0, True),
                                             (0.05, 128, False), (0.5, 7, False))):
        edges = (np.arange(-300, 301, dtype=np.float64) * 0.5 * scale).astype(np.float32)
        x = np.concatenate([edges, rng.normal(0.0, 80 * scale, 2000).astype(np.float32),
                            np.array([0.0, -0.0, 1e30, -1e30], dtype=np.float32)])
        q = quantize_reference(x, scale, zp, signed)
        cases.append({"scale": scale, "zero_point": zp, "signed": signed,
                      "input": _save(out, f"quant/case{i}.x.npy", x),
                      "expected": _save(out, f"quant/case{i}.q.npy", q),
                      "dequantized": _save(out, f"quant/case{i}.deq.npy", dequantize_reference(q, scale, zp))})
    return cases


def _mask_cases(out: Path) -> dict:
    """Logits with the float32 sigmoid edge (tiny positives are background) -> masks and upsampled masks."""
    rng = np.random.default_rng(SEED + 2)
    logits = rng.normal(0.0, 3.0, size=(56, 56)).astype(np.float32)
    edge = np.array([0.0, -0.0, 1e-9, 2.9e-8, 3.0e-8, 5.97e-8, 5.97e-8 * 1.01, 6e-8, 1e-7, -1e-7, 17.0, -104.0,
                     np.nan, np.inf, -np.inf], dtype=np.float32)
    logits.ravel()[: edge.size] = edge
    mask = logits_to_mask(logits).astype(np.uint8)
    up = resize_nearest_reference(mask, 224, 224)
    odd = resize_nearest_reference(mask, 135, 240)
    return {"logits": _save(out, "mask/logits.npy", logits), "mask": _save(out, "mask/mask.npy", mask),
            "upsampled_224x224": _save(out, "mask/mask_224x224.npy", up),
            "upsampled_240x135": _save(out, "mask/mask_240x135.npy", odd)}


def write_stand_in_export(folder: str | Path) -> Path:
    """A real manifest (the Python dataclass) for a stand-in artifact of random bytes, plus tampered.tflite.

    The artifact is not a model: it exercises parsing, hash checks and asset copying only. Returns its path.
    """
    mdir = Path(folder)
    mdir.mkdir(parents=True, exist_ok=True)
    art = mdir / "model.tflite"
    art.write_bytes(np.random.default_rng(SEED + 3).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    tampered = bytearray(art.read_bytes())
    tampered[100] ^= 0x01
    (mdir / "tampered.tflite").write_bytes(bytes(tampered))
    man = Manifest(
        artifact_file=art.name, artifact_sha256=artifact_sha256(art), artifact_size=art.stat().st_size,
        format="tflite", precision="int8", preset="golden", module="model",
        inputs=[TensorSpec("frame", [1, 3, IMAGE_SIZE, IMAGE_SIZE], "int8", "NCHW", Quantization(0.0187, -14), "args_0"),
                TensorSpec("logmel", [1, 1, 96, 64], "float32", "-", None, "args_1")],
        outputs=[TensorSpec("mask_logits", [1, 1, IMAGE_SIZE, IMAGE_SIZE], "int8", "NCHW", Quantization(0.11, 3), "output_0")],
        preprocessing=preprocessing_block(IMAGE_SIZE, IMAGENET_MEAN, IMAGENET_STD, "logmel"),
    )
    write_text_atomic(manifest_path(mdir / "model.tflite"), man.to_json())
    return art


def _manifest_case(out: Path) -> dict:
    """The stand-in export under out/manifest/."""
    art = write_stand_in_export(out / "manifest")
    return {"manifest": "manifest/model.tflite.manifest.json", "artifact": "manifest/model.tflite",
            "tampered": "manifest/tampered.tflite", "sha256": artifact_sha256(art)}


def write_golden(out: str | Path) -> Path:
    """Write every golden case under out and return the path of out/golden.json."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    index = {
        "format": "lightavseg-android-golden", "version": 1,
        "logmel": _logmel_cases(out), "logmel_windows": _window_case(out), "logmel_tolerance": 1e-3,
        "image": {"size": IMAGE_SIZE, "mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD), "cases": _resize_cases(out)},
        "quant": _quant_cases(out), "mask": _mask_cases(out), "manifest": _manifest_case(out),
    }
    path = out / "golden.json"
    write_text_atomic(path, json.dumps(index, indent=2))
    return path


def main(argv: list[str] | None = None) -> int:
    """CLI: write the golden vectors."""
    ap = argparse.ArgumentParser(description="Write golden vectors for the Android app's JVM unit tests.")
    ap.add_argument("--out", required=True, help="output folder (golden.json + .npy/.wav files)")
    args = ap.parse_args(argv)
    print(write_golden(args.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

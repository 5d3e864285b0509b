"""Copy an exported model (+ manifest) and held-out clips into the app's assets (`make android-assets`).

The artifact's hash is checked against its manifest before anything is copied; the app checks it again.
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import sys
from pathlib import Path

from lightavseg_mobile.errors import UserError
from lightavseg_mobile.artifact.manifest import load_manifest, manifest_path
from lightavseg_mobile.io_atomic import write_text_atomic

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_ASSETS = ROOT / "android_demo" / "app" / "src" / "main" / "assets"
DEFAULT_HELDOUT = ROOT / "lightavseg_mobile" / "assets" / "heldout"
FRAMES_PER_CLIP = 5


def copy_model(model: Path, assets: Path) -> Path:
    """Verify and copy the artifact and its manifest to assets/model/ (replacing any previous model)."""
    man, artifact = load_manifest(model, verify=True)
    if man.format != "tflite":
        raise UserError(f"{model} is a {man.format} export; the app runs tflite: pass the .tflite artifact")
    if man.status != "published":
        raise UserError(f"{model} has status {man.status} (it failed its parity gate); export a published model")
    dest = assets / "model"
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    shutil.copyfile(artifact, dest / artifact.name)
    shutil.copyfile(manifest_path(artifact), dest / manifest_path(artifact).name)
    return dest


def check_bare_name(name: str, what: str) -> str:
    """`name` if it is a bare file name (no folder part, not . or .., no NUL), else a one-line UserError."""
    # A name like ../x or /x would make `assets / name` point outside the assets folder.
    if not name or name in (".", "..") or "/" in name or "\\" in name or "\x00" in name or Path(name).name != name:
        raise UserError(f"{what} {name!r} is not a bare file name (no '/', '\\', '..' or NUL allowed)")
    return name


def copy_heldout(heldout: Path, assets: Path, clips: int, split: str) -> Path:
    """Copy the first `clips` clips of `split` (MS3 layout) to assets/heldout/ with an index.json."""
    import soundfile  # only needed to check the clips' audio format

    meta = heldout / "ms3_meta_data.csv"
    if not meta.is_file():
        raise UserError(f"no ms3_meta_data.csv in {heldout}: pass --heldout with an MS3-layout folder")
    check_bare_name(split, "--split")
    with meta.open(newline="") as f:
        reader = csv.DictReader(f)
        missing = [c for c in ("video_id", "split") if c not in (reader.fieldnames or [])]
        if missing:
            raise UserError(f"{meta} lacks column(s) {', '.join(missing)}: expected video_id,split")
        names = sorted(r["video_id"] or "" for r in reader if r["split"] == split)
    if not names:
        raise UserError(f"{meta} has no clip in split {split!r}")
    # Every name becomes a folder under assets/heldout/: check them all before anything is deleted or written.
    for name in names:
        check_bare_name(name, f"video_id in {meta}")
    dest = assets / "heldout"
    shutil.rmtree(dest, ignore_errors=True)
    entries = []
    for name in names[:clips]:
        wav = heldout / "audio_wav" / split / f"{name}.wav"
        info = soundfile.info(str(wav))
        if info.samplerate != 16000 or info.subtype != "PCM_16":
            raise UserError(f"{wav} is {info.samplerate} Hz {info.subtype}; the app reads 16 kHz PCM_16 only")
        (dest / name).mkdir(parents=True)
        shutil.copyfile(wav, dest / name / "audio.wav")
        frames = []
        for i in range(1, FRAMES_PER_CLIP + 1):
            src = heldout / "visual_frames" / name / f"{name}.mp4_{i}.png"
            if not src.is_file():
                raise UserError(f"frame {src} is missing")
            shutil.copyfile(src, dest / name / f"frame_{i}.png")
            frames.append(f"{name}/frame_{i}.png")
        entries.append({"name": name, "split": split, "frames": frames, "audio": f"{name}/audio.wav"})
    write_text_atomic(dest / "index.json", json.dumps(
        {"format": "lightavseg-android-heldout", "version": 1, "clips": entries}, indent=2))
    return dest


def main(argv: list[str] | None = None) -> int:
    """CLI entry point."""
    ap = argparse.ArgumentParser(description="Copy an exported TFLite model and held-out clips into the app's assets.")
    ap.add_argument("--model", required=True, help="the .tflite artifact (or its .manifest.json) from lavseg-export")
    ap.add_argument("--assets", default=str(DEFAULT_ASSETS), help="the app's assets folder")
    ap.add_argument("--heldout", default=str(DEFAULT_HELDOUT), help="held-out clips in MS3 layout")
    ap.add_argument("--clips", type=int, default=8, help="how many clips the bench mode runs (default 8)")
    ap.add_argument("--split", default="test")
    args = ap.parse_args(argv)
    try:
        if args.clips < 1:
            raise UserError(f"--clips {args.clips} must be at least 1")
        assets = Path(args.assets)
        model_dir = copy_model(Path(args.model), assets)
        heldout_dir = copy_heldout(Path(args.heldout), assets, args.clips, args.split)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"model -> {model_dir}\nheld-out clips -> {heldout_dir}\nnow rebuild the APK (make android-apk or ./gradlew assembleDebug)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""AVSBench S4 (single source) and MS3 (multi source) loaders in their published folder layouts."""

from __future__ import annotations

import csv
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from lightavseg_mobile.data.clip import LOGMEL_BANDS, LOGMEL_FRAMES, Clip
from lightavseg_mobile.errors import DataError, UserError

SUBSETS = ("s4", "ms3")
SPLITS = ("train", "val", "test")
AUDIO_SOURCES = ("pkl", "wav", "auto")
NUM_FRAMES = 5
SAMPLE_RATE = 16000

META_CSV = {"s4": "s4_meta_data.csv", "ms3": "ms3_meta_data.csv"}
# Columns of the released csv files; AVSBench's own loaders read the name from column 0.
CSV_COLUMNS = {"s4": ("name", "start", "category", "split"), "ms3": ("video_id", "split")}
_REQUIRED_COLUMNS = {"s4": ("name", "category", "split"), "ms3": ("video_id", "split")}
_NAME_COLUMN = {"s4": "name", "ms3": "video_id"}
# The release puts the csv next to a `{subset}_data/` folder; a flat tree (csv beside the folders) also works.
_DATA_SUBDIR = {"s4": "s4_data", "ms3": "ms3_data"}

_LAYOUT_HELP = {
    "s4": (
        "AVSBench S4 layout: s4_meta_data.csv (columns name,start,category,split) and "
        "visual_frames/{split}/{category}/{video}/{video}_{1..5}.png, "
        "gt_masks/{split}/{category}/{video}/{video}_{i}.png, "
        "audio_log_mel/{split}/{category}/{video}.pkl or audio_wav/{split}/{category}/{video}.wav "
        "(beside the csv or under s4_data/)"
    ),
    "ms3": (
        "AVSBench MS3 layout: ms3_meta_data.csv (columns video_id,split) and "
        "visual_frames/{video}/{video}.mp4_{1..5}.png, gt_masks/{split}/{video}/{video}_{i}.png, "
        "audio_log_mel/{split}/{video}.pkl or audio_wav/{split}/{video}.wav (beside the csv or under ms3_data/)"
    ),
}


@dataclass(frozen=True)
class VideoRecord:
    """One row of an AVSBench meta csv."""

    name: str
    split: str
    category: str | None


def _check_choice(value: str, choices: tuple[str, ...], what: str) -> None:
    if value not in choices:
        raise UserError(f"unknown {what} {value!r}: choose one of {', '.join(choices)}")


def detect_subset(root: str | Path) -> str:
    """Return "s4" or "ms3" according to which meta csv exists in `root`."""
    root = Path(root)
    found = [s for s in SUBSETS if (root / META_CSV[s]).is_file()]
    if len(found) == 1:
        return found[0]
    if not found:
        raise DataError(
            f"{root} holds neither s4_meta_data.csv nor ms3_meta_data.csv: point at the folder of an "
            "AVSBench subset (e.g. avsbench_data/Single-source or avsbench_data/Multi-sources)"
        )
    raise DataError(f"{root} holds both s4_meta_data.csv and ms3_meta_data.csv: pass the subset explicitly")


class AVSBenchLayout:
    """Where every file of one AVSBench subset lives; shared by the loader, the generator and `inspect`."""

    def __init__(self, root: str | Path, subset: str, *, must_exist: bool = True) -> None:
        _check_choice(subset, SUBSETS, "subset")
        self.root = Path(root)
        self.subset = subset
        self.csv_path = self.root / META_CSV[subset]
        nested = self.root / _DATA_SUBDIR[subset]
        self.data_root = nested if (nested / "visual_frames").is_dir() else self.root
        if must_exist and not self.csv_path.is_file():
            raise DataError(f"missing {self.csv_path}: expected the {_LAYOUT_HELP[subset]}")

    @property
    def help(self) -> str:
        """One sentence describing the expected layout."""
        return _LAYOUT_HELP[self.subset]

    def frames_dir(self) -> Path:
        """Root of the frame folders."""
        return self.data_root / "visual_frames"

    def masks_dir(self) -> Path:
        """Root of the ground-truth mask folders."""
        return self.data_root / "gt_masks"

    def pkl_dir(self) -> Path:
        """Root of the precomputed log-mel pickles."""
        return self.data_root / "audio_log_mel"

    def wav_dir(self) -> Path:
        """Root of the 16 kHz wav files."""
        return self.data_root / "audio_wav"

    def _split_part(self, rec: VideoRecord) -> Path:
        # S4 nests every per-split folder by category; MS3 does not.
        if self.subset == "s4":
            return Path(rec.split) / str(rec.category)
        return Path(rec.split)

    def frame_path(self, rec: VideoRecord, i: int) -> Path:
        """Frame i (1-based) of a video."""
        if self.subset == "s4":
            return self.frames_dir() / self._split_part(rec) / rec.name / f"{rec.name}_{i}.png"
        return self.frames_dir() / rec.name / f"{rec.name}.mp4_{i}.png"

    def mask_path(self, rec: VideoRecord, i: int) -> Path:
        """Ground-truth mask i (1-based) of a video."""
        return self.masks_dir() / self._split_part(rec) / rec.name / f"{rec.name}_{i}.png"

    def pkl_path(self, rec: VideoRecord) -> Path:
        """Pickled log-mel tensor [5,1,96,64] of a video."""
        return self.pkl_dir() / self._split_part(rec) / f"{rec.name}.pkl"

    def wav_path(self, rec: VideoRecord) -> Path:
        """Audio track of a video."""
        return self.wav_dir() / self._split_part(rec) / f"{rec.name}.wav"

    def records(self) -> list[VideoRecord]:
        """All rows of the meta csv, in file order."""
        return read_meta(self.csv_path, self.subset)

    def mask_count(self, split: str) -> int:
        """How many frames carry a ground-truth mask: S4 train annotates only the first frame."""
        return 1 if (self.subset == "s4" and split == "train") else NUM_FRAMES


def read_meta(csv_path: str | Path, subset: str) -> list[VideoRecord]:
    """Parse an AVSBench meta csv into records, checking the columns the loader needs."""
    csv_path = Path(csv_path)
    try:
        with open(csv_path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            columns = [c.strip() for c in (reader.fieldnames or [])]
            missing = [c for c in _REQUIRED_COLUMNS[subset] if c not in columns]
            if missing:
                raise DataError(
                    f"{csv_path} lacks column(s) {', '.join(missing)} (has {', '.join(columns) or 'none'}): "
                    f"expected {','.join(CSV_COLUMNS[subset])}"
                )
            reader.fieldnames = columns
            out = []
            for lineno, row in enumerate(reader, start=2):
                name = (row.get(_NAME_COLUMN[subset]) or "").strip()
                split = (row.get("split") or "").strip()
                category = (row.get("category") or "").strip() if subset == "s4" else None
                if not name or not split or category == "":
                    raise DataError(f"{csv_path}:{lineno}: empty name, split or category field")
                out.append(VideoRecord(name=name, split=split, category=category))
    except OSError as e:
        raise DataError(f"cannot read {csv_path}: {e.strerror or e}") from None
    return out


def _require_file(path: Path, layout: AVSBenchLayout) -> None:
    if not path.is_file():
        raise DataError(f"missing {path}: expected the {layout.help}")


def load_frame(path: Path, image_size: int) -> np.ndarray:
    """Read an RGB frame as uint8 [S,S,3], resized bilinearly only if it is not S x S already."""
    with Image.open(path) as im:
        im = im.convert("RGB")
        if im.size != (image_size, image_size):
            im = im.resize((image_size, image_size), Image.Resampling.BILINEAR)
        return np.asarray(im, dtype=np.uint8).copy()


def load_mask(path: Path, subset: str, image_size: int | None) -> np.ndarray:
    """Read a ground-truth mask as uint8 {0,1} [S,S], binarised the way AVSBench's own loaders do.

    S4 opens masks in PIL mode "1" (foreground = grey level >= 128); MS3 opens them in mode "P"
    and any non-zero index is foreground. Resizing is nearest-neighbour so labels never blend;
    image_size=None keeps the stored size.
    """
    with Image.open(path) as im:
        if subset == "ms3" and im.mode == "P":
            values = np.asarray(im)
        else:
            values = np.asarray(im.convert("L"))
    binary = (values > 0) if subset == "ms3" else (values > 127)
    mask = binary.astype(np.uint8)
    if image_size is not None and mask.shape != (image_size, image_size):
        resized = Image.fromarray(mask).resize((image_size, image_size), Image.Resampling.NEAREST)
        mask = np.asarray(resized, dtype=np.uint8).copy()
    return mask


class _TensorUnpickler(pickle.Unpickler):
    """Unpickler limited to what a pickled torch tensor or numpy array needs."""

    _ALLOWED_PREFIXES = ("torch", "numpy")
    _ALLOWED = {("collections", "OrderedDict")}

    def find_class(self, module: str, name: str):  # noqa: ANN201 (pickle API)
        if module.split(".")[0] in self._ALLOWED_PREFIXES or (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"global {module}.{name} is not allowed in a log-mel pickle")


def read_logmel_pkl(path: str | Path) -> np.ndarray:
    """Read an AVSBench log-mel pickle (a torch tensor [5,1,96,64]) as float32 [5,96,64]."""
    path = Path(path)
    # The release pickles torch tensors, so torch must be importable to read them (host only).
    import torch  # noqa: F401  (registers the classes the pickle refers to)

    try:
        with open(path, "rb") as f:
            obj = _TensorUnpickler(f).load()
    except OSError as e:
        raise DataError(f"cannot read {path}: {e.strerror or e}") from None
    except Exception as e:  # a corrupt pickle can raise almost anything
        raise DataError(f"{path} is not a readable log-mel pickle ({type(e).__name__}: {e})") from None
    if hasattr(obj, "detach"):
        obj = obj.detach().cpu().numpy()
    arr = np.asarray(obj, dtype=np.float32)
    if arr.ndim == 4 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 3 or arr.shape[1:] != (LOGMEL_FRAMES, LOGMEL_BANDS):
        raise DataError(f"{path} holds an array of shape {tuple(arr.shape)}, expected [N,1,96,64]")
    return np.ascontiguousarray(arr)


def read_wav(path: str | Path) -> tuple[np.ndarray, int]:
    """Read a wav file as mono float32 in [-1,1] (int16 / 32768) and its sample rate."""
    import soundfile

    try:
        data, sr = soundfile.read(str(path), dtype="float32", always_2d=True)
    except (OSError, RuntimeError) as e:
        raise DataError(f"cannot read audio {path}: {e}") from None
    return np.ascontiguousarray(data.mean(axis=1, dtype=np.float32)), int(sr)


def logmel_from_wav(path: str | Path, num_patches: int = NUM_FRAMES) -> np.ndarray:
    """VGGish log-mel patches float32 [num_patches,96,64] of a wav file."""
    from lightavseg_mobile.audio import log_mel

    wave, sr = read_wav(path)
    return np.asarray(log_mel(wave, sr, num_patches=num_patches), dtype=np.float32)


class AVSBenchDataset:
    """Clips of one split of AVSBench S4 or MS3, read from the published layout."""

    def __init__(
        self,
        root: str | Path,
        subset: str,
        split: str,
        image_size: int = 224,
        audio: str = "auto",
    ) -> None:
        _check_choice(subset, SUBSETS, "subset")
        _check_choice(split, SPLITS, "split")
        _check_choice(audio, AUDIO_SOURCES, "audio source")
        if image_size < 8:
            raise UserError(f"image_size {image_size} is too small: use at least 8 (224 for AVSBench)")
        root = Path(root)
        if not root.is_dir():
            raise DataError(f"dataset folder {root} does not exist: expected the {_LAYOUT_HELP[subset]}")
        self.layout = AVSBenchLayout(root, subset)
        self.subset = subset
        self.split = split
        self.image_size = int(image_size)
        self.audio = audio
        self._records = [r for r in self.layout.records() if r.split == split]
        # Check the folders up front so a wrong root fails at once, not at the first batch.
        needed = [self.layout.frames_dir(), self.layout.masks_dir()]
        if audio == "pkl":
            needed.append(self.layout.pkl_dir())
        elif audio == "wav":
            needed.append(self.layout.wav_dir())
        elif not (self.layout.pkl_dir().is_dir() or self.layout.wav_dir().is_dir()):
            needed.append(self.layout.pkl_dir())
        for d in needed:
            if not d.is_dir():
                raise DataError(f"missing folder {d}: expected the {self.layout.help}")

    @property
    def names(self) -> list[str]:
        """Video names of this split, in csv order."""
        return [r.name for r in self._records]

    @property
    def records(self) -> list[VideoRecord]:
        """Csv rows of this split."""
        return list(self._records)

    def __len__(self) -> int:
        return len(self._records)

    def _logmel(self, rec: VideoRecord) -> np.ndarray:
        pkl, wav = self.layout.pkl_path(rec), self.layout.wav_path(rec)
        if self.audio == "pkl" or (self.audio == "auto" and pkl.is_file()):
            _require_file(pkl, self.layout)
            lm = read_logmel_pkl(pkl)
        elif self.audio == "wav" or wav.is_file():
            _require_file(wav, self.layout)
            lm = logmel_from_wav(wav, NUM_FRAMES)
        else:
            raise DataError(f"missing audio for {rec.name}: neither {pkl} nor {wav} exists")
        if lm.shape[0] != NUM_FRAMES:
            raise DataError(f"log-mel of {rec.name} has {lm.shape[0]} patches, expected {NUM_FRAMES}")
        return lm

    def __getitem__(self, index: int) -> Clip:
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} videos")
        rec = self._records[index]
        s = self.image_size
        frames = np.empty((NUM_FRAMES, s, s, 3), dtype=np.uint8)
        for i in range(NUM_FRAMES):
            path = self.layout.frame_path(rec, i + 1)
            _require_file(path, self.layout)
            frames[i] = load_frame(path, s)
        masks = np.zeros((NUM_FRAMES, s, s), dtype=np.uint8)
        valid = np.zeros(NUM_FRAMES, dtype=bool)
        for i in range(self.layout.mask_count(self.split)):
            path = self.layout.mask_path(rec, i + 1)
            _require_file(path, self.layout)
            masks[i] = load_mask(path, self.subset, s)
            valid[i] = True
        return Clip(
            name=rec.name,
            frames=frames,
            logmel=self._logmel(rec),
            masks=masks,
            mask_valid=valid,
            category=rec.category,
        )

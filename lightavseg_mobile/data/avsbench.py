"""AVSBench S4 (single source) and MS3 (multi source) loaders in their published folder layouts."""

from __future__ import annotations

import csv
import io
import pickle
import warnings
from collections import OrderedDict
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
    except (UnicodeDecodeError, csv.Error) as e:  # a meta csv from elsewhere may be any bytes
        raise DataError(f"{csv_path} is not a UTF-8 CSV file ({type(e).__name__}: {str(e)[:120]})") from None
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


# Log-mel pickles come from downloads, so reading one must never run code. pickle.Unpickler only lets us
# filter globals; the pure-Python pickle VM (pickle._Unpickler) also lets us refuse the opcodes that call or
# mutate things a tensor pickle never needs (NEWOBJ, INST/OBJ, BUILD on anything but numpy objects, item
# assignment on non-containers, persistent ids, the copyreg extension registry). The files are small
# (about 120 kB), so the slower VM costs nothing measurable.
_MAX_PKL_BYTES = 64 << 20  # a [5,1,96,64] float32 tensor is 123 kB; anything near this limit is not a log-mel
_NUMERIC_KINDS = "biufc"
_TORCH_DTYPES = ("float32", "float16", "float64", "bfloat16")


def _refuse(what: str) -> pickle.UnpicklingError:
    return pickle.UnpicklingError(f"{what} is not allowed in a log-mel pickle")


def _check_np_dtype(d: object) -> np.dtype:
    # Object, structured and sub-array dtypes would let a pickle place arbitrary objects inside an array.
    if not isinstance(d, np.dtype) or d.kind not in _NUMERIC_KINDS or d.hasobject or d.fields is not None \
            or d.subdtype is not None:
        raise _refuse(f"numpy dtype {d!r}")
    return d


def _np_dtype(obj: object, align: object = False, copy: object = False) -> np.dtype:
    # numpy pickles a dtype as dtype("f4", False, True) followed by BUILD with its byte order.
    if not isinstance(obj, str) or not isinstance(align, bool) or not isinstance(copy, bool):
        raise _refuse(f"numpy dtype arguments {obj!r}")
    return _check_np_dtype(np.dtype(obj, align=align, copy=copy))


def _np_reconstruct(subtype: object, shape: object, dtype: object) -> np.ndarray:
    # numpy pickles every ndarray as _reconstruct(ndarray, (0,), b"b") followed by BUILD with the real state.
    if subtype is not np.ndarray or shape != (0,) or not isinstance(dtype, (bytes, str)):
        raise _refuse(f"numpy _reconstruct{(subtype, shape, dtype)!r}")
    return np.ndarray((0,), dtype=np.uint8)


def _np_frombuffer(buf: object, dtype: object, shape: object, order: object, axis_order: object = None) -> np.ndarray:
    # Protocol-5 form of an array: raw bytes, dtype, shape, memory order (and, for order "K", the axis permutation).
    if not isinstance(buf, (bytes, bytearray, pickle.PickleBuffer)) or order not in ("C", "F", "K") \
            or not _int_tuple(shape) or not (axis_order is None or _int_tuple(axis_order)):
        raise _refuse("numpy _frombuffer arguments")
    array = np.frombuffer(buf, dtype=_check_np_dtype(dtype))
    if order == "K" and axis_order is not None:
        return array.reshape(shape, order="C").transpose(axis_order)
    return array.reshape(shape, order="F" if order == "F" else "C")


def _int_tuple(value: object) -> bool:
    return isinstance(value, tuple) and all(type(n) is int for n in value)


def _codecs_encode(obj: object, encoding: object = "utf-8") -> bytes:
    # Protocols 0-2 store bytes as a latin-1 string decoded by _codecs.encode(text, "latin1"); no other codec.
    if not isinstance(obj, str) or encoding not in ("latin1", "latin-1"):
        raise _refuse(f"_codecs.encode with encoding {encoding!r}")
    return obj.encode("latin1")


def _torch_storage_from_bytes(b: object) -> object:
    """Stand-in for torch.storage._load_from_bytes, which calls torch.load(weights_only=False) on the bytes."""
    import torch

    if not isinstance(b, bytes):
        raise _refuse("torch.storage._load_from_bytes on a non-bytes argument")
    # weights_only=True runs torch's own restricted unpickler on the nested storage pickle.
    storage = torch.load(io.BytesIO(b), map_location="cpu", weights_only=True)
    if not isinstance(storage, torch.storage.TypedStorage):
        raise _refuse(f"a nested {type(storage).__name__} in place of a tensor storage")
    return storage


def _torch_rebuild_tensor_v2(storage: object, storage_offset: object, size: object, stride: object,
                             requires_grad: object, backward_hooks: object, metadata: object = None) -> object:
    """Stand-in for torch._utils._rebuild_tensor_v2 that takes only a CPU storage, int geometry and no hooks."""
    import torch
    from torch._utils import _rebuild_tensor_v2

    ints = (isinstance(size, tuple) and isinstance(stride, tuple)
            and all(type(n) is int for n in (storage_offset, *size, *stride)))
    if not isinstance(storage, torch.storage.TypedStorage) or not ints \
            or not isinstance(requires_grad, bool) or backward_hooks or metadata:
        raise _refuse("torch._utils._rebuild_tensor_v2 with these arguments")
    return _rebuild_tensor_v2(storage, storage_offset, size, stride, False, OrderedDict())


def _torch_rebuild_from_numpy(data: object, dtype: object, device: object, requires_grad: object) -> object:
    """Stand-in for torch._utils._rebuild_device_tensor_from_numpy that only builds CPU tensors."""
    import torch

    if not isinstance(data, np.ndarray) or not isinstance(dtype, torch.dtype) or device != "cpu" \
            or not isinstance(requires_grad, bool):
        raise _refuse("torch._utils._rebuild_device_tensor_from_numpy with these arguments")
    _check_np_dtype(data.dtype)
    return torch.from_numpy(data).to(dtype=dtype, device="cpu")


def _torch_dtype(name: str) -> object:
    import torch

    return getattr(torch, name)


# Exactly the globals the pickles of a CPU float tensor or a numpy array refer to: torch's pickle.dumps(tensor)
# (_rebuild_tensor_v2 + _load_from_bytes + OrderedDict), the rebuild-from-numpy form of the shipped held-out
# clips, and numpy arrays under protocols 0-5 (numpy 1.x spells numpy._core as numpy.core).
_CALLABLES: dict[tuple[str, str], object] = {
    ("torch._utils", "_rebuild_tensor_v2"): _torch_rebuild_tensor_v2,
    ("torch._utils", "_rebuild_device_tensor_from_numpy"): _torch_rebuild_from_numpy,
    ("torch.storage", "_load_from_bytes"): _torch_storage_from_bytes,
    ("collections", "OrderedDict"): OrderedDict,
    ("numpy", "dtype"): _np_dtype,
    ("numpy._core.multiarray", "_reconstruct"): _np_reconstruct,
    ("numpy.core.multiarray", "_reconstruct"): _np_reconstruct,
    ("numpy._core.numeric", "_frombuffer"): _np_frombuffer,
    ("numpy.core.numeric", "_frombuffer"): _np_frombuffer,
    ("_codecs", "encode"): _codecs_encode,
}
# Globals that are only ever arguments, never called.
_VALUES: dict[tuple[str, str], object] = {("numpy", "ndarray"): np.ndarray}


class _TensorUnpickler(pickle._Unpickler):  # type: ignore[name-defined]  # the pure-Python VM, see above
    """Unpickler limited to what a pickled CPU float tensor or numpy array needs; anything else raises."""

    dispatch = dict(pickle._Unpickler.dispatch)  # type: ignore[attr-defined]

    def find_class(self, module: str, name: str) -> object:
        """The allowed object for (module, name); every other global is refused."""
        key = (module, name)
        if key in _CALLABLES:
            return _CALLABLES[key]
        if key in _VALUES:
            return _VALUES[key]
        if module == "torch" and name in _TORCH_DTYPES:
            return _torch_dtype(name)
        raise _refuse(f"global {module}.{name}")

    def persistent_load(self, pid: object) -> object:
        """Persistent ids belong to torch.save archives, never to a plain pickle."""
        raise _refuse("a persistent id")

    def _load_reduce(self) -> None:
        args = self.stack.pop()
        func = self.stack[-1]
        if not any(func is f for f in _CALLABLES.values()) or not isinstance(args, tuple):
            raise _refuse(f"calling {func!r}")
        self.stack[-1] = func(*args)

    def _load_build(self) -> None:
        # BUILD is how numpy restores an array's or a dtype's state; on anything else (a function, a class)
        # it would set attributes, e.g. rewrite a torch function's __defaults__ for the rest of the process.
        state = self.stack.pop()
        inst = self.stack[-1]
        if type(inst) is np.ndarray:
            inst.__setstate__(state)
            _check_np_dtype(inst.dtype)
        elif type(inst) is np.dtype or isinstance(inst, np.dtype):
            inst.__setstate__(state)
            _check_np_dtype(inst)
        else:
            raise _refuse(f"restoring the state of a {type(inst).__name__}")

    def _load_append(self) -> None:
        value = self.stack.pop()
        _container(self.stack[-1], list).append(value)

    def _load_appends(self) -> None:
        items = self.pop_mark()
        _container(self.stack[-1], list).extend(items)

    def _load_setitem(self) -> None:
        value = self.stack.pop()
        key = self.stack.pop()
        _container(self.stack[-1], dict)[key] = value

    def _load_setitems(self) -> None:
        items = self.pop_mark()
        target = _container(self.stack[-1], dict)
        for i in range(0, len(items), 2):
            target[items[i]] = items[i + 1]

    def _load_additems(self) -> None:
        items = self.pop_mark()
        _container(self.stack[-1], set).update(items)

    def _load_forbidden(self) -> None:
        raise _refuse("this pickle opcode (object construction, persistent id or extension code)")

    dispatch[pickle.REDUCE[0]] = _load_reduce
    dispatch[pickle.BUILD[0]] = _load_build
    dispatch[pickle.APPEND[0]] = _load_append
    dispatch[pickle.APPENDS[0]] = _load_appends
    dispatch[pickle.SETITEM[0]] = _load_setitem
    dispatch[pickle.SETITEMS[0]] = _load_setitems
    dispatch[pickle.ADDITEMS[0]] = _load_additems
    for _op in (pickle.NEWOBJ, pickle.NEWOBJ_EX, pickle.INST, pickle.OBJ, pickle.PERSID, pickle.BINPERSID,
                pickle.EXT1, pickle.EXT2, pickle.EXT4):
        dispatch[_op[0]] = _load_forbidden
    del _op


def _container(obj: object, kind: type) -> object:
    # Item opcodes call obj.append / obj[key] = v; only plain containers (OrderedDict is a dict) may receive them.
    if not isinstance(obj, kind) or type(obj) not in (kind, OrderedDict):
        raise _refuse(f"adding items to a {type(obj).__name__}")
    return obj


def read_logmel_pkl(path: str | Path) -> np.ndarray:
    """Read an AVSBench log-mel pickle (a torch tensor [5,1,96,64]) as float32 [5,96,64]."""
    path = Path(path)
    # The release pickles torch tensors, so torch must be importable to read them (host only).
    import torch

    try:
        with open(path, "rb") as f:
            data = f.read(_MAX_PKL_BYTES + 1)
    except OSError as e:
        raise DataError(f"cannot read {path}: {e.strerror or e}") from None
    if len(data) > _MAX_PKL_BYTES:
        raise DataError(f"{path} is larger than {_MAX_PKL_BYTES >> 20} MiB: not a log-mel pickle")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch warns that TypedStorage is deprecated while rebuilding
            obj = _TensorUnpickler(io.BytesIO(data)).load()
        if not isinstance(obj, (torch.Tensor, np.ndarray)):
            raise _refuse(f"a {type(obj).__name__} (a tensor or an array was expected)")
    except Exception as e:  # a corrupt or hostile pickle can raise almost anything
        first = (str(e).strip().splitlines() or [""])[0]
        raise DataError(f"{path} is not a readable log-mel pickle ({type(e).__name__}: {first})") from None
    if isinstance(obj, torch.Tensor):
        obj = obj.detach().cpu().float().numpy()
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

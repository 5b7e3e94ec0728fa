"""Modality kinds: what a modality's samples are (``text``, ``image``, ``audio`` waveform, ``spectrogram``,
``video``, ``vector``), so that default encoders fit them (:func:`umelib.models.encoders.default_encoder_name`).

A kind is recorded per modality in an ``.npz`` as ``kind/<modality>`` (a string); :func:`infer_kind` guesses it
from the samples and the modality's name for a file without one, and :func:`check_kind` refuses a kind that
the samples cannot be (one line, how to fix it)."""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from ..errors import UmeError

KINDS = ("text", "image", "audio", "spectrogram", "video", "vector")
SAMPLE_DIMS = {"text": "(L,) uint8 bytes", "image": "(H, W) or (C, H, W)", "audio": "(T,) waveform",
               "spectrogram": "(H, W) or (C, H, W)", "video": "(F, C, H, W) frames", "vector": "any shape"}
_AUDIO_WORDS = ("audio", "wav", "sound", "speech", "voice")
_SPEC_WORDS = ("spec", "mel", "mfcc", "fbank")


def _array(x: Any) -> np.ndarray:
    return x.detach().cpu().numpy() if hasattr(x, "detach") else np.asarray(x)


def looks_like_text(x: Any, rows: int = 200) -> bool:
    """Whether ``uint8`` rows (N, L) hold UTF-8 text padded with zeros (as :func:`umelib.texts.encode_texts`
    writes it): on up to ``rows`` rows, no byte after the padding starts, valid UTF-8, mostly printable."""
    a = _array(x)
    if a.dtype != np.uint8 or a.ndim != 2:
        return False
    sample = a[:rows]
    printable = total = 0
    for row in sample:
        nz = np.flatnonzero(row)
        end = int(nz[-1]) + 1 if len(nz) else 0
        if end and not row[:end].all():
            return False  # a zero inside the text: not zero padding
        try:
            s = bytes(row[:end]).decode("utf-8")
        except UnicodeDecodeError:
            return False
        printable += sum(c.isprintable() or c in "\n\t\r" for c in s)
        total += len(s)
    return total == 0 or printable >= 0.95 * total


def infer_kind(name: str, x: Any) -> str:
    """A modality's kind guessed from its samples (N, ...) and its name: ``uint8`` rows of UTF-8 bytes -> text;
    one long dimension named like audio -> audio; (H, W) or (C, H, W) -> image (spectrogram when named like
    one, or like audio); (F, C, H, W) -> video; anything else -> vector."""
    a = _array(x)
    shape, low = a.shape[1:], name.lower()
    if len(shape) == 1:
        if a.dtype == np.uint8 and looks_like_text(a):
            return "text"
        if any(w in low for w in _AUDIO_WORDS) and shape[0] >= 1000:
            return "audio"
        return "vector"
    if len(shape) in (2, 3):
        if any(w in low for w in _SPEC_WORDS + _AUDIO_WORDS):
            return "spectrogram"
        return "image"
    if len(shape) == 4:
        return "video"
    return "vector"


def check_kind(name: str, kind: str, x: Any, where: str = "") -> None:
    """Refuse a ``kind`` unknown, or one that modality ``name``'s samples cannot be; a modality named ``text``
    must hold text unless its kind says otherwise (``where``: the file, for the message)."""
    if kind not in KINDS:
        raise UmeError(f"kind '{kind}' of modality '{name}' unknown; use one of {', '.join(KINDS)}")
    a = _array(x)
    shape, at = a.shape[1:], f" in {where}" if where else ""
    ok = {"text": a.dtype == np.uint8 and len(shape) == 1 and looks_like_text(a),
          "image": len(shape) in (2, 3), "spectrogram": len(shape) in (2, 3), "audio": len(shape) == 1,
          "video": len(shape) == 4, "vector": True}[kind]
    if not ok:
        got = "uint8 bytes that are not UTF-8 text" if kind == "text" and a.dtype == np.uint8 and len(shape) == 1 \
            else f"{a.dtype} samples of shape {tuple(shape)}"
        raise UmeError(f"modality '{name}'{at} is of kind {kind} but holds {got}; a {kind} modality holds "
                       f"{SAMPLE_DIMS[kind]}" + (" (pass a list of str for text)" if kind == "text" else "")
                       + (f"; rename it, or give its kind (kinds={{'text': '{infer_kind(name, a)}'}}, --kind text={infer_kind(name, a)})"
                          if name == "text" else ""))


def resolve_kinds(xs: Mapping[str, Any], given: Mapping[str, str] | None = None, where: str = "") -> dict[str, str]:
    """Each modality's kind: ``given`` (checked against the samples; naming a modality that ``xs`` does not have
    is an error), else inferred. A modality named ``text`` inferred as something else is refused."""
    given = dict(given or {})
    unknown = sorted(set(given) - set(xs))
    if unknown:
        raise UmeError(f"kinds given for modality '{unknown[0]}' that {where or 'the data'} does not have "
                       f"(modalities: {', '.join(xs)})")
    out = {}
    for m, x in xs.items():
        out[m] = given.get(m) or infer_kind(m, x)
        if m == "text" and m not in given:
            check_kind(m, "text", x, where)
        check_kind(m, out[m], x, where)
    return out

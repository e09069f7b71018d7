"""Project names as people write them differently in different lists: normalise, compare. Pure."""

from __future__ import annotations

import re
import unicodedata

from rapidfuzz import fuzz

_BRACKETS = str.maketrans({"【": "(", "】": ")", "[": "(", "]": ")", "〔": "(", "〕": ")", "｛": "(", "｝": ")",
                           "{": "(", "}": ")", "《": "", "》": "", "“": "", "”": "", "\"": "", "'": ""})
_SPACES = re.compile(r"[\s\u3000\u00a0·・,，、.。;；:：\-—_/]+")
_SUFFIXES = ("建设项目", "项目", "工程")


def normalize_name(name: str) -> str:
    """NFKC (full-width → half-width), one bracket style, no spaces or punctuation, no trailing 项目/工程."""
    text = unicodedata.normalize("NFKC", name or "").translate(_BRACKETS).lower()
    text = _SPACES.sub("", text)
    changed = True
    while changed:
        changed = False
        for suffix in _SUFFIXES:
            if text.endswith(suffix) and len(text) > len(suffix):
                text, changed = text[: -len(suffix)], True
    return text


_NUMBERS = re.compile(r"\d+|[一二三四五六七八九十百零〇两]+[期号#]?|[a-z]")
DIFFERENT_NUMBERS_CAP = 89.0  # below "same": 一期/二期, 1号/2号 地块 are different parcels until a person says so


def name_similarity(a: str, b: str) -> float:
    """0–100 on normalised names (plain ratio: token order matters little in Chinese names). Names that differ
    in their numbers (phase, lot number) never count as the same project."""
    na, nb = normalize_name(a), normalize_name(b)
    if not na or not nb:
        return 0.0
    if na == nb:
        return 100.0
    score = float(fuzz.ratio(na, nb))
    if _NUMBERS.findall(na) != _NUMBERS.findall(nb):
        score = min(score, DIFFERENT_NUMBERS_CAP)
    return score


def classify_match(score: float, same: float = 95, uncertain: float = 80) -> str:
    if score >= same:
        return "same"
    if score >= uncertain:
        return "uncertain"
    return "different"

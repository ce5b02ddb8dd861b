"""The interface of an image source: a fixed-length, indexable set of RGB images."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

import numpy as np

# Threads that hash files at once: reading and sha256 of a block both release the GIL.
HASH_THREADS = 8


class ImageSource(Protocol):
    """A deterministic, ordered collection of images.

    `load(i)` returns image `i` as `(H, W, 3)` uint8 or raises `GanEvalError`
    naming the file. Sources must be picklable so that decoding can run in
    worker processes.
    """

    name: str

    def __len__(self) -> int: ...

    def load(self, index: int) -> np.ndarray: ...

    def describe(self, index: int) -> str:
        """The file or entry behind image `index`, for messages."""
        ...


def content_fingerprint(kind: str, names: Sequence[str], digest_of: Callable[[int], str], threads: int = 1) -> str:
    """The feature cache's key of an input: sha256 over every item's name and the sha256 of the bytes decoded.

    `digest_of(i)` is the hex sha256 of item `i`'s bytes (a file's, or a zip member's once inflated); nothing a
    file states about itself (sizes, times, CRC-32s) enters the key, so no input can be made to match another
    input's entry without the same bytes. Costs one read of every byte, with no decoding.
    """
    digest = hashlib.sha256(f"{kind}\0".encode())
    if threads > 1 and len(names) > 1:
        with ThreadPoolExecutor(min(threads, len(names))) as pool:
            digests = list(pool.map(digest_of, range(len(names))))
    else:
        digests = [digest_of(i) for i in range(len(names))]
    for name, item in zip(names, digests, strict=True):
        digest.update(json.dumps([name, item]).encode() + b"\n")
    return digest.hexdigest()

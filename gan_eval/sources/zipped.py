"""Images inside a zip archive, sorted by member name; members are never extracted to disk."""

from __future__ import annotations

import copy
import hashlib
import io
import lzma
import os
import zipfile
import zlib
from collections import Counter
from pathlib import Path, PurePosixPath

import numpy as np

from gan_eval.errors import GanEvalError
from gan_eval.regular_files import require_regular_file
from gan_eval.sources.base import content_fingerprint
from gan_eval.sources.decode import IMAGE_EXTENSIONS, decode_image
from gan_eval.sources.folder import warn_of_ignored_files

# Larger than any image file under Pillow's decompression-bomb limit (89.5 million 16-bit RGBA pixels
# uncompressed are 716 MB); members are read into memory, so a bigger one is refused unread, and reading
# stops there whatever the member's header says.
MAX_MEMBER_BYTES = 1 << 30
# Members are inflated this many bytes at a time, so a member never takes more than its declared size plus this.
_READ_CHUNK = 1 << 16
# What a corrupt member raises while it is inflated: a damaged deflate, LZMA or bzip2 stream (the last as
# OSError), a CRC mismatch, data cut short.
_CORRUPT_MEMBER = (zipfile.BadZipFile, zlib.error, lzma.LZMAError, OSError, EOFError)


def _escapes_root(member: str) -> bool:
    path = PurePosixPath(member.replace("\\", "/"))
    return path.is_absolute() or ".." in path.parts or (len(member) > 1 and member[1] == ":")


class ZipSource:
    """Every image member of a zip archive; each worker process opens its own handle."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.name = str(self.path)
        require_regular_file(self.path)
        try:
            with zipfile.ZipFile(self.path) as archive:
                infos = archive.infolist()
        except (zipfile.BadZipFile, OSError) as exc:
            raise GanEvalError(f"{self.path} is not a readable zip archive ({exc})") from None
        counts = Counter(info.filename for info in infos if not info.is_dir())
        duplicated = sorted(name for name, count in counts.items() if count > 1)
        if duplicated:
            # zipfile reads the last of them under that name, so the others would never be seen
            raise GanEvalError(f"{self.path}: holds {counts[duplicated[0]]} members named {duplicated[0]!r}")
        members, ignored = [], []
        for info in infos:
            if info.is_dir():
                continue
            if _escapes_root(info.filename):
                raise GanEvalError(f"{self.path}: member {info.filename!r} escapes the archive root")
            base = PurePosixPath(info.filename).name
            if not base.startswith("."):
                is_image = PurePosixPath(base).suffix.lower() in IMAGE_EXTENSIONS
                (members if is_image else ignored).append(info.filename)
        if not members:
            raise GanEvalError(f"{self.path} holds no images")
        warn_of_ignored_files(str(self.path), ignored)
        self.members = sorted(members)
        self._crcs = {info.filename: (info.CRC, info.file_size) for info in infos}
        self._encrypted = {info.filename for info in infos if info.flag_bits & 0x1}
        self._archive: zipfile.ZipFile | None = None
        self._pid: int | None = None

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_archive"], state["_pid"] = None, None
        return state

    def __len__(self) -> int:
        return len(self.members)

    def fingerprint(self) -> str:
        """sha256 of every image member's name and inflated bytes (`content_fingerprint`), never of its CRC-32."""
        return content_fingerprint("zip-content", self.members, self.content_digest)

    def describe(self, index: int) -> str:
        return f"{self.path}:{self.members[index]}"

    def _opened(self) -> None:
        """This process's handle on the archive (a worker opens its own)."""
        if self._archive is None or self._pid != os.getpid():
            self._archive = zipfile.ZipFile(self.path)
            self._pid = os.getpid()

    def load(self, index: int) -> np.ndarray:
        self._opened()
        return decode_image(io.BytesIO(self._read(self.members[index])), self.describe(index))

    def _read(self, member: str) -> bytes:
        """The member's bytes, inflated in memory in bounded chunks; a `GanEvalError` for anything unread.

        Memory never exceeds the declared size plus one chunk, whatever the member's data holds: the member is
        opened as if it declared one byte more, so data that runs past the declared size is seen (and refused)
        after reading a single byte of it.
        """
        name = f"{self.path}:{member}"
        size = self._crcs[member][1]
        if size > MAX_MEMBER_BYTES:
            raise GanEvalError(f"{name}: member of {size} bytes, over the {MAX_MEMBER_BYTES} bytes an image may have")
        if member in self._encrypted:
            raise GanEvalError(f"{name}: member is encrypted (gan-eval reads no passwords)")
        info = copy.copy(self._archive.getinfo(member))
        info.file_size = size + 1
        expected_crc = info.CRC
        del info.CRC  # checked here, against the declared bytes, once their end is known
        data = bytearray()
        try:
            with self._archive.open(info) as handle:
                while len(data) <= size:
                    chunk = handle.read(min(_READ_CHUNK, size + 1 - len(data)))
                    if not chunk:
                        break
                    data += chunk
        except NotImplementedError:
            raise GanEvalError(
                f"{name}: member uses compression method {info.compress_type}, which Python cannot read"
            ) from None
        except _CORRUPT_MEMBER as exc:
            raise GanEvalError(f"{name}: cannot read member ({exc})") from None
        if len(data) > size:
            crc = "Bad CRC-32 of" if zlib.crc32(data[:size]) != expected_crc else "CRC-32 matches"
            raise GanEvalError(
                f"{name}: cannot read member ({crc} the {size} bytes its header declares, and its data runs past them)"
            )
        if len(data) < size:
            raise GanEvalError(f"{name}: cannot read member (its data ends after {len(data)} of {size} bytes)")
        if zlib.crc32(data) != expected_crc:
            raise GanEvalError(f"{name}: cannot read member (Bad CRC-32 for file {member!r})")
        return bytes(data)

    def content_digest(self, index: int) -> str:
        """Hex sha256 of member `index`'s inflated bytes: what is decoded, whatever the archive's directory says."""
        self._opened()
        return hashlib.sha256(self._read(self.members[index])).hexdigest()

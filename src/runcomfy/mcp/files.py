"""A finished request's files for an agent: saved under the output directory, listed, and shown as thumbnails.

Downloads follow the CLI's rules (trusted origins only, atomic writes, size cap, sha256, files already saved
with the same sha256 are not fetched again) because they are the CLI's code (:func:`download_outputs`). What is
added here is what an agent needs: paths relative to the output directory, and small images returned as MCP
image content so the agent can look at what it made.
"""

from __future__ import annotations

import base64
import io
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mcp_types import ImageContent

if TYPE_CHECKING:
    from runcomfy.downloads import DownloadReport, SavedFile
    from runcomfy.mcp.workspace import Workspace
    from runcomfy.results import Result

__all__ = ["file_entries", "save_result_files", "thumbnails"]

MAX_THUMBNAILS = 4
THUMBNAIL_EDGE_PX = 512
MAX_SOURCE_IMAGE_BYTES = 64 * 1024 * 1024  # a bigger file is not decoded for a preview
MAX_SOURCE_PIXELS = 64_000_000
_IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp"}


def save_result_files(
    ws: Workspace, result: Result, folder: Path, known_files: Sequence[Mapping[str, Any]] = ()
) -> DownloadReport:
    """Download the result's trusted files into ``folder`` (inside the output directory)."""
    from runcomfy.downloads import download_outputs, saved_earlier

    return download_outputs(
        result.output,
        folder,
        trusted_origins=ws.app.trusted_origins(),
        already_saved=saved_earlier(known_files),
        hidden=ws.client().secrets,
    )


def file_entries(ws: Workspace, files: Sequence[SavedFile]) -> list[dict[str, Any]]:
    """What a tool result says of each saved file: where (absolute and relative), how big, its sha256."""
    return [
        {
            "path": str(Path(saved.path).resolve()),
            "relative_path": ws.relative(saved.path),
            "bytes": saved.bytes,
            "sha256": saved.sha256,
            "url": saved.url,
        }
        for saved in files
    ]


def thumbnails(files: Sequence[SavedFile]) -> list[ImageContent]:
    """Small PNG previews of the first images among ``files`` (at most :data:`MAX_THUMBNAILS`); files that
    are not images, or cannot be read as one, are left out. Needs Pillow (absent: no previews)."""
    try:
        from PIL import Image
    except ImportError:
        return []
    previews: list[ImageContent] = []
    for saved in files:
        if len(previews) >= MAX_THUMBNAILS:
            break
        path = Path(saved.path)
        if path.suffix.lower() not in _IMAGE_SUFFIXES or saved.bytes > MAX_SOURCE_IMAGE_BYTES:
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                with Image.open(path) as image:
                    if image.width * image.height > MAX_SOURCE_PIXELS:
                        continue
                    image.thumbnail((THUMBNAIL_EDGE_PX, THUMBNAIL_EDGE_PX))
                    shown = image.convert("RGBA" if "A" in image.getbands() else "RGB")
                    buffer = io.BytesIO()
                    shown.save(buffer, format="PNG", optimize=False, compress_level=6)
        except (OSError, ValueError, Image.DecompressionBombError, Image.DecompressionBombWarning):
            continue
        previews.append(
            ImageContent(
                type="image", data=base64.b64encode(buffer.getvalue()).decode(), mime_type="image/png"
            )
        )
    return previews

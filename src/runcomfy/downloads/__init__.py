"""Downloads: which result URLs may be fetched, what the files are called, and getting them to disk safely.

Owns the URL allow-list, hand-followed redirects and file placement (docs/security.md, rule 3)::

    urls.py     collect_urls (bounded walk of a result's output), check_url / check_redirect: the one parser
                that decides, returning the exact httpx.URL to fetch
    naming.py   file names from the last path segment, sanitised; exclusive temp files; claiming a free name
    fetch.py    make_download_client, download_file: one trusted file, streamed, capped, hashed, placed
    body.py     reading a body into buffers: a large, plainly framed one straight from the socket
    blocks.py   writing and hashing those buffers in two threads beside the read, from a small pool
    outputs.py  download_outputs: every trusted URL of a result, one after another, with typed events
    reuse.py    saved_earlier: a file recorded earlier and still on disk with its sha256 is not fetched again

Must never: send the API token, an Authorization header or cookies to a file host; fetch an untrusted URL
(or redirect target); overwrite a file; or leave a partial file behind after any failure or interrupt; print.
"""

from runcomfy.downloads.fetch import (
    DEFAULT_MAX_DOWNLOAD_BYTES,
    READ_TIMEOUT_S,
    AbortCheck,
    ProgressCallback,
    SavedFile,
    download_file,
    file_has_sha256,
    make_download_client,
    sha256_of_file,
)
from runcomfy.downloads.naming import filename_from_url, remove_stale_temp_files, sanitize_filename
from runcomfy.downloads.outputs import (
    DownloadEvent,
    DownloadFailed,
    DownloadReport,
    EventCallback,
    Planned,
    Progress,
    Saved,
    Skipped,
    Started,
    check_output_directory,
    configured_origins,
    download_outputs,
    partition_urls,
)
from runcomfy.downloads.reuse import saved_earlier
from runcomfy.downloads.urls import (
    MAX_REDIRECT_HOPS,
    TRUSTED_HOST_SUFFIXES,
    Origin,
    Rejection,
    TrustedURL,
    UrlScan,
    check_redirect,
    check_url,
    collect_urls,
    origin_of,
    scan_urls,
)

__all__ = [
    "DEFAULT_MAX_DOWNLOAD_BYTES",
    "MAX_REDIRECT_HOPS",
    "READ_TIMEOUT_S",
    "TRUSTED_HOST_SUFFIXES",
    "AbortCheck",
    "DownloadEvent",
    "DownloadFailed",
    "DownloadReport",
    "EventCallback",
    "Origin",
    "Planned",
    "Progress",
    "ProgressCallback",
    "Rejection",
    "Saved",
    "SavedFile",
    "Skipped",
    "Started",
    "TrustedURL",
    "UrlScan",
    "check_output_directory",
    "check_redirect",
    "check_url",
    "collect_urls",
    "configured_origins",
    "download_file",
    "download_outputs",
    "file_has_sha256",
    "filename_from_url",
    "make_download_client",
    "origin_of",
    "partition_urls",
    "remove_stale_temp_files",
    "sanitize_filename",
    "saved_earlier",
    "scan_urls",
    "sha256_of_file",
]

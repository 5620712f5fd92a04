"""De-identified data files for investigators, and the log of every one taken.

Each request becomes a ``Download`` row before a byte leaves: CSV streams to
the browser and the row is completed with the row count and SHA-256 of the
bytes once the last one is sent; other formats are built by a worker into
``EXPORT_ROOT``, with progress, and fetched from there.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from analysis import export_formats, exports, waiting
from analysis.exports import ExportError, ExportRequest
from analysis.models import Download, DownloadStatus
from participants.models import Study
from studyportal import access

PROGRESS_EVERY = 0.05  # of the rows: how often a worker reports progress


def downloads_for(user) -> QuerySet[Download]:
    """The files a user may fetch: their own, in studies they download from."""
    return Download.objects.filter(
        study__in=access.studies_for(user, "download_data"), requested_by=user
    ).select_related("study", "requested_by")


def log_for(user) -> QuerySet[Download]:
    """Every download of the studies whose download log the user keeps."""
    studies = access.studies_for(user, "see_download_log")
    return Download.objects.filter(study__in=studies).select_related(
        "study", "requested_by"
    )


@transaction.atomic
def request_download(*, study: Study, request: ExportRequest, user) -> Download:
    """Log the request; queue the build unless the CSV is to be streamed now."""
    download = Download.objects.create(
        study=study,
        requested_by=user,
        request=request.as_dict(),
        layout=request.layout,
        fmt=request.fmt,
        file_name=exports.file_name(study, request),
        status=DownloadStatus.BUILDING
        if request.fmt == "csv"
        else DownloadStatus.QUEUED,
        started_at=timezone.now() if request.fmt == "csv" else None,
    )
    if request.fmt != "csv":
        transaction.on_commit(lambda: _build_soon(download.pk))
    return download


def _build_soon(download_id: int) -> None:
    from analysis.tasks import build_download

    waiting.hand_over(Download, build_download, download_id, label="download")


def log_written(
    *, study: Study, request: ExportRequest, file_name: str, result
) -> Download:
    """Log a file written outside the browser (``export_dataset``): no user."""
    return Download.objects.create(
        study=study,
        requested_by=None,
        request=request.as_dict(),
        layout=request.layout,
        fmt=request.fmt,
        file_name=file_name,
        status=DownloadStatus.READY,
        percent=100,
        rows=result.rows,
        size=result.size,
        sha256=result.sha256,
        finished_at=timezone.now(),
    )


def stream(download: Download) -> Iterator[bytes]:
    """The CSV's bytes; the log row gets their count and hash when all are sent.

    A download the browser abandons part-way is logged as failed, with the rows
    sent so far, so the log never claims a file nobody received whole.
    """
    export = exports.prepare(download.study, _request(download))
    digest, size, rows = hashlib.sha256(), 0, 0
    try:
        for chunk, sent in export_formats.csv_chunks(export):
            rows = sent
            digest.update(chunk)
            size += len(chunk)
            yield chunk
    except GeneratorExit:
        _finish(
            download.pk,
            status=DownloadStatus.FAILED,
            rows=rows,
            error="The browser stopped the download before the end.",
        )
        raise
    _finish(
        download.pk,
        status=DownloadStatus.READY,
        rows=rows,
        size=size,
        sha256=digest.hexdigest(),
    )


def build(download_id: int) -> bool:
    """Write a queued download's file; False if another delivery claimed it."""
    claimed = Download.objects.filter(
        pk=download_id, status=DownloadStatus.QUEUED
    ).update(status=DownloadStatus.BUILDING, percent=1, started_at=timezone.now())
    if claimed != 1:
        return False
    download = Download.objects.select_related("study").get(pk=download_id)
    folder = Path(settings.EXPORT_ROOT)
    folder.mkdir(parents=True, exist_ok=True)
    relative = f"{uuid.uuid4().hex}-{download.file_name}"
    partial = folder / f"{relative}.part"
    try:
        export = exports.prepare(download.study, _request(download))
        total = max(export.count(), 1)
        reported = [0.0]

        def progress(rows: int) -> None:
            share = rows / total
            if share - reported[0] >= PROGRESS_EVERY:
                reported[0] = share
                Download.objects.filter(pk=download_id).update(
                    percent=min(1 + int(98 * share), 99)
                )

        with partial.open("wb") as out:
            result = exports.write(export, out, progress=progress)
        os.replace(partial, folder / relative)
    except (ExportError, ValueError) as error:
        partial.unlink(missing_ok=True)
        _finish(download_id, status=DownloadStatus.FAILED, error=str(error))
        return True
    except Exception as error:
        partial.unlink(missing_ok=True)
        _finish(
            download_id,
            status=DownloadStatus.FAILED,
            error=f"The file could not be built ({type(error).__name__}).",
        )
        raise
    _finish(
        download_id,
        status=DownloadStatus.READY,
        rows=result.rows,
        size=result.size,
        sha256=result.sha256,
        path=relative,
    )
    return True


def remove_old(*, now=None) -> int:
    """Delete built files older than EXPORT_KEEP_DAYS; their log rows stay."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.EXPORT_KEEP_DAYS)
    old = Download.objects.filter(created_at__lt=cutoff).exclude(path="")
    paths = list(old.values_list("path", flat=True))
    for path in paths:
        (Path(settings.EXPORT_ROOT) / path).unlink(missing_ok=True)
    old.update(path="")
    return len(paths)


def stored_file(download: Download) -> Path | None:
    """The built file on disk, if it is ready and still there."""
    if download.status != DownloadStatus.READY or not download.path:
        return None
    path = Path(settings.EXPORT_ROOT) / download.path
    return path if path.is_file() else None


def _request(download: Download) -> ExportRequest:
    return ExportRequest.from_dict(download.request)


def _finish(download_id: int, *, status: str, **fields) -> None:
    Download.objects.filter(pk=download_id).update(
        status=status, percent=100, finished_at=timezone.now(), **fields
    )

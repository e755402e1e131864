"""A stream writer for one S3 object: parts sent while the next is filled, so memory stays flat."""

from __future__ import annotations

import logging
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

logger = logging.getLogger(__name__)

# S3 multipart parts must be at least 5 MiB except the last one.
PART_SIZE = 8 * 1024 * 1024


class S3StreamWriter:
    """Writes an object in parts so memory stays flat; aborts the multipart upload on any failure.

    Every part but the last is exactly ``part_size`` bytes; objects smaller than one part go up with a
    single PutObject. ``write`` takes ASCII text or bytes-like data. A part is sent by a background thread
    while the caller writes the next one; before the next part is joined, the one in flight is waited for,
    so the writer holds at most two parts (the one being sent and the one being filled) and a chunk. A part's
    failure is raised by the ``write`` that completes the next part, or by ``close``; ``abort``, which
    cleans up after a failure, waits for it and lets it go.
    """

    def __init__(self, client: Any, bucket: str, key: str, part_size: int | None = None) -> None:
        self.client, self.bucket, self.key = client, bucket, key
        self.part_size = PART_SIZE if part_size is None else part_size
        # What is written but not sent yet, as written: a part is joined once, when it is full (no growing
        # buffer to copy from); a chunk split between two parts leaves a view of its rest, not a copy.
        self._chunks: deque[bytes | memoryview] = deque()
        self._buffered = 0
        self._upload_id: str | None = None
        self._parts: list[dict[str, Any]] = []
        self._sender: ThreadPoolExecutor | None = None
        self._in_flight: Future[dict[str, Any]] | None = None
        self._closed = False
        self.bytes_written = 0
        self.completed = False  # the object exists in S3

    def write(self, data: str | bytes | bytearray | memoryview) -> None:
        if self._closed:
            raise ValueError(f"s3://{self.bucket}/{self.key}: write after close or abort")
        if isinstance(data, str):
            chunk = data.encode("ascii")
        elif isinstance(data, (bytes, bytearray, memoryview)):
            chunk = bytes(data)  # a copy: the caller may change a bytearray afterwards
        else:
            raise TypeError(f"write takes str or bytes-like data, not {type(data).__name__}")
        if chunk:
            self._chunks.append(chunk)
            self._buffered += len(chunk)
        while self._buffered >= self.part_size:
            self._wait_for_part()  # before joining the next part: two parts at most in memory
            self._upload_part(self._take(self.part_size))

    def _take(self, size: int) -> bytes:
        """The first ``size`` bytes written and not sent yet, joined."""
        taken: list[bytes | memoryview] = []
        missing = size
        while missing:
            chunk = self._chunks.popleft()
            if len(chunk) > missing:
                rest = chunk if isinstance(chunk, memoryview) else memoryview(chunk)
                self._chunks.appendleft(rest[missing:])
                chunk = rest[:missing]
            taken.append(chunk)
            missing -= len(chunk)
        self._buffered -= size
        return b"".join(taken)

    def _upload_part(self, body: bytes) -> None:
        self._wait_for_part()
        if self._upload_id is None:
            upload = self.client.create_multipart_upload(
                Bucket=self.bucket, Key=self.key, ContentType="text/csv"
            )
            self._upload_id = upload["UploadId"]
        if self._sender is None:
            self._sender = ThreadPoolExecutor(max_workers=1, thread_name_prefix="s3-part")
        self._in_flight = self._sender.submit(self._send_part, self._upload_id, len(self._parts) + 1, body)

    def _send_part(self, upload_id: str, number: int, body: bytes) -> dict[str, Any]:
        part = self.client.upload_part(
            Bucket=self.bucket, Key=self.key, UploadId=upload_id, PartNumber=number, Body=body
        )
        return {"PartNumber": number, "ETag": part["ETag"], "Size": len(body)}

    def _wait_for_part(self) -> None:
        """Waits for the part in flight; raises its error, or records it."""
        if self._in_flight is None:
            return
        in_flight, self._in_flight = self._in_flight, None
        part = in_flight.result()
        self.bytes_written += part.pop("Size")
        self._parts.append(part)

    def _stop_sender(self) -> None:
        if self._sender is not None:
            self._sender.shutdown(wait=True)
            self._sender = None

    def close(self) -> None:
        if self.completed:
            return
        self._closed = True
        if self._upload_id is None:
            body = self._take(self._buffered)
            self.client.put_object(Bucket=self.bucket, Key=self.key, Body=body, ContentType="text/csv")
            self.bytes_written += len(body)
            self.completed = True
            return
        if self._buffered:
            self._wait_for_part()
            self._upload_part(self._take(self._buffered))
        self._wait_for_part()
        self._stop_sender()
        self.client.complete_multipart_upload(
            Bucket=self.bucket, Key=self.key, UploadId=self._upload_id, MultipartUpload={"Parts": self._parts}
        )
        self.completed = True

    def abort(self) -> None:
        self._closed = True
        # The part in flight is let finish (its error, if any, is not the one to report), then the upload is
        # aborted, which discards its parts. A completed upload cannot be aborted any more (NoSuchUpload):
        # its object is deleted instead.
        if self._in_flight is not None:
            self._in_flight.exception()
            self._in_flight = None
        self._stop_sender()
        if self._upload_id is not None and not self.completed:
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=self.key, UploadId=self._upload_id)
            self._upload_id = None

    def __enter__(self) -> S3StreamWriter:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            try:
                self.close()
            except BaseException:
                self.abort_quietly()
                raise
        else:
            self.abort_quietly()

    def abort_quietly(self) -> None:
        """Aborts; a failure to abort is logged, because the error that led here is the one to report."""
        try:
            self.abort()
        except Exception:
            logger.exception("could not abort the multipart upload of s3://%s/%s", self.bucket, self.key)

    def discard(self) -> None:
        """After a failure elsewhere: aborts the upload, or deletes the object if it was completed (half a
        data set is worse than none). Failures are logged: the error that led here is the one to report."""
        self.abort_quietly()
        if self.completed:
            try:
                self.client.delete_object(Bucket=self.bucket, Key=self.key)
            except Exception:
                logger.exception("could not delete s3://%s/%s", self.bucket, self.key)

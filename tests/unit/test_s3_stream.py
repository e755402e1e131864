"""The S3 stream writer: parts sent in the background, flat memory, nothing left behind on failure."""

from __future__ import annotations

import threading
import time
import tracemalloc
from types import ModuleType
from typing import Any

import pytest
import s3_stream
from botocore.exceptions import ClientError

from tests.unit import dataset_support as support


def test_part_size_is_at_least_s3s_minimum(dataset_app: ModuleType) -> None:
    assert s3_stream.PART_SIZE >= support.S3_MIN_PART


def test_stream_writer_sends_a_small_object_in_one_put(
    dataset_app: ModuleType, bucket: str, s3_client: Any
) -> None:
    client = support.RecordingClient(s3_client)
    with s3_stream.S3StreamWriter(client, bucket, "small.csv") as writer:
        writer.write("1.000000,2.000000\n")

    assert client.operations("small.csv") == ["put_object"]
    assert support.read_object(s3_client, bucket, "small.csv") == b"1.000000,2.000000\n"


def test_stream_writer_uploads_parts_and_the_object_is_byte_identical(
    dataset_app: ModuleType, bucket: str, s3_client: Any, small_parts: int
) -> None:
    client = support.RecordingClient(s3_client)
    lines = [f"{i:06d},{i * 0.5:.6f},{'7' * 80}\n" for i in range(2_000)]

    with s3_stream.S3StreamWriter(client, bucket, "big.csv") as writer:
        for line in lines:
            writer.write(line)

    operations = client.operations("big.csv")
    assert operations[0] == "create_multipart_upload"
    assert operations[-1] == "complete_multipart_upload"
    assert "put_object" not in operations
    parts = [kwargs for operation, kwargs in client.calls if operation == "upload_part"]
    assert len(parts) >= 10
    assert [part["PartNumber"] for part in parts] == list(range(1, len(parts) + 1))
    assert all(len(part["Body"]) >= small_parts for part in parts[:-1])
    assert support.read_object(s3_client, bucket, "big.csv") == "".join(lines).encode()
    assert writer.bytes_written == len("".join(lines))
    assert support.open_uploads(s3_client, bucket) == []


def test_stream_writer_meets_s3s_real_minimum_part_size(
    dataset_app: ModuleType, bucket: str, s3_client: Any
) -> None:
    """moto refuses (EntityTooSmall) a non-last part under 5 MiB, as S3 does: here it is not lowered."""
    client = support.RecordingClient(s3_client)
    chunk = "0123456789," * 5_957 + "\n"  # about 64 KiB
    chunks = [chunk] * 176  # about 11 MiB: two full parts and a short last one

    with s3_stream.S3StreamWriter(client, bucket, "large.csv", part_size=support.S3_MIN_PART) as writer:
        for piece in chunks:
            writer.write(piece)

    assert client.operations("large.csv").count("upload_part") == 3
    assert support.read_object(s3_client, bucket, "large.csv") == "".join(chunks).encode()


def test_stream_writer_aborts_its_upload_on_an_exception(
    dataset_app: ModuleType, bucket: str, s3_client: Any, small_parts: int
) -> None:
    with (
        pytest.raises(RuntimeError, match="row generator broke"),
        s3_stream.S3StreamWriter(s3_client, bucket, "x.csv") as w,
    ):
        w.write("1" * (small_parts + 1))  # one part uploaded
        raise RuntimeError("row generator broke")

    assert support.open_uploads(s3_client, bucket) == []
    assert support.all_keys(s3_client, bucket) == set()


class GatedClient:
    """An S3 client whose upload_part waits until the test lets it go; records how many run at once."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.release = threading.Event()
        self.started: list[int] = []
        self.running = 0
        self.most_running = 0
        self._lock = threading.Lock()

    def __getattr__(self, operation: str) -> Any:
        return getattr(self._client, operation)

    def upload_part(self, **kwargs: Any) -> Any:
        with self._lock:
            self.running += 1
            self.most_running = max(self.most_running, self.running)
            self.started.append(kwargs["PartNumber"])
        try:
            if not self.release.wait(10):
                raise TimeoutError("the test never released the part")
            return self._client.upload_part(**kwargs)
        finally:
            with self._lock:
                self.running -= 1


def _sender_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("s3-part")]


def test_stream_writer_sends_a_part_in_the_background_one_at_a_time(
    dataset_app: ModuleType, bucket: str, s3_client: Any, small_parts: int
) -> None:
    existing = set(_sender_threads())  # threads another test may have left are not this writer's
    client = GatedClient(s3_client)
    writer = s3_stream.S3StreamWriter(client, bucket, "background.csv")

    writer.write("a" * small_parts)  # part 1 goes to the sender, which waits in upload_part
    deadline = time.monotonic() + 5
    while client.started != [1] and time.monotonic() < deadline:
        time.sleep(0.01)
    assert client.started == [1]  # the write returned while its part is still being sent

    sent = threading.Thread(target=writer.write, args=("b" * small_parts,))  # part 2 waits for part 1
    sent.start()
    time.sleep(0.2)
    assert client.started == [1] and sent.is_alive()
    client.release.set()
    sent.join(10)
    assert not sent.is_alive()
    writer.close()

    assert client.started == [1, 2]
    assert client.most_running == 1
    assert support.read_object(s3_client, bucket, "background.csv") == b"a" * small_parts + b"b" * small_parts
    assert writer.bytes_written == 2 * small_parts
    assert set(_sender_threads()) <= existing


@pytest.mark.parametrize("raised_by", ["write", "close"])
def test_part_failing_in_the_background_is_raised_by_the_next_call_and_nothing_is_left(
    dataset_app: ModuleType, bucket: str, s3_client: Any, small_parts: int, raised_by: str
) -> None:
    existing = set(_sender_threads())
    client = support.RecordingClient(s3_client, fail="upload_part", nth=1)

    with (
        pytest.raises(ClientError, match="internal error"),
        s3_stream.S3StreamWriter(client, bucket, "failing.csv") as writer,
    ):
        writer.write("1" * small_parts)  # part 1 fails in the sender
        if raised_by == "write":
            writer.write("2" * small_parts)  # waits for part 1: its error is raised here

    assert client.failed
    assert [op for op, _ in client.calls].count("abort_multipart_upload") == 1
    assert support.open_uploads(s3_client, bucket) == []
    assert support.all_keys(s3_client, bucket) == set()
    assert set(_sender_threads()) <= existing


class SlowSink:
    """An S3 client that keeps only sizes and takes ``delay`` seconds per part (a slow network)."""

    def __init__(self, delay: float = 0.02) -> None:
        self.delay = delay
        self.parts: list[int] = []
        self.objects: dict[str, int] = {}
        self.aborted = 0

    def create_multipart_upload(self, **_: Any) -> dict[str, Any]:
        return {"UploadId": "u"}

    def upload_part(self, *, Body: bytes, PartNumber: int, **_: Any) -> dict[str, Any]:
        time.sleep(self.delay)
        self.parts.append(len(Body))
        return {"ETag": f'"{PartNumber}"'}

    def complete_multipart_upload(self, *, Key: str, **_: Any) -> dict[str, Any]:
        self.objects[Key] = sum(self.parts)
        return {}

    def put_object(self, *, Key: str, Body: bytes, **_: Any) -> dict[str, Any]:
        self.objects[Key] = len(Body)
        return {}

    def abort_multipart_upload(self, **_: Any) -> dict[str, Any]:
        self.aborted += 1
        return {}


def test_stream_writer_holds_at_most_two_parts_while_one_is_being_sent(dataset_app: ModuleType) -> None:
    """The part in flight is waited for before the next one is joined: the one being sent and the one being
    filled, not a third (measured with tracemalloc, the parts 1 MiB, the chunks 64 KiB)."""
    part = 1024 * 1024
    chunk = b"7" * (64 * 1024)
    client = SlowSink()
    writer = s3_stream.S3StreamWriter(client, "bucket", "k.csv", part_size=part)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(96):  # 6 MiB: six parts, each chunk its own object (as a batch's text is)
            writer.write(bytearray(chunk))
        writer.close()
        peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()

    assert client.parts == [part] * 6
    assert peak < 2.5 * part, peak


@pytest.mark.parametrize("kind", [str, bytes, bytearray, memoryview])
def test_stream_writer_takes_text_and_bytes_like_data_in_chunks_larger_than_a_part(
    dataset_app: ModuleType, bucket: str, s3_client: Any, small_parts: int, kind: type
) -> None:
    text = "".join(f"{i:07d}\n" for i in range(12_000))  # 96,000 bytes: almost six 16 KiB parts at once
    data = text if kind is str else kind(text.encode())

    with s3_stream.S3StreamWriter(s3_client, bucket, "one-write.csv") as writer:
        writer.write(data)
        writer.write(data)

    assert support.read_object(s3_client, bucket, "one-write.csv") == text.encode() * 2
    assert writer.bytes_written == 2 * len(text)


def test_stream_writer_refuses_other_data_and_writes_after_close(dataset_app: ModuleType) -> None:
    client = SlowSink(delay=0)
    writer = s3_stream.S3StreamWriter(client, "bucket", "k.csv")
    with pytest.raises(TypeError, match="str or bytes-like data, not int"):
        writer.write(3)  # bytes(3) would be three NUL bytes
    writer.write("1.000000\n")
    writer.close()
    writer.close()  # a second close changes nothing

    with pytest.raises(ValueError, match="write after close"):
        writer.write("2.000000\n")
    assert client.objects == {"k.csv": 9}


def test_stream_writer_aborts_when_completing_the_upload_fails(
    dataset_app: ModuleType, bucket: str, s3_client: Any, small_parts: int
) -> None:
    client = support.RecordingClient(s3_client, fail="complete_multipart_upload")

    with (
        pytest.raises(ClientError, match="internal error"),
        s3_stream.S3StreamWriter(client, bucket, "unfinished.csv") as writer,
    ):
        writer.write("5" * (3 * small_parts))

    assert [op for op, _ in client.calls].count("abort_multipart_upload") == 1
    assert support.open_uploads(s3_client, bucket) == []
    assert support.all_keys(s3_client, bucket) == set()

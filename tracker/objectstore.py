"""Media in an S3-compatible object store (TRACKER_MEDIA_URL=s3://bucket/prefix), via boto3.

The endpoint and the credentials come from the standard AWS variables (AWS_ENDPOINT_URL,
AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_DEFAULT_REGION), so SeaweedFS, MinIO, Ceph or AWS
itself all work. Keys are the same content-addressed paths as in a media folder. A PUT returns
only once the object is whole and stored, so an image's row, inserted after it, never points to
a missing or partial object.
"""

from __future__ import annotations

import functools
import os
import threading
from dataclasses import dataclass

SCHEME = "s3://"
# Originals are handed out as redirects to presigned URLs this short-lived.
PRESIGN_SECONDS = 60
_local = threading.local()


def _forget_clients() -> None:
    # A forked child (tracker.preparing's processes) must not share its parent's connections.
    global _local
    _local = threading.local()


os.register_at_fork(after_in_child=_forget_clients)


def is_remote(root) -> bool:
    return isinstance(root, str) and root.startswith(SCHEME)


@dataclass(frozen=True)
class Location:
    bucket: str
    prefix: str

    def key(self, relpath: str) -> str:
        return f"{self.prefix}/{relpath}" if self.prefix else relpath


@functools.cache
def location(root: str) -> Location:
    """s3://bucket/prefix -> its bucket and key prefix."""
    bucket, _, prefix = root[len(SCHEME) :].partition("/")
    if not bucket:
        raise RuntimeError(f"TRACKER_MEDIA_URL must be s3://bucket/prefix, not {root!r}")
    return Location(bucket, prefix.strip("/"))


def client():
    """A boto3 client per thread (clients are thread-safe, sessions are not: one each)."""
    s3 = getattr(_local, "client", None)
    if s3 is None:
        import boto3
        from botocore.config import Config

        session = boto3.session.Session()
        retries = {"max_attempts": 5, "mode": "standard"}
        s3 = _local.client = session.client("s3", config=Config(retries=retries))
    return s3


def put(root: str, relpath: str, data) -> None:
    where = location(root)
    client().put_object(Bucket=where.bucket, Key=where.key(relpath), Body=bytes(data))


def exists(root: str, relpath: str, size: int | None = None) -> bool:
    """The object is there (and, given `size`, whole)."""
    from botocore.exceptions import ClientError

    where = location(root)
    try:
        head = client().head_object(Bucket=where.bucket, Key=where.key(relpath))
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            return False
        raise
    return size is None or head["ContentLength"] == size


def get(root: str, relpath: str) -> bytes:
    """The object's bytes; FileNotFoundError when there is none."""
    from botocore.exceptions import ClientError

    where = location(root)
    try:
        answer = client().get_object(Bucket=where.bucket, Key=where.key(relpath))
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            raise FileNotFoundError(relpath) from exc
        raise
    return answer["Body"].read()


def presigned(root: str, relpath: str, download_name: str) -> str:
    """A URL that fetches the object for PRESIGN_SECONDS, as a download named `download_name`."""
    where = location(root)
    return client().generate_presigned_url(
        "get_object",
        Params={
            "Bucket": where.bucket,
            "Key": where.key(relpath),
            "ResponseContentDisposition": f'attachment; filename="{_quoted(download_name)}"',
            "ResponseContentType": "image/jpeg",
        },
        ExpiresIn=PRESIGN_SECONDS,
    )


def _quoted(name: str) -> str:
    return name.replace('"', "_").replace("\\", "_")

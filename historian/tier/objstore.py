"""The object store the cold tier writes to: a five-call interface and its S3 implementation.

boto3 is the client (chosen over pyarrow's S3 filesystem and obstore: it is
already the harness's client for the embedded server, its ranged GET is one
call, and its errors are typed; on moto the server's ~100 requests/s dominates
every client's cost, so the client's own speed does not decide). It is imported
when an :class:`S3Store` is made, never by the historian core.

:class:`RangeFile` gives pyarrow a seekable file over one object that fetches
only the byte ranges pyarrow asks for (footer, then the column chunks of the
row groups a query needs).
"""

from __future__ import annotations

import builtins
import io
from typing import Any, Protocol

from historian.errors import HistorianError

__all__ = ["ObjectStore", "ObjectStoreError", "RangeFile", "S3Store", "mirror"]


class ObjectStoreError(HistorianError):
    """The object store refused or failed a request (endpoint, bucket or credentials)."""


class ObjectStore(Protocol):
    def put(self, key: str, data: bytes) -> None: ...

    def get(self, key: str, start: int | None = None, end: int | None = None) -> bytes:
        """The object's bytes, or ``[start, end)`` of them."""
        ...

    def size(self, key: str) -> int | None:
        """Object size in bytes; None when it does not exist."""
        ...

    def list(self, prefix: str) -> builtins.list[tuple[str, int]]:
        """(key, size) of every object under ``prefix``."""
        ...

    def delete(self, keys: builtins.list[str]) -> None: ...


class S3Store:
    """An S3-compatible bucket through boto3 (path-style addressing, short retries)."""

    def __init__(
        self,
        endpoint: str,
        bucket: str,
        access_key: str,
        secret_key: str,
        region: str,
        *,
        sse: str = "",
        sse_kms_key_id: str = "",
    ) -> None:
        """``sse``/``sse_kms_key_id``: server-side encryption asked for on every PUT
        (``TierConfig.sse``)."""
        import boto3
        from botocore.config import Config

        self.bucket = bucket
        self._put_extra: dict[str, str] = {}
        if sse:
            self._put_extra["ServerSideEncryption"] = sse
        if sse_kms_key_id:
            self._put_extra["SSEKMSKeyId"] = sse_kms_key_id
        self.requests = 0
        """Requests sent (benchmarks and the status command report it)."""
        self._client: Any = boto3.client(
            "s3",
            endpoint_url=endpoint,
            aws_access_key_id=access_key,
            aws_secret_access_key=secret_key,
            region_name=region,
            config=Config(
                s3={"addressing_style": "path"},
                retries={"max_attempts": 3, "mode": "standard"},
                connect_timeout=5,
                read_timeout=60,
                max_pool_connections=8,
            ),
        )

    def _call(self, what: str, fn: Any, **kwargs: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        self.requests += 1
        try:
            return fn(Bucket=self.bucket, **kwargs)
        except ClientError as exc:
            raise ObjectStoreError(
                f"S3 {what} s3://{self.bucket}/{kwargs.get('Key', kwargs.get('Prefix', ''))}: {exc}"
            ) from exc
        except BotoCoreError as exc:
            raise ObjectStoreError(f"S3 {what} on bucket {self.bucket!r}: {exc}") from exc

    def put(self, key: str, data: bytes) -> None:
        self._call("PUT", self._client.put_object, Key=key, Body=data, **self._put_extra)

    def get(self, key: str, start: int | None = None, end: int | None = None) -> bytes:
        extra = {} if start is None else {"Range": f"bytes={start}-{(end or 0) - 1}"}
        body: bytes = self._call("GET", self._client.get_object, Key=key, **extra)["Body"].read()
        return body

    def size(self, key: str) -> int | None:
        from botocore.exceptions import ClientError

        self.requests += 1
        try:
            head = self._client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise ObjectStoreError(f"S3 HEAD s3://{self.bucket}/{key}: {exc}") from exc
        return int(head["ContentLength"])

    def list(self, prefix: str) -> builtins.list[tuple[str, int]]:
        out: builtins.list[tuple[str, int]] = []
        token: str | None = None
        while True:
            extra = {"ContinuationToken": token} if token else {}
            page = self._call("LIST", self._client.list_objects_v2, Prefix=prefix, **extra)
            out.extend((o["Key"], int(o["Size"])) for o in page.get("Contents", []))
            if not page.get("IsTruncated"):
                return out
            token = page["NextContinuationToken"]

    def delete(self, keys: builtins.list[str]) -> None:
        for i in range(0, len(keys), 1000):
            objs = [{"Key": k} for k in keys[i : i + 1000]]
            self._call("DELETE", self._client.delete_objects, Delete={"Objects": objs})


class RangeFile(io.RawIOBase):
    """A read-only seekable file over one object: each read is one ranged GET."""

    def __init__(self, store: ObjectStore, key: str, size: int) -> None:
        self._store, self._key, self._size, self._pos = store, key, size, 0
        self.gets = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def size(self) -> int:
        return self._size

    def read(self, n: int = -1) -> bytes:
        end = self._size if n is None or n < 0 else min(self._size, self._pos + n)
        if end <= self._pos:
            return b""
        data = self._store.get(self._key, self._pos, end)
        self.gets += 1
        self._pos += len(data)
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def mirror(store: ObjectStore, prefix: str, dest: str) -> int:
    """Copy every object under ``prefix`` to ``dest/<key>`` (same layout); return the count.

    For engines that cannot reach the object store (DuckDB without its httpfs
    extension, which is downloaded at run time): they read the mirror instead.
    """
    import os

    n = 0
    for key, _ in store.list(prefix):
        path = os.path.join(dest, key)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as fh:
            fh.write(store.get(key))
        n += 1
    return n

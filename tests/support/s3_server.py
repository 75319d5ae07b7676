"""An S3-compatible object store on 127.0.0.1 for tests: moto's server, which speaks the
S3 REST protocol over real HTTP (buckets, objects, listing, multi-delete), so our
aiobotocore client is exercised end to end. Stopping it mid-test is an outage."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from moto.server import ThreadedMotoServer

BUCKET = "replyx-files"


@dataclass(frozen=True)
class S3TestServer:
    server: ThreadedMotoServer
    url: str

    def env(self, prefix: str = "") -> dict[str, str]:
        """The settings that point ReplyX at this store."""
        return {"REPLYX_FILE_STORE": "s3", "REPLYX_S3_BUCKET": BUCKET,
                "REPLYX_S3_ENDPOINT_URL": self.url, "REPLYX_S3_REGION": "us-east-1",
                "REPLYX_S3_ACCESS_KEY_ID": "test-key", "REPLYX_S3_SECRET_ACCESS_KEY":
                "test-secret", "REPLYX_S3_PREFIX": prefix}

    async def create_bucket(self) -> None:
        from aiobotocore.session import get_session

        async with get_session().create_client(
            "s3", endpoint_url=self.url, region_name="us-east-1",
            aws_access_key_id="test-key", aws_secret_access_key="test-secret") as client:
            await client.create_bucket(Bucket=BUCKET)

    def stop(self) -> None:
        self.server.stop()


@contextmanager
def s3_server() -> Iterator[S3TestServer]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield S3TestServer(server, f"http://{host}:{port}")
    finally:
        server.stop()

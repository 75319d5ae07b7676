"""Knowledge ingestion: upload safety checks, structure-aware extraction and chunking.

The pipeline is `check_upload` → `extract` → `chunk_document`; each step is pure Python
with no database or web framework, so workers and tests can call it directly.
"""

from backend_services.knowledge.chunking import Chunk, approx_token_count, chunk_document
from backend_services.knowledge.extract import (
    Block,
    BlockKind,
    ExtractedDocument,
    ExtractionFailed,
    extract,
)
from backend_services.knowledge.safety import (
    SourceKind,
    UploadLimits,
    UploadRejected,
    check_upload,
)

__all__ = [
    "Block",
    "BlockKind",
    "Chunk",
    "ExtractedDocument",
    "ExtractionFailed",
    "SourceKind",
    "UploadLimits",
    "UploadRejected",
    "approx_token_count",
    "check_upload",
    "chunk_document",
    "extract",
]

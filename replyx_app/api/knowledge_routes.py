"""REST: an assistant's knowledge — the ingestion API. Upload a file or add a web page, add
Q&A pairs, follow a source's indexing (`status`, `progress`) and delete what is outdated.
Reading needs the API key's read scope, changing it the knowledge scope; the same service
calls and checks as the Knowledge page."""

from __future__ import annotations

from fastapi import APIRouter, Depends, File, UploadFile
from pydantic import BaseModel, Field

from backend_services.core.errors import ValidationFailed
from backend_services.core.principal import Principal
from backend_services.core.text_safety import text_problem
from backend_services.core.units import format_size
from backend_services.knowledge import refresh, sources
from backend_services.knowledge.safety import UploadLimits
from backend_services.knowledge.sources import DocumentView, QAView
from replyx_app.api.deps import KNOWLEDGE, READ, require_json

router = APIRouter(prefix="/api/v1", tags=["knowledge"], dependencies=[Depends(require_json)])
upload_router = APIRouter(prefix="/api/v1", tags=["knowledge"])  # multipart, not JSON


class DocumentOut(BaseModel):
    id: int
    title: str
    source_type: str
    status: str = Field(description="queued, extracting, chunking, embedding, ready or failed")
    progress: int = Field(description="0–100 while indexing")
    error: str
    size_bytes: int
    chunk_count: int
    created: str
    refresh_hours: int = Field(description="web pages and sitemaps: fetched again this "
                                           "often, in hours (0: never)")
    fetched: str = Field(description="when a web source was last fetched (UTC), or empty")


class UrlIn(BaseModel):
    url: str = Field(max_length=2000)
    sitemap: bool = Field(False, description="Treat the URL as a sitemap: each same-site "
                                             "page becomes a source")


class RefreshIn(BaseModel):
    hours: int = Field(description="0 (never), 1, 6, 24 or 168")


class QAIn(BaseModel):
    question: str = Field(max_length=1000)
    answer: str = Field(max_length=8000)


class QAOut(BaseModel):
    id: int
    question: str
    answer: str


def _doc(d: DocumentView) -> DocumentOut:
    return DocumentOut(**{k: getattr(d, k) for k in DocumentOut.model_fields})


def _qa(q: QAView) -> QAOut:
    return QAOut(id=q.id, question=q.question, answer=q.answer)


@router.get("/assistants/{assistant_id}/documents", response_model=list[DocumentOut])
async def list_documents(assistant_id: int, p: Principal = Depends(READ)) -> list[DocumentOut]:
    return [_doc(d) for d in await sources.list_documents(p, assistant_id)]


@router.get("/documents/{document_id}", response_model=DocumentOut)
async def get_document(document_id: int, p: Principal = Depends(READ)) -> DocumentOut:
    return _doc(await sources.get_document(p, document_id))


@upload_router.post("/assistants/{assistant_id}/documents", response_model=DocumentOut,
                    status_code=202)
async def upload_document(assistant_id: int, file: UploadFile = File(...),
                          p: Principal = Depends(KNOWLEDGE)) -> DocumentOut:
    """Stored at once, indexed by the jobs process: poll `GET /api/v1/documents/{id}`."""
    name = file.filename or "upload"
    if text_problem(name, 255) is not None:
        raise ValidationFailed("The file name has characters that cannot be stored.")
    limit = UploadLimits().max_file_bytes
    data = await file.read(limit + 1)
    if len(data) > limit:
        raise ValidationFailed(f"The file is larger than {format_size(limit)}.")
    return _doc(await sources.add_file(p, assistant_id, name, data))


@router.post("/assistants/{assistant_id}/urls", response_model=DocumentOut, status_code=202)
async def add_url(assistant_id: int, body: UrlIn,
                  p: Principal = Depends(KNOWLEDGE)) -> DocumentOut:
    return _doc(await sources.add_url(p, assistant_id, body.url, sitemap=body.sitemap))


@router.put("/documents/{document_id}/refresh", response_model=DocumentOut)
async def set_refresh(document_id: int, body: RefreshIn,
                      p: Principal = Depends(KNOWLEDGE)) -> DocumentOut:
    """Fetch a web page or sitemap again on a schedule; it is re-indexed only when its text
    changed, and keeps answering from its last good text if a fetch fails."""
    await refresh.set_schedule(p, document_id, body.hours)
    return _doc(await sources.get_document(p, document_id))


@router.delete("/documents/{document_id}", status_code=204)
async def delete_document(document_id: int, p: Principal = Depends(KNOWLEDGE)) -> None:
    await sources.delete_document(p, document_id)


@router.get("/assistants/{assistant_id}/qa", response_model=list[QAOut])
async def list_qa(assistant_id: int, p: Principal = Depends(READ)) -> list[QAOut]:
    return [_qa(q) for q in await sources.list_qa(p, assistant_id)]


@router.post("/assistants/{assistant_id}/qa", response_model=QAOut, status_code=201)
async def add_qa(assistant_id: int, body: QAIn, p: Principal = Depends(KNOWLEDGE)) -> QAOut:
    return _qa(await sources.save_qa(p, assistant_id, None, body.question, body.answer))


@router.delete("/qa/{qa_id}", status_code=204)
async def delete_qa(qa_id: int, p: Principal = Depends(KNOWLEDGE)) -> None:
    await sources.delete_qa(p, qa_id)

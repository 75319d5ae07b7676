"""All tables, imported together so SQLModel.metadata (and Alembic) sees every one."""

from backend_services.models.analytics import DialogFacts, HourCounts, RollupMark
from backend_services.models.assistants import Assistant
from backend_services.models.billing import (
    Balance,
    LedgerEntry,
    Payment,
    PaymentNotification,
    Price,
    Tariff,
)
from backend_services.models.conversations import (
    Channel,
    Contact,
    Dialog,
    EmailThreadMessage,
    HandoffEvent,
    Message,
    PendingAnswer,
)
from backend_services.models.files import StoredFile
from backend_services.models.identity import (
    ROLE_RANK,
    AuthToken,
    Invitation,
    Membership,
    Role,
    User,
    UserSession,
    Workspace,
)
from backend_services.models.integrations import ApiKey, WebhookDelivery, WebhookEndpoint
from backend_services.models.knowledge import (
    KnowledgeCheck,
    KnowledgeChunk,
    KnowledgeDocument,
    QAPair,
)
from backend_services.models.notifications import (
    NotificationDelivery,
    NotificationRequest,
    NotificationSetting,
)
from backend_services.models.onboarding import WorkspaceMilestone
from backend_services.models.platform import (
    AIProviderKey,
    AIUsage,
    AuditLog,
    PlatformSetting,
    SystemSample,
)
from backend_services.models.telegram import TelegramOperator, TelegramOutbox
from backend_services.models.widget import WidgetSettings

__all__ = [
    "ROLE_RANK",
    "AIProviderKey",
    "AIUsage",
    "ApiKey",
    "Assistant",
    "AuditLog",
    "AuthToken",
    "Balance",
    "Channel",
    "Contact",
    "Dialog",
    "DialogFacts",
    "EmailThreadMessage",
    "HandoffEvent",
    "HourCounts",
    "Invitation",
    "KnowledgeCheck",
    "KnowledgeChunk",
    "KnowledgeDocument",
    "LedgerEntry",
    "Membership",
    "Message",
    "NotificationDelivery",
    "NotificationRequest",
    "NotificationSetting",
    "Payment",
    "PaymentNotification",
    "PendingAnswer",
    "PlatformSetting",
    "Price",
    "QAPair",
    "Role",
    "RollupMark",
    "StoredFile",
    "SystemSample",
    "Tariff",
    "TelegramOperator",
    "TelegramOutbox",
    "User",
    "UserSession",
    "WebhookDelivery",
    "WebhookEndpoint",
    "WidgetSettings",
    "Workspace",
    "WorkspaceMilestone",
]

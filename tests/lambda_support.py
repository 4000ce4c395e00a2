"""What the tests of the AWS runtime share: the requirement's function list and a Lambda's environment."""

from __future__ import annotations

from collections.abc import Mapping

# The requirements' "Lambda Function List" (send-recovery is the 17th, scheduled one).
REQUIRED_FUNCTIONS = (
    "auth-middleware",
    "contacts-create",
    "contacts-read",
    "contacts-update",
    "contacts-delete",
    "contacts-search",
    "inbound-whatsapp-handler",
    "outbound-whatsapp",
    "outbound-sms",
    "outbound-email",
    "bulk-job-create",
    "bulk-worker",
    "bulk-job-control",
    "dlq-replay",
    "ai-query-kb",
    "ai-generate-response",
)


def lambda_environment(prefix: str, queue_urls: Mapping[str, str], client_id: str) -> dict[str, str]:
    """What every function of a preview deployment has (the lambda runtime's required variables)."""
    return {
        "ENVIRONMENT": "preview",
        "SEND_MODE": "DRY_RUN",
        "TABLE_PREFIX": prefix,
        "COGNITO_APP_CLIENT_ID": client_id,
        "BULK_QUEUE_URL": queue_urls["bulk-queue"],
        "AI_QUEUE_URL": queue_urls["ai-queue"],
        "BULK_DLQ_URL": queue_urls["bulk-dlq"],
        "INBOUND_DLQ_URL": queue_urls["inbound-dlq"],
        "OUTBOUND_DLQ_URL": queue_urls["outbound-dlq"],
        "AMPLIFY_SSM_ENV_CONFIG": "{}",
    }

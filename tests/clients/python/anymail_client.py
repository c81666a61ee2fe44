"""django-anymail 15.2's Mailgun backend and its tracking webhook view,
unchanged, against envoi. Run by tests/tests/python_clients.rs:

  anymail_client.py send      sends through envoi's HTTP API; prints the ids
                              anymail kept per recipient (JSON)
  anymail_client.py webhook   reads envoi's webhook calls (a JSON list) on
                              stdin, feeds each to anymail's view with its
                              signature checked; prints the tracking events

ENVOI_URL, ENVOI_KEY; for `webhook`, ENVOI_SIGNING_KEY."""

import base64
import json
import os
import sys

import django
from django.conf import settings

WEBHOOK_AUTH = "hook:secret-0123456789"
settings.configure(
    EMAIL_BACKEND="anymail.backends.mailgun.EmailBackend",
    INSTALLED_APPS=["anymail"],
    ALLOWED_HOSTS=["*"],
    ROOT_URLCONF=__name__,
    ANYMAIL={
        "MAILGUN_API_KEY": os.environ["ENVOI_KEY"],
        "MAILGUN_API_URL": os.environ["ENVOI_URL"] + "/v3",
        "MAILGUN_WEBHOOK_SIGNING_KEY": os.environ.get("ENVOI_SIGNING_KEY", "unused"),
        "WEBHOOK_SECRET": WEBHOOK_AUTH,
    },
)
django.setup()

from anymail.message import AnymailMessage  # noqa: E402
from anymail.signals import tracking  # noqa: E402
from anymail.webhooks.mailgun import MailgunTrackingWebhookView  # noqa: E402

urlpatterns = []
DOMAIN = "anymail.test"


def send():
    out = {}
    # merge_metadata and merge_headers: %recipient.v:cust% and
    # %recipient.h:X-Customer-Ref% on Mailgun's side.
    batch = AnymailMessage(
        subject="Your order",
        body="Thanks for your order.",
        from_email=f"shop@{DOMAIN}",
        to=["ann@dest.test", "ben@dest.test"],
    )
    batch.metadata = {"campaign": "spring"}
    batch.merge_metadata = {
        "ann@dest.test": {"cust": "cust-0"},
        "ben@dest.test": {"cust": "cust-1"},
    }
    batch.merge_headers = {
        "ann@dest.test": {"X-Customer-Ref": "ref-0"},
        "ben@dest.test": {"X-Customer-Ref": "ref-1"},
    }
    batch.tags = ["orders"]
    batch.send()
    out["batch"] = {
        addr: s.message_id for addr, s in batch.anymail_status.recipients.items()
    }
    # A stored template with per-recipient and global merge data.
    templated = AnymailMessage(
        from_email=f"shop@{DOMAIN}",
        to=["cat@dest.test", "dan@dest.test"],
    )
    templated.template_id = "receipt"
    templated.merge_data = {
        "cat@dest.test": {"name": "Cat"},
        "dan@dest.test": {"name": "Dan"},
    }
    templated.merge_global_data = {"shop": "Envoi Shop"}
    templated.send()
    out["template"] = {
        addr: s.message_id for addr, s in templated.anymail_status.recipients.items()
    }
    print(json.dumps(out))


def webhook():
    from django.test import RequestFactory

    calls = json.load(sys.stdin)
    seen = []

    def record(sender, event, esp_name, **kwargs):
        seen.append(
            {
                "event_type": event.event_type,
                "message_id": event.message_id,
                "recipient": event.recipient,
                "metadata": event.metadata,
                "tags": event.tags,
            }
        )

    tracking.connect(record)
    view = MailgunTrackingWebhookView.as_view()
    auth = "Basic " + base64.b64encode(WEBHOOK_AUTH.encode()).decode()
    factory = RequestFactory()
    for body in calls:
        request = factory.post(
            "/anymail/mailgun/tracking/",
            data=json.dumps(body),
            content_type="application/json",
            HTTP_AUTHORIZATION=auth,
        )
        response = view(request)
        assert response.status_code == 200, (response.status_code, response.content)
    # A call whose signature does not match is refused.
    forged = json.loads(json.dumps(calls[0]))
    forged["signature"]["signature"] = "0" * 64
    request = factory.post(
        "/anymail/mailgun/tracking/",
        data=json.dumps(forged),
        content_type="application/json",
        HTTP_AUTHORIZATION=auth,
    )
    # Anymail raises it (Django answers 400 for a SuspiciousOperation).
    from anymail.exceptions import AnymailWebhookValidationFailure

    try:
        view(request)
        raise AssertionError("a forged call was accepted")
    except AnymailWebhookValidationFailure:
        pass
    print(json.dumps(seen))


{"send": send, "webhook": webhook}[sys.argv[1]]()

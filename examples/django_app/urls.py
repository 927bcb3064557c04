"""URLs: the SDK's endpoint (``api/inngest``) and a view that sends an event."""

from __future__ import annotations

import json

from django.http import HttpRequest, JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

import stepwell
from examples.django_app.workflows import workflows
from stepwell.sdk.serve.django import serve

client = stepwell.Client()


def request_invoice(request: HttpRequest) -> JsonResponse:
    if request.method != "POST":
        return JsonResponse({"error": "POST only"}, status=405)
    body = json.loads(request.body)
    [event_id] = client.send_sync({"name": "billing/invoice.requested", "data": body})
    return JsonResponse({"event_id": event_id})


# The SDK's endpoint verifies signatures itself in production; the view is an API for scripts.
urlpatterns = [serve(workflows), path("invoices", csrf_exempt(request_invoice))]

"""Celery tasks of the integration platform: each loads by id and calls a service."""

from __future__ import annotations

from celery import shared_task

from apps.integrations import services

# Outgoing webhook retries: 2, 4, 8, 16 s (MAX_OUTGOING_ATTEMPTS attempts in all).
RETRY_BASE_SECONDS = 2


@shared_task(name="apps.integrations.tasks.dispatch_outgoing")
def dispatch_outgoing(message_id: int) -> None:
    for delivery_id in services.outgoing_deliveries_create(message_id=message_id):
        deliver_outgoing.delay(delivery_id)


@shared_task(bind=True, name="apps.integrations.tasks.deliver_outgoing", max_retries=None)
def deliver_outgoing(self, delivery_id: int) -> None:
    outcome = services.outgoing_deliver(delivery_id=delivery_id)
    if outcome.retry:
        countdown = RETRY_BASE_SECONDS * 2**self.request.retries
        raise self.retry(countdown=countdown)


@shared_task(name="apps.integrations.tasks.call_custom_command")
def call_custom_command(
    command_id: int, user_id: int, channel_id: int, args: str, thread_root_id: int | None
) -> None:
    services.custom_command_call(
        command_id=command_id,
        user_id=user_id,
        channel_id=channel_id,
        args=args,
        thread_root_id=thread_root_id,
    )


@shared_task(name="apps.integrations.tasks.deliver_action_click")
def deliver_action_click(user_id: int, message_id: int, action_id: str) -> None:
    services.action_click_deliver(user_id=user_id, message_id=message_id, action_id=action_id)


@shared_task(name="apps.integrations.tasks.fetch_link_previews")
def fetch_link_previews(message_id: int) -> None:
    services.link_previews_fetch(message_id=message_id)

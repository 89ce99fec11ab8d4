"""Typed application keys for the shared state of the aiohttp app."""

from __future__ import annotations

from aiohttp import web

from plugin.access.keys import Principal
from plugin.capture.group_commit import GroupCommit
from plugin.core.settings import Settings
from plugin.crm.delivery import DeliveryWorker
from plugin.db.database import Database
from plugin.handover.channels import ConnectorRegistry
from plugin.handover.testers import BotTester
from plugin.jobs.worker import JobWorker

__all__ = ["SETTINGS", "DATABASE", "CONNECTORS", "PRINCIPAL", "JOB_WORKER", "DELIVERY_WORKER",
           "BOT_TESTER", "GROUP_COMMIT"]

SETTINGS = web.AppKey("settings", Settings)
DATABASE = web.AppKey("store", Database)
CONNECTORS = web.AppKey("connectors", ConnectorRegistry)
PRINCIPAL = web.RequestKey("principal", Principal)  # the authenticated key
JOB_WORKER = web.AppKey("job_worker", JobWorker)
DELIVERY_WORKER = web.AppKey("delivery_worker", DeliveryWorker)
# The events API's writes: concurrent requests share them.
GROUP_COMMIT = web.AppKey("group_commit", GroupCommit)
# Set by an extension that runs bots on a test channel (the test-bot page); may be absent.
BOT_TESTER = web.AppKey("bot_tester", BotTester)

"""The Celery app, and the one repair a worker needs to outlive a Redis outage.

A worker running a task when Redis went away used to exit ("Unrecoverable error:
AttributeError: 'NoneType' object has no attribute 'hostname'") and only a supervisor brought it
back. Celery 5.7's consumer, on a lost broker connection, first `collect()`s the connection, which
detaches the transport from its kombu connection, then `close()`s it: the redis channel, closed a
second time, tries to put the running late-acknowledged task's message back on the queue through
a connection pool it builds from the detached transport, and the AttributeError that follows is
not one of the connection errors the consumer ignores, so the worker stops (celery
worker/consumer/consumer.py `on_connection_error_after_connected`, kombu transport/redis.py
`Channel._connparams`, Celery/Kombu 5.7.0). `RedisTransport` answers that case with a connection
error instead: the consumer ignores it, reconnects (broker_connection_retry, forever), and the
message stays in Redis's unacknowledged set, which redelivers it after the visibility timeout if
Redis kept its data (the tasks are idempotent; a writeback job is also resumed by the recovery
sweep either way). Settings: `CELERY_BROKER_TRANSPORT` in settings.py selects it for redis:// brokers.
"""

import os

import redis
from celery import Celery
from kombu.transport import redis as kombu_redis

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "erp_aftersales.settings")


class RedisChannel(kombu_redis.Channel):
    def _connparams(self, asynchronous=False):
        transport = self.connection
        if transport is None or transport.client is None:
            # The kombu connection was already collected after the broker went away: there is no
            # broker to reach from this channel. A connection error is what callers expect here.
            raise redis.exceptions.ConnectionError("broker connection already closed after a connection loss")
        return super()._connparams(asynchronous=asynchronous)


class RedisTransport(kombu_redis.Transport):
    Channel = RedisChannel


app = Celery("erp_aftersales")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

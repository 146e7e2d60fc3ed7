"""Settings, all from the environment (see the README's configuration table).

Two modes: the embedded default (`ERP_ENV` unset or `development`: SQLite and the filesystem broker
under var/, no service needed) and production (`ERP_ENV=production`: refuses to start with DEBUG on or
without a real SECRET_KEY).
"""

import base64
import hashlib
import ipaddress
import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured
from kombu import Queue

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("ERP_VAR_DIR", BASE_DIR / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else default


def env_float(name: str, default: float) -> float:
    value = os.environ.get(name)
    return float(value) if value not in (None, "") else default


def _fernet_key_ok(key: str) -> bool:
    """Whether core/fields.py can encrypt with it: Fernet() itself is the judge."""
    try:
        Fernet(key.encode())
    except (ValueError, UnicodeEncodeError):
        return False
    return True


ERP_ENV = os.environ.get("ERP_ENV", "development").strip().lower()
ERP_ENVS = ("development", "production")
if ERP_ENV not in ERP_ENVS:
    # A typo ("prod") must not quietly start a production server in development mode.
    raise ImproperlyConfigured(f"ERP_ENV={ERP_ENV!r} 无法识别：只能是 development 或 production。")
PRODUCTION = ERP_ENV == "production"
DEFAULT_SECRET_KEY = "dev-insecure-erp-aftersales-change-me"

SECRET_KEY = os.environ.get("SECRET_KEY", DEFAULT_SECRET_KEY)
DEBUG = env_bool("DEBUG", default=not PRODUCTION)
ALLOWED_HOSTS = [
    h.strip() for h in os.environ.get("ALLOWED_HOSTS", "127.0.0.1,localhost").split(",") if h.strip()
]
CSRF_TRUSTED_ORIGINS = [o.strip() for o in os.environ.get("CSRF_TRUSTED_ORIGINS", "").split(",") if o.strip()]

if PRODUCTION:
    if DEBUG:
        raise ImproperlyConfigured("ERP_ENV=production 时不能开启 DEBUG：请设置 DEBUG=0。")
    if SECRET_KEY == DEFAULT_SECRET_KEY or len(SECRET_KEY) < 50 or len(set(SECRET_KEY)) < 10:
        # Django's own deploy check asks for 50+ characters with 5+ distinct ones; 32 × "a" used to pass.
        raise ImproperlyConfigured(
            "ERP_ENV=production 需要设置足够随机的 SECRET_KEY（至少 50 个字符、至少 10 种不同字符，且不能是默认值），"
            "例如：python -c 'import secrets; print(secrets.token_urlsafe(64))'"
        )

# Shops' JOS secrets are encrypted at rest with this key (core/fields.py). Production brings its own:
# one derived from SECRET_KEY would make every stored secret unreadable the day SECRET_KEY rotates.
FIELD_ENCRYPTION_KEY = os.environ.get("FIELD_ENCRYPTION_KEY", "").strip()
if PRODUCTION and not FIELD_ENCRYPTION_KEY:
    raise ImproperlyConfigured(
        "ERP_ENV=production 需要设置 FIELD_ENCRYPTION_KEY（加密店铺密钥的 Fernet 密钥）。"
    )
if FIELD_ENCRYPTION_KEY:
    # Checked here, in every mode: a malformed key would otherwise start fine and fail only when a
    # shop's secret is first read or saved (a sync, a writeback, the admin), long after the deploy.
    # Empty entries (a trailing comma) are skipped, as core/fields.py skips them.
    _keys = [key.strip() for key in FIELD_ENCRYPTION_KEY.split(",") if key.strip()]
    _bad = [n for n, key in enumerate(_keys, 1) if not _fernet_key_ok(key)]
    if _bad or not _keys:
        which = "（" + "、".join(f"第 {n} 个" for n in _bad) + "密钥）" if _bad else "（没有密钥）"
        raise ImproperlyConfigured(
            f"FIELD_ENCRYPTION_KEY 格式不对{which}：每个密钥须为 Fernet 密钥（32 字节的 URL 安全 base64，"
            "44 个字符），多个密钥用逗号分隔；可用 python -c 'from cryptography.fernet import Fernet; "
            "print(Fernet.generate_key().decode())' 生成。"
        )
else:
    FIELD_ENCRYPTION_KEY = base64.urlsafe_b64encode(
        hashlib.sha256(f"erp_aftersales.field-encryption:{SECRET_KEY}".encode()).digest()
    ).decode()

INSTALLED_APPS = [
    # The admin theme (docs/admin.md): before the admin, so its templates win. Its assets ship in the
    # package and are served by whitenoise (SIMPLEUI_STATIC_OFFLINE): merchants' intranets reach no CDN.
    "erp_aftersales.theme.ThemeConfig",
    "erp_aftersales.admin_site.ErpAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "axes",
    "core",
    "erp_aftersales",
    "orders",
    "refunds",
    "returns",
    "sa_sync",
    "refund_slips",
    "api",
]

# The theme opens each page in a tab (an iframe of this same site): SAMEORIGIN still refuses every
# other site's frames, which is what clickjacking protection is for (erp_aftersales/theme.py).
X_FRAME_OPTIONS = "SAMEORIGIN"

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Content-Security-Policy on every response, static files and error pages included: only our
    # own scripts and the inline ones with this request's nonce run (core/security.py).
    "core.security.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes requires: it turns a lockout into the Chinese lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "erp_aftersales.urls"
WSGI_APPLICATION = "erp_aftersales.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- database -------------------------------------------------------------------------------
DATABASE_URL = os.environ.get("DATABASE_URL", "")
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 60))}
else:
    # Web, worker and beat share this file: WAL lets readers run beside the writer, IMMEDIATE takes
    # the write lock at BEGIN (no upgrade deadlocks), and the timeout waits instead of failing.
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.environ.get("SQLITE_PATH", VAR_DIR / "db.sqlite3"),
            "OPTIONS": {
                "transaction_mode": "IMMEDIATE",
                "timeout": 30,
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- broker / Celery ------------------------------------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "")
BROKER_DIR = VAR_DIR / "broker"
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL") or REDIS_URL or "filesystem://"
if CELERY_BROKER_URL == "filesystem://":
    for sub in ("out", "processed", "control"):
        (BROKER_DIR / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "out"),
        "data_folder_out": str(BROKER_DIR / "out"),
        "processed_folder": str(BROKER_DIR / "processed"),
        # Broadcast (pidbox) exchanges: otherwise kombu writes a control/ folder wherever it runs.
        "control_folder": str(BROKER_DIR / "control"),
        "store_processed": False,
    }
# A slip claimed for writeback (回传中) by a process that died is taken again after this lease; the
# recovery sweep (every minute) resumes a background job whose worker missed three 10-second
# heartbeats. Redis redelivers an unacknowledged task after its visibility timeout: it must not be
# shorter than the lease, or a live job would be handed to a second worker mid-way (harmless, since a
# job with a fresh heartbeat ignores a duplicate, but wasteful). The default lets Redis and the
# sweep agree: both act about a minute after the lease.
WRITEBACK_LEASE_SECONDS = env_int("WRITEBACK_LEASE_SECONDS", 300)
# Downloaded pages of JD's data commit without waiting for the disk (core.bulk: a crash loses at most
# the last moments of pages, which the next run downloads again). True: every commit waits.
SYNC_WAIT_FOR_DISK = env_bool("SYNC_WAIT_FOR_DISK", False)
CELERY_VISIBILITY_TIMEOUT_SECONDS = env_int("CELERY_VISIBILITY_TIMEOUT_SECONDS", WRITEBACK_LEASE_SECONDS + 60)
if CELERY_VISIBILITY_TIMEOUT_SECONDS < WRITEBACK_LEASE_SECONDS:
    raise ImproperlyConfigured(
        "CELERY_VISIBILITY_TIMEOUT_SECONDS 不能小于 WRITEBACK_LEASE_SECONDS（回传租约），"
        "否则正在运行的任务会被重复投递。"
    )
if CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": CELERY_VISIBILITY_TIMEOUT_SECONDS,
        # A broker that vanishes without closing the socket (failover, NAT, a firewall) must not
        # hang a publish or the consumer forever: commands give up after socket_timeout (above
        # BRPOP's 1 s wait), connecting after socket_connect_timeout, and the health check drops a
        # connection idle past its interval (kombu transport/redis.py, Kombu 5.7 documentation
        # of these transport options). retry_on_timeout stays off: a publish retried after a
        # timeout could be queued twice.
        "socket_timeout": 10,
        "socket_connect_timeout": 5,
        "socket_keepalive": True,
        "health_check_interval": 10,
    }
if CELERY_BROKER_URL.startswith("redis://"):
    # Survives a Redis outage while a task runs (see erp_aftersales/celery.py). rediss:// keeps
    # kombu's own transport, whose scheme check enforces its TLS settings.
    CELERY_BROKER_TRANSPORT = "erp_aftersales.celery:RedisTransport"
# A lost broker is waited for, forever, with kombu's backoff (Celery's configuration reference:
# broker_connection_retry, broker_connection_retry_on_startup, broker_connection_max_retries;
# None is "no limit", 0 would mean no retry at all: celery/celery#8626); the worker never exits
# because Redis restarted.
CELERY_BROKER_CONNECTION_RETRY = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
# Three queues, every worker consumes all three (a worker started without -Q takes every queue
# listed here), and the Redis transport takes them in turn: a tick's burst of per-shop downloads
# never makes a shop's auto-writeback run wait behind it, nor the other way round. "celery" keeps
# what people start (writeback jobs, manual syncs' fan-out) and beat's sweeps.
CELERY_TASK_DEFAULT_QUEUE = "celery"
# Each queue its own routing key: queues sharing one key on the direct exchange would each get
# a copy of every message.
CELERY_TASK_QUEUES = tuple(Queue(name, routing_key=name) for name in ("celery", "sync", "auto_writeback"))
CELERY_TASK_ROUTES = {
    "sa_sync.sync_shop": {"queue": "sync"},
    "refunds.run_auto_writeback": {"queue": "auto_writeback"},
}
CELERY_TASK_IGNORE_RESULT = True
# Every task is idempotent (a sync and a rule run hold a lease, a writeback job skips what it did
# and ignores a duplicate while it runs), so a task is acknowledged only after it ran, and one whose
# pool process died (killed, out of memory) is put back on the queue rather than dropped: its
# redelivery finds the lease or the job's fresh heartbeat and does nothing twice.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
# On a lost broker connection, tasks already running go on (Celery's default since the setting came
# with 5.1, celery/celery#6654, stated here because Celery 6 changes it): a writeback job keeps sending through a short outage instead of being
# killed with its slips 回传中 until the lease runs out. Its acknowledgement is lost with the
# connection; the redelivered message finds the job finished or alive and does nothing.
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = False
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TIMEZONE = "Asia/Shanghai"
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)

# --- JOS / SA ------------------------------------------------------------------------------
SANDBOX_HOST = os.environ.get("SANDBOX_HOST", "127.0.0.1")
SANDBOX_PORT = env_int("SANDBOX_PORT", 8765)
JOS_ENDPOINT = os.environ.get("JOS_ENDPOINT", f"http://{SANDBOX_HOST}:{SANDBOX_PORT}/routerjson")
JOS_TIMEOUT_SECONDS = env_float("JOS_TIMEOUT_SECONDS", 10.0)
# JD's OAuth (去京东授权, token refresh: platforms.jd.oauth): JD's own in production, the sandbox
# (which serves the same /oauth2/ paths) in development and tests.
JD_OAUTH_ENDPOINT = os.environ.get(
    "JD_OAUTH_ENDPOINT",
    "https://open-oauth.jd.com" if PRODUCTION else f"http://{SANDBOX_HOST}:{SANDBOX_PORT}",
)
# The callback JD sends the merchant back to; it must equal the one registered with the JD app.
# Empty: this site's own /admin/orders/shop/jd-oauth/callback/ as the request reached it.
JD_OAUTH_REDIRECT_URI = os.environ.get("JD_OAUTH_REDIRECT_URI", "")
# A token is refreshed by the scheduler once it expires within this many hours.
JD_TOKEN_REFRESH_BEFORE_HOURS = env_float("JD_TOKEN_REFRESH_BEFORE_HOURS", 24.0)
JOS_MAX_RETRIES = env_int("JOS_MAX_RETRIES", 3)
JOS_RATE_LIMIT_PER_SECOND = env_int("JOS_RATE_LIMIT_PER_SECOND", 20)
# The most a JOS answer may hold, read as a stream: past it the call fails instead of the process
# holding it all (a 200 MB answer once took a writeback worker to 5-8 GB). A page of 100 orders is
# well under 1 MB.
JOS_MAX_RESPONSE_BYTES = env_int("JOS_MAX_RESPONSE_BYTES", 8 * 1024 * 1024)
JOS_WRITEBACK_METHOD = os.environ.get(
    "JOS_WRITEBACK_METHOD", "jingdong.pop.afs.soa.refundapply.updateWarehouseStatus"
)
# 退货入仓's method: JD does not say publicly whether SA reads it from updateWarehouseStatus or from
# the after-sales service order (jingdong.asc.*); see platforms.jd.adapter.writeback_call.
JOS_RETURN_WRITEBACK_METHOD = os.environ.get("JOS_RETURN_WRITEBACK_METHOD", JOS_WRITEBACK_METHOD)
JOS_WAREHOUSE_STATUS_SHIPMENT_CANCELLED = os.environ.get("JOS_WAREHOUSE_STATUS_SHIPMENT_CANCELLED", "1")
JOS_WAREHOUSE_STATUS_GOODS_IN_WAREHOUSE = os.environ.get("JOS_WAREHOUSE_STATUS_GOODS_IN_WAREHOUSE", "2")
# Manual writeback: slips sent at once (within the rate limit); above the limit a selection runs as a
# background job with a progress page. One limit for the admin's action and the REST API: a web
# thread sends at most this many itself (20 slips answer in well under a second at JD's 50 ms);
# 200 held a thread for 14-21 s and, with 50 clients, pushed the list API's p95 to 20 s.
WRITEBACK_CONCURRENCY = env_int("WRITEBACK_CONCURRENCY", 4)
WRITEBACK_BACKGROUND_OVER = env_int("WRITEBACK_BACKGROUND_OVER", 20)
# A writeback whose answer was lost (结果未知) is read again from JD, and resent once at most, no
# sooner than this after the lost answer (by the recovery sweep, every minute).
WRITEBACK_UNKNOWN_RECHECK_SECONDS = env_int("WRITEBACK_UNKNOWN_RECHECK_SECONDS", 300)
PLATFORM_SYNC_INTERVAL_SECONDS = env_int("PLATFORM_SYNC_INTERVAL_SECONDS", 60)
# Each run re-reads this much before the last completed window: rows at the edge are not lost.
PLATFORM_SYNC_OVERLAP_SECONDS = env_int("PLATFORM_SYNC_OVERLAP_SECONDS", 300)
# A shop's first run looks back this far; windows are walked in chunks (JD limits a query's range).
PLATFORM_SYNC_INITIAL_DAYS = env_int("PLATFORM_SYNC_INITIAL_DAYS", 30)
PLATFORM_SYNC_CHUNK_HOURS = env_int("PLATFORM_SYNC_CHUNK_HOURS", 24 * 7)

# --- auth, i18n, static ---------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
LOGIN_URL = "admin:login"

# Login throttling (django-axes): LOGIN_FAILURE_LIMIT wrong passwords for one user name, or from one
# address, lock logins for LOGIN_LOCKOUT_MINUTES; a success resets the count. The address is
# REMOTE_ADDR: behind a proxy, set LOGIN_PROXY_COUNT (how many proxies append to X-Forwarded-For),
# never trust the header otherwise (a client could send any address).
AUTHENTICATION_BACKENDS = [
    "core.auth.LoginThrottleBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("LOGIN_LOCKOUT_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "core.auth.lockout_response"
# axes' admin pages run actions without permission checks: unlock from the shell instead
# (`manage.py axes_reset_username <user>` / `axes_reset_ip <address>`, see the README).
AXES_ENABLE_ADMIN = False
if env_int("LOGIN_PROXY_COUNT", 0):
    AXES_IPWARE_PROXY_COUNT = env_int("LOGIN_PROXY_COUNT", 0)
    AXES_IPWARE_META_PRECEDENCE_ORDER = ("HTTP_X_FORWARDED_FOR", "REMOTE_ADDR")

LANGUAGE_CODE = "zh-hans"
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "staticfiles"
STATIC_ROOT.mkdir(exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"] if (BASE_DIR / "static").exists() else []
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# --- shared cache ----------------------------------------------------------------------------
# Shared by every process: Redis when REDIS_URL is set; otherwise files under var/ (one machine).
# The API's per-key request counts live here.
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
        }
    }

# --- REST API (/api/v1/) ------------------------------------------------------------------------
API_RATE_LIMIT_PER_MINUTE = env_int("API_RATE_LIMIT_PER_MINUTE", 600)  # per key; 0 turns it off
API_THROTTLE_CACHE = "default"
API_MAX_BODY_BYTES = env_int("API_MAX_BODY_BYTES", 5 * 1024 * 1024)
# Django reads a JSON body whole and refuses one past DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MB by
# default): it must not be below the API's own limit, or a documented 5 MB push fails before the
# API can look at it. Past API_MAX_BODY_BYTES the API answers 413 itself (api/parsers.py).
DATA_UPLOAD_MAX_MEMORY_SIZE = max(API_MAX_BODY_BYTES, 2621440)
# The deepest JSON nesting the API parses (its own bodies need 6: the body, items, an order, its
# promotions, one of them, its oids): deeper is a 400 before Python's recursive decoder could run
# out of stack.
API_MAX_JSON_DEPTH = env_int("API_MAX_JSON_DEPTH", 32)
# A pushed `modified` later than now by more than this is refused: a wrong clock (or a test value
# like 2099) would otherwise win every newer-wins comparison and freeze the row for good.
PLATFORM_CLOCK_TOLERANCE_SECONDS = env_int("PLATFORM_CLOCK_TOLERANCE_SECONDS", 300)
WEBHOOK_TIMEOUT_SECONDS = env_float("WEBHOOK_TIMEOUT_SECONDS", 10.0)
WEBHOOK_MAX_ATTEMPTS = env_int("WEBHOOK_MAX_ATTEMPTS", 10)
# Receivers are URLs typed in by shop staff and POSTed to from inside the network (api/ssrf.py):
# https only unless WEBHOOK_ALLOW_HTTP (on in development, for a receiver on a test machine), and
# never an internal address unless listed here (host names, addresses or networks, comma-separated).
WEBHOOK_ALLOW_HTTP = env_bool("WEBHOOK_ALLOW_HTTP", default=not PRODUCTION)
WEBHOOK_ALLOWED_PRIVATE_HOSTS = [
    h.strip() for h in os.environ.get("WEBHOOK_ALLOWED_PRIVATE_HOSTS", "").split(",") if h.strip()
]
for _entry in WEBHOOK_ALLOWED_PRIVATE_HOSTS:
    if "/" in _entry:
        try:
            ipaddress.ip_network(_entry, strict=False)
        except ValueError:
            raise ImproperlyConfigured(
                f"WEBHOOK_ALLOWED_PRIVATE_HOSTS 中的 {_entry!r} 不是有效的网段（例如 10.20.0.0/16）。"
            ) from None
# --- admin theme (django-simpleui; why: docs/admin.md) -----------------------------------------
SIMPLEUI_STATIC_OFFLINE = True  # Vue, Element UI and the icons from our own static files, never a CDN
SIMPLEUI_HOME_INFO = False  # no project advert / version check on the home tab (it calls out to the net)
SIMPLEUI_ANALYSIS = False  # no usage report to the theme's authors
SIMPLEUI_LOADING = False
SIMPLEUI_DEFAULT_THEME = "element.css"
SIMPLEUI_HOME_TITLE = "工作台"
SIMPLEUI_HOME_ICON = "fa fa-gauge"
SIMPLEUI_HOME_PAGE = "/admin/dashboard/"
# Slip lists past this many rows are exported to Excel in the background, with a progress page.
EXPORT_BACKGROUND_OVER = env_int("EXPORT_BACKGROUND_OVER", 2000)
EXPORT_DIR = Path(os.environ.get("EXPORT_DIR", VAR_DIR / "exports"))

REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.BasicAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.DjangoModelPermissions"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
}
SPECTACULAR_SETTINGS = {
    # ASCII: generators make the title a package name (openapi-python-client: erp-aftersales-api-client).
    "TITLE": "ERP Aftersales API",
    "DESCRIPTION": (
        "京东售后管理后台 API：店铺自有系统、WMS、BI 对接用的接口。认证：Authorization: Bearer <API密钥>"
        "（运营在后台为店铺创建）；每个密钥只能看到本店铺的数据，其他店铺的对象一律返回 404。"
        "对象按业务单号寻址：原始退款单 refund_no，订单 tid，退货单 TH…，退款单 TK…。"
        "错误统一为 {code, message, errors[]}：不符合接口定义 400，符合定义但违反业务规则 422；"
        "批量请求中每个出错条目以 index + field 列出。金额为两位小数的字符串，时间为 ISO 8601（+08:00）。"
        "每个响应带 RateLimit-* 头。Webhook 事件见 x-webhooks。详见 docs/api.md 与 docs/api-changelog.md。"
    ),
    # Within v1 only additions: see docs/api.md (versioning) and docs/api-changelog.md.
    "VERSION": "1.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "SWAGGER_UI_DIST": "SIDECAR",  # served by the back office itself: no CDN needed
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    # No "valid" badge from validator.swagger.io: it would send our schema's address to another site,
    # and the Content-Security-Policy (core/security.py) refuses its image anyway.
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Enum component names (ASCII, one per choice list); api.schema adds each member's English name
    # as x-enum-varnames.
    "ENUM_NAME_OVERRIDES": {
        "RefundTypeEnum": "refunds.models.RefundType",
        "PlatformStatusEnum": "refunds.models.PlatformStatus",
        "WritebackStatusEnum": "refunds.models.WritebackStatus",
        "PlatformObjectEnum": "refunds.models.PlatformObject",
        "OrderStatusEnum": "orders.models.OrderStatus",
        "PayTypeEnum": "orders.models.PayType",
        "PromotionKindEnum": "orders.models.PromotionKind",
        "InterceptionStatusEnum": "orders.models.InterceptionStatus",
        "ReturnStatusEnum": "returns.models.ReturnStatus",
        "RefundSlipStatusEnum": "refund_slips.models.RefundSlipStatus",
        "RefundSourceEnum": "refund_slips.models.RefundSource",
        "RefundStrategyEnum": "refund_slips.models.RefundStrategy",
        "AutoWritebackRunStatusEnum": "sa_sync.models.AutoWritebackRun.Status",
        "WritebackJobStatusEnum": "sa_sync.models.WritebackJob.Status",
        "WritebackOutcomeEnum": "sa_sync.models.WritebackOutcome",
        "PushResultEnum": "api.serializers.PUSH_RESULTS",
        "ErrorCodeEnum": "api.errors.ErrorCode",
        "RawRefundEventTypeEnum": "api.serializers.RAW_REFUND_EVENT_TYPES",
        "ReturnSlipEventTypeEnum": "api.serializers.RETURN_SLIP_EVENT_TYPES",
        "RefundSlipEventTypeEnum": "api.serializers.REFUND_SLIP_EVENT_TYPES",
    },
    "POSTPROCESSING_HOOKS": [
        "api.schema.add_webhooks",
        "drf_spectacular.hooks.postprocess_schema_enums",
        "api.schema.for_generators",
        "api.schema.add_error_responses",
    ],
}

if PRODUCTION:
    SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", True)
    CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", True)
    # HTTPS only. Behind a proxy that terminates TLS, set SECURE_PROXY_SSL_HEADER (e.g.
    # HTTP_X_FORWARDED_PROTO) so Django knows the request was HTTPS, or SECURE_SSL_REDIRECT=0 when
    # the proxy already redirects.
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]  # the container healthcheck speaks plain HTTP
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 365 * 24 * 3600)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
    if os.environ.get("SECURE_PROXY_SSL_HEADER"):
        SECURE_PROXY_SSL_HEADER = (os.environ["SECURE_PROXY_SSL_HEADER"].strip(), "https")
    SECURE_CONTENT_TYPE_NOSNIFF = True
    SILENCED_SYSTEM_CHECKS = ["security.W019"] + ([] if SECURE_HSTS_PRELOAD else ["security.W021"])

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    # httpx logs every request at INFO; our JOS client logs each call once with its outcome.
    "loggers": {
        "httpx": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
        "axes": {"level": "WARNING"},
    },
}

# --- auto-writeback -----------------------------------------------------------------
# A slip that failed with a retryable error is retried (after the backoff stored on it) while it
# has been attempted fewer times than this; after that it waits for a person.
AUTO_WRITEBACK_RETRY_BUDGET = env_int("AUTO_WRITEBACK_RETRY_BUDGET", 5)

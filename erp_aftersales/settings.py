"""Settings, all from the environment (see the README's configuration table).

Two modes: the embedded default (`ERP_ENV` unset or `development`: SQLite and the filesystem broker
under var/, no service needed) and production (`ERP_ENV=production`: refuses to start with DEBUG on or
without a real SECRET_KEY).
"""

import base64
import hashlib
import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

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


ERP_ENV = os.environ.get("ERP_ENV", "development").strip().lower()
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
    if SECRET_KEY == DEFAULT_SECRET_KEY or len(SECRET_KEY) < 32:
        raise ImproperlyConfigured(
            "ERP_ENV=production 需要设置 SECRET_KEY（至少 32 个字符，且不能是默认值）。"
        )

# Shops' JOS secrets are encrypted at rest with this key (core/fields.py). Production brings its own:
# one derived from SECRET_KEY would make every stored secret unreadable the day SECRET_KEY rotates.
FIELD_ENCRYPTION_KEY = os.environ.get("FIELD_ENCRYPTION_KEY", "").strip()
if PRODUCTION and not FIELD_ENCRYPTION_KEY:
    raise ImproperlyConfigured(
        "ERP_ENV=production 需要设置 FIELD_ENCRYPTION_KEY（加密店铺密钥的 Fernet 密钥）。"
    )
if not FIELD_ENCRYPTION_KEY:
    FIELD_ENCRYPTION_KEY = base64.urlsafe_b64encode(
        hashlib.sha256(f"erp_aftersales.field-encryption:{SECRET_KEY}".encode()).digest()
    ).decode()

INSTALLED_APPS = [
    "erp_aftersales.admin_site.ErpAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "django_celery_beat",
    "core",
    "erp_aftersales",
    "orders",
    "refunds",
    "returns",
    "sa_sync",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
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
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TIMEZONE = "Asia/Shanghai"
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)

# --- JOS / SA ------------------------------------------------------------------------------
SANDBOX_HOST = os.environ.get("SANDBOX_HOST", "127.0.0.1")
SANDBOX_PORT = env_int("SANDBOX_PORT", 8765)
JOS_ENDPOINT = os.environ.get("JOS_ENDPOINT", f"http://{SANDBOX_HOST}:{SANDBOX_PORT}/routerjson")
JOS_TIMEOUT_SECONDS = env_float("JOS_TIMEOUT_SECONDS", 10.0)
JOS_MAX_RETRIES = env_int("JOS_MAX_RETRIES", 3)
JOS_RATE_LIMIT_PER_SECOND = env_int("JOS_RATE_LIMIT_PER_SECOND", 20)
JOS_WRITEBACK_METHOD = os.environ.get(
    "JOS_WRITEBACK_METHOD", "jingdong.pop.afs.soa.refundapply.updateWarehouseStatus"
)
JOS_WAREHOUSE_STATUS_SHIPMENT_CANCELLED = os.environ.get("JOS_WAREHOUSE_STATUS_SHIPMENT_CANCELLED", "1")
JOS_WAREHOUSE_STATUS_GOODS_IN_WAREHOUSE = os.environ.get("JOS_WAREHOUSE_STATUS_GOODS_IN_WAREHOUSE", "2")
# Manual writeback: slips sent at once (within the rate limit); above the limit a selection runs as a
# background job with a progress page.
WRITEBACK_CONCURRENCY = env_int("WRITEBACK_CONCURRENCY", 4)
WRITEBACK_BACKGROUND_OVER = env_int("WRITEBACK_BACKGROUND_OVER", 200)
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
SPECTACULAR_SETTINGS = {"TITLE": "erp_aftersales API", "VERSION": "0.1.0"}

if PRODUCTION:
    SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", True)
    CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", True)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    # httpx logs every request at INFO; our JOS client logs each call once with its outcome.
    "loggers": {"httpx": {"level": "WARNING"}, "httpcore": {"level": "WARNING"}},
}

# --- auto-writeback -----------------------------------------------------------------
# A slip that failed with a retryable error is retried (after the backoff stored on it) while it
# has been attempted fewer times than this; after that it waits for a person.
AUTO_WRITEBACK_RETRY_BUDGET = env_int("AUTO_WRITEBACK_RETRY_BUDGET", 5)

"""Settings for every environment, read from the process environment (see `.env.example`).

Outside debug mode the secrets must be given explicitly; the process refuses to start
without them rather than fall back to a development value.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import environ
from csp import constants as csp_constants
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("VAR_DIR", BASE_DIR / "var"))

env = environ.Env()
if (BASE_DIR / ".env").exists():
    env.read_env(str(BASE_DIR / ".env"))

DEBUG: bool = env.bool("DEBUG", default=False)
TESTING: bool = env.bool("TESTING", default=False)

# Development fallbacks are only ever used when DEBUG is on.
# The system check `common.E001` refuses them outside debug and off the devnet.
DEV_SECRET_KEY = "dev-only-insecure-secret-key-never-use-in-production-0123456789abcdef"  # noqa: S105
DEV_KEY_ENCRYPTION_KEY = "ZGV2LW9ubHktZW5lcmd5LXBsYXRmb3JtLWtleS0wMDA="


def _secret(name: str, dev_default: str) -> str:
    value: str = env.str(name, default="")
    if value:
        return value
    if DEBUG:
        return dev_default
    raise ImproperlyConfigured(f"{name} must be set when DEBUG is off")


SECRET_KEY = _secret("SECRET_KEY", DEV_SECRET_KEY)
# Fernet keys (urlsafe base64, 32 bytes) for private keys at rest; the first encrypts, all
# decrypt, so a new key is rotated in by putting it first.
KEY_ENCRYPTION_KEYS: list[str] = [
    k.strip()
    for k in _secret("KEY_ENCRYPTION_KEYS", DEV_KEY_ENCRYPTION_KEY).split(",")
    if k.strip()
]

ALLOWED_HOSTS: list[str] = env.list(
    "ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"] if DEBUG else []
)
CSRF_TRUSTED_ORIGINS: list[str] = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    # Swagger UI served from the project, not a CDN (the CSP allows only this origin).
    "drf_spectacular_sidecar",
    "csp",
    "django_filters",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "axes",
    "django_celery_beat",
    "simple_history",
    "channels",
    "common",
    "partners",
    "pools",
    "predictions",
    "alerts",
    "withdrawals",
    "operations",
    "dashboard",
]

MIDDLEWARE = [
    # First: every request is timed and counted, and logs under its request id.
    "common.metrics.MetricsMiddleware",
    "common.logs.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "common.api.middleware.StrictQueryStringMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    # Lets the audit trail (common/audit.py) see who made a change, and through which door.
    "simple_history.middleware.HistoryRequestMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Axes must be last: it turns lockouts raised by the backend into responses.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "energy_platform.urls"
ASGI_APPLICATION = "energy_platform.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
# Embedded default: SQLite in var/. Production and tests: DATABASE_URL (PostgreSQL, psycopg 3).
if env.str("DATABASE_URL", default=""):
    DATABASES = {"default": env.db("DATABASE_URL")}
    # 0 by default: under daphne (ASGI) every request may run on a new thread, and
    # persistent connections would pile up per thread. Use a pool for reuse.
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("DB_CONN_MAX_AGE", default=0))
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    # The web process (Procfile) keeps a psycopg pool: each request borrows a connection
    # instead of opening one (a new PostgreSQL backend process each time). Celery's prefork
    # workers leave it 0: a pool's threads do not survive a fork.
    if DB_POOL_MAX_SIZE := env.int("DB_POOL_MAX_SIZE", default=0):
        # With CONN_HEALTH_CHECKS on, Django has the pool check each connection it hands
        # out, so one that died (a database restart) is replaced instead of failing a request.
        DATABASES["default"]["CONN_MAX_AGE"] = 0
        DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
            "min_size": min(2, DB_POOL_MAX_SIZE),
            "max_size": DB_POOL_MAX_SIZE,
            "timeout": env.float("DB_POOL_TIMEOUT_SECONDS", default=10.0),
        }
else:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": VAR_DIR / "db.sqlite3",
            "OPTIONS": {
                # web, worker and beat share the file: wait for locks, write-ahead log.
                "timeout": 30,
                "transaction_mode": "IMMEDIATE",
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # The usage log's covering index (pools/models.py) is PostgreSQL's; SQLite, the
    # development database, builds it without its extra columns, which is all it can do.
    SILENCED_SYSTEM_CHECKS = ["models.W040"]

# --- Redis: cache, Celery broker, Channels layer ----------------------------------------------
# Without REDIS_URL the platform uses the embedded server that `make run` starts on this port.
EMBEDDED_REDIS_PORT: int = env.int("EMBEDDED_REDIS_PORT", default=6390)
REDIS_URL: str = env.str("REDIS_URL", default=f"redis://127.0.0.1:{EMBEDDED_REDIS_PORT}/0")
REDIS_KEY_PREFIX: str = env.str("REDIS_KEY_PREFIX", default="ep")
if TESTING:
    # Parallel test workers share one Redis: give each its own key space.
    REDIS_KEY_PREFIX += f":test:{os.environ.get('PYTEST_XDIST_WORKER', 'main')}:{os.getpid()}"

CACHES = {
    "default": {
        "BACKEND": "common.cache.SharedRedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": REDIS_KEY_PREFIX,
        "TIMEOUT": 300,
        "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
    }
}

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {
            "hosts": [REDIS_URL],
            "prefix": f"{REDIS_KEY_PREFIX}:asgi",
            "capacity": 1500,
            "expiry": 30,
        },
    }
}

# --- Celery (see docs/jobs.md) --------------------------------------------------
CELERY_BROKER_URL = REDIS_URL
CELERY_BROKER_TRANSPORT_OPTIONS = {
    # Longer than any task may run, so a slow task is not redelivered while still running.
    "visibility_timeout": 3600,
    "global_keyprefix": f"{REDIS_KEY_PREFIX}:celery:",
}
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = 300
CELERY_TASK_SOFT_TIME_LIMIT = 240
CELERY_TASK_ALWAYS_EAGER = False
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# Write each dispatch's last_run_at at once (the default waits up to 3 minutes), so the
# beat health check sees the scheduler as it is.
CELERY_BEAT_SYNC_EVERY = 1
CELERY_TIMEZONE = "UTC"
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# --- Auth -----------------------------------------------------------------------------------
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "withdrawals:login"
LOGIN_REDIRECT_URL = "withdrawals:history"
LOGOUT_REDIRECT_URL = "withdrawals:login"

AXES_FAILURE_LIMIT: int = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=30))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_ENABLED: bool = env.bool("AXES_ENABLED", default=True)

OTP_TOTP_ISSUER = "Energy Platform"
# Nobody reads another person's second factor in the admin (partners/admin.py replaces the
# plugins' device admins as well).
OTP_ADMIN_HIDE_SENSITIVE_DATA = True

# --- API ------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "partners.authentication.APIKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["partners.permissions.IsPartnerCaller"],
    "DEFAULT_THROTTLE_CLASSES": ["partners.throttling.CallerRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "caller": env.str("API_RATE_LIMIT", default="1200/min"),
        "anon": env.str("ANON_RATE_LIMIT", default="120/min"),
        # Invalid API keys per client address before it is refused for the window.
        "api_key_failures": env.str("API_KEY_FAILURE_LIMIT", default="20/min"),
    },
    "DEFAULT_PARSER_CLASSES": ["common.api.parsers.StrictJSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PAGINATION_CLASS": "common.api.pagination.DefaultPagination",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "common.api.errors.api_exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    "NUM_PROXIES": env.int("NUM_PROXIES", default=0),
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Energy Platform API",
    "DESCRIPTION": "Partner API: energy pools, withdrawals and alerts on TRON.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "PoolStatusEnum": "pools.models.EnergyPool.Status",
        "PoolCustodyEnum": "pools.models.EnergyPool.Custody",
        "PartnerStatusEnum": "partners.models.Partner.Status",
        "UsageKindEnum": "pools.models.EnergyUsageLog.Kind",
        "StakingKindEnum": "pools.models.StakingOperation.Kind",
        "StakingStateEnum": "pools.models.StakingOperation.State",
        "AlertKindEnum": "alerts.models.EnergyAlert.Kind",
        "AlertLevelEnum": "alerts.models.Level",
        "AlertChannelKindEnum": "alerts.models.AlertChannel.Kind",
    },
}

# --- TRON -----------------------------------------------------------------------------------
TRON_NODE_URLS: list[str] = env.list("TRON_NODE_URLS", default=["http://127.0.0.1:8090"])
TRONGRID_API_KEY: str = env.str("TRONGRID_API_KEY", default="")
TRON_NETWORK: str = env.str("TRON_NETWORK", default="devnet")
TRON_TIMEOUT_SECONDS: float = env.float("TRON_TIMEOUT_SECONDS", default=10.0)
# Transactions expire this long after the node's head block time; past it, a transaction
# that is not on chain is provably dead and may be replaced.
TRON_TX_EXPIRATION_SECONDS: int = env.int("TRON_TX_EXPIRATION_SECONDS", default=60)
# Chain sync: pools per batch, concurrent reads, staleness, external-usage tolerance.
POOL_SYNC_BATCH_SIZE: int = env.int("POOL_SYNC_BATCH_SIZE", default=1000)
POOL_SYNC_CONCURRENCY: int = env.int("POOL_SYNC_CONCURRENCY", default=64)
POOL_STALE_AFTER_SECONDS: int = env.int("POOL_STALE_AFTER_SECONDS", default=300)
POOL_EXTERNAL_USAGE_TOLERANCE: int = env.int("POOL_EXTERNAL_USAGE_TOLERANCE", default=1000)
# The partner's heavy reads (dashboard, monitor, pool list) are cached this long under a
# version that every committed change to the partner replaces (common/readcache.py); 0 turns
# the cache off. Tests read the database every time unless they turn it on.
READS_CACHE_SECONDS: int = env.int("READS_CACHE_SECONDS", default=0 if TESTING else 5)
# Energy-rental price providers (dotted paths); real markets are enabled here, never in tests.
ENERGY_RENTAL_PROVIDERS: list[str] = env.list(
    "ENERGY_RENTAL_PROVIDERS", default=["pools.pricing.DevnetRentalProvider"]
)
# Real markets (pools/pricing.py): each quotes an order of this much energy per duration.
ENERGY_RENTAL_QUOTE_ENERGY: int = env.int("ENERGY_RENTAL_QUOTE_ENERGY", default=65_000)
ENERGY_RENTAL_DURATIONS_DAYS: list[int] = [
    int(d) for d in env.list("ENERGY_RENTAL_DURATIONS_DAYS", default=["1", "3", "7", "30"])
]
ENERGY_RENTAL_TIMEOUT_SECONDS: float = env.float("ENERGY_RENTAL_TIMEOUT_SECONDS", default=5.0)
TRONSAVE_API_URL: str = env.str("TRONSAVE_API_URL", default="https://api.tronsave.io")
TRONSAVE_API_KEY: str = env.str("TRONSAVE_API_KEY", default="")
FEEE_API_URL: str = env.str("FEEE_API_URL", default="https://feee.io/open")
FEEE_API_KEY: str = env.str("FEEE_API_KEY", default="")
# Automatic top-up by rental (predictions/services/topup.py, `pools_topup`): the market orders go to
# (a provider that can order: pools/pricing.py), the devnet market's URL (empty: the first
# TRON node), the rental's days, how soon a forecast shortfall must come to rent for it, and
# how long a placed order may take to show on chain before it is given up.
ENERGY_RENTAL_ORDER_PROVIDER: str = env.str(
    "ENERGY_RENTAL_ORDER_PROVIDER", default="pools.pricing.DevnetRentalProvider"
)
ENERGY_RENTAL_DEVNET_MARKET_URL: str = env.str("ENERGY_RENTAL_DEVNET_MARKET_URL", default="")
TOPUP_RENTAL_DAYS: int = env.int("TOPUP_RENTAL_DAYS", default=1)
TOPUP_HORIZON_HOURS: int = env.int("TOPUP_HORIZON_HOURS", default=24)
TOPUP_DELIVERY_TIMEOUT_SECONDS: int = env.int("TOPUP_DELIVERY_TIMEOUT_SECONDS", default=900)
# Energy price assumed for savings before any fee was recorded (sun per energy, §1.1).
DEFAULT_ENERGY_FEE_SUN: int = env.int("DEFAULT_ENERGY_FEE_SUN", default=100)
# fee_limit never exceeds this for a withdrawal (sun), whatever the estimate.
WITHDRAWAL_MAX_FEE_LIMIT_SUN: int = env.int("WITHDRAWAL_MAX_FEE_LIMIT_SUN", default=100_000_000)
# After this many attempts expired without reaching a block, a withdrawal fails (alerted).
WITHDRAWAL_MAX_DEAD_ATTEMPTS: int = env.int("WITHDRAWAL_MAX_DEAD_ATTEMPTS", default=3)
# An emergency fee quote holds for this long.
EMERGENCY_QUOTE_SECONDS: int = env.int("EMERGENCY_QUOTE_SECONDS", default=300)
# An unpaid quote's withdrawal is cancelled only this long after the quote expired: an
# on-chain payment made just in time must solidify before it can be confirmed.
EMERGENCY_PAYMENT_GRACE_SECONDS: int = env.int("EMERGENCY_PAYMENT_GRACE_SECONDS", default=600)
# A wallet-linking challenge (pools/services/wallets.py) must be signed within this long.
WALLET_CHALLENGE_SECONDS: int = env.int("WALLET_CHALLENGE_SECONDS", default=300)
# An unsigned reservation is voided after this long (its withdrawal then re-queues). It must
# outlast the longest stall the platform can cause itself: a hung signing run killed at
# CELERY_TASK_TIME_LIMIT, its lease expiring, the next run's interval (check pools.E004).
RESERVATION_TTL_SECONDS: int = env.int("RESERVATION_TTL_SECONDS", default=600)
# Energy sharing (`rebalance_pools`, predictions/services/rebalance.py): a pool is short when
# its forecast runs out within this many hours (or the queue already waits on it); moves are
# sized this much above the need; this share of the spare energy is split evenly among the
# short pools before the rest goes by priority.
REBALANCE_HORIZON_HOURS: int = env.int("REBALANCE_HORIZON_HOURS", default=6)
REBALANCE_MARGIN_PERCENT: float = env.float("REBALANCE_MARGIN_PERCENT", default=10.0)
REBALANCE_FLOOR_PERCENT: float = env.float("REBALANCE_FLOOR_PERCENT", default=20.0)
if not 1 <= REBALANCE_HORIZON_HOURS <= 168:
    raise ImproperlyConfigured("REBALANCE_HORIZON_HOURS must be between 1 and 168.")
if not 0 <= REBALANCE_FLOOR_PERCENT <= 100 or REBALANCE_MARGIN_PERCENT < 0:
    raise ImproperlyConfigured(
        "REBALANCE_FLOOR_PERCENT must be within 0–100 and REBALANCE_MARGIN_PERCENT ≥ 0."
    )
# A transaction is declared dead only once the solidified chain is this far past its
# expiration (and, twice in a row, nobody knows it).
TRON_DEAD_MARGIN_SECONDS: int = env.int("TRON_DEAD_MARGIN_SECONDS", default=120)
# The node is unhealthy when its head block is older than this.
TRON_HEAD_STALE_SECONDS: int = env.int("TRON_HEAD_STALE_SECONDS", default=60)
# A block explorer's page for one transaction, `{txid}` standing for its id (e.g.
# https://tronscan.org/#/transaction/{txid}); empty (the devnet has none): no link.
TRON_EXPLORER_URL: str = env.str("TRON_EXPLORER_URL", default="")
if TRON_EXPLORER_URL and "{txid}" not in TRON_EXPLORER_URL:
    raise ImproperlyConfigured("TRON_EXPLORER_URL must contain {txid}.")

# --- Alerts (alerts/services/rules.py, alerts/services/delivery.py) -------------------------
# A usage alert lowers or resolves only this many points below the threshold that raised it.
ALERT_HYSTERESIS_POINTS: float = env.float("ALERT_HYSTERESIS_POINTS", default=3.0)
# An unacknowledged critical or emergency alert is sent again this often.
ALERT_RENOTIFY_MINUTES: int = env.int("ALERT_RENOTIFY_MINUTES", default=30)
# A pool not synced for this many sync intervals is stale.
ALERT_STALE_SYNC_INTERVALS: int = env.int("ALERT_STALE_SYNC_INTERVALS", default=3)
# Depletion reads the consumption rate over this many recent hours.
ALERT_DEPLETION_RATE_WINDOW_HOURS: int = env.int("ALERT_DEPLETION_RATE_WINDOW_HOURS", default=3)
# External usage within this window raises an external-drain warning.
ALERT_EXTERNAL_DRAIN_WINDOW_MINUTES: int = env.int(
    "ALERT_EXTERNAL_DRAIN_WINDOW_MINUTES", default=60
)
# A rental order paid to its market and not placed for this long, or placed and neither
# delivered nor failed for this long past TOPUP_DELIVERY_TIMEOUT_SECONDS, raises a critical
# rental_stuck alert (so does one whose market cannot be asked about it, at once).
ALERT_RENTAL_STUCK_MINUTES: int = env.int("ALERT_RENTAL_STUCK_MINUTES", default=30)
# Each try of a delivery gives up after this long (email, webhook, chat).
ALERT_DELIVERY_TIMEOUT_SECONDS: float = env.float("ALERT_DELIVERY_TIMEOUT_SECONDS", default=10.0)
ALERT_DELIVERY_MAX_ATTEMPTS: int = env.int("ALERT_DELIVERY_MAX_ATTEMPTS", default=6)
# Backoff before try n+1: random in [½, 1] × min(max, base × 2^(n-1)) seconds.
ALERT_DELIVERY_BACKOFF_SECONDS: float = env.float("ALERT_DELIVERY_BACKOFF_SECONDS", default=15.0)
ALERT_DELIVERY_BACKOFF_MAX_SECONDS: float = env.float(
    "ALERT_DELIVERY_BACKOFF_MAX_SECONDS", default=1800.0
)
# A pending delivery due this long ago lost its task: check_alerts enqueues it again.
ALERT_DELIVERY_REQUEUE_AFTER_SECONDS: int = env.int(
    "ALERT_DELIVERY_REQUEUE_AFTER_SECONDS", default=120
)
# Partners' webhook and apprise HTTP targets may be loopback or private addresses (SSRF
# guard off): only in development and tests, where receivers run on 127.0.0.1.
ALERT_ALLOW_PRIVATE_TARGETS: bool = env.bool("ALERT_ALLOW_PRIVATE_TARGETS", default=DEBUG)
# HMAC secret of the operators' own webhook channels (partners' channels use their own).
ALERT_OPERATOR_WEBHOOK_SECRET: str = env.str("ALERT_OPERATOR_WEBHOOK_SECRET", default="")
EMAIL_BACKEND: str = env.str(
    "EMAIL_BACKEND",
    default="django.core.mail.backends.console.EmailBackend"
    if DEBUG
    else "django.core.mail.backends.smtp.EmailBackend",
)
EMAIL_HOST: str = env.str("EMAIL_HOST", default="localhost")
EMAIL_PORT: int = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER: str = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD: str = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS: bool = env.bool("EMAIL_USE_TLS", default=False)
EMAIL_TIMEOUT: float = ALERT_DELIVERY_TIMEOUT_SECONDS
DEFAULT_FROM_EMAIL: str = env.str("DEFAULT_FROM_EMAIL", default="alerts@energy-platform.local")

# --- i18n, static ---------------------------------------------------------------------------
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("ko", "한국어")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"

# --- Security (all on outside debug; `manage.py check --deploy` is clean) ---------------------
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
# Content-Security-Policy for every page (pages, admin, API docs): scripts only from this
# origin or inline with the response's nonce (`nonce="{{ request.csp_nonce }}"`), nothing
# framed, no plugins. Inline style attributes stay allowed: the admin uses them, and a style
# cannot run code.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [csp_constants.SELF],
        "script-src": [csp_constants.SELF, csp_constants.NONCE],
        "style-src": [csp_constants.SELF, csp_constants.UNSAFE_INLINE],
        "img-src": [csp_constants.SELF, "data:"],
        "font-src": [csp_constants.SELF],
        "connect-src": [csp_constants.SELF],
        "object-src": [csp_constants.NONE],
        "base-uri": [csp_constants.SELF],
        "form-action": [csp_constants.SELF],
        "frame-ancestors": [csp_constants.NONE],
    }
}
SESSION_COOKIE_HTTPONLY = True
if not DEBUG:
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    # Probes and load balancers speak plain HTTP to the pod.
    SECURE_REDIRECT_EXEMPT = [r"^health/"]
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "common.logs.RequestIdFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
        "json": {"()": "common.logs.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            # LOG_FORMAT=json: one JSON object per line, for log shippers.
            "formatter": env.str("LOG_FORMAT", default="plain"),
            "filters": ["request_id"],
        }
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "axes": {"level": "WARNING"},
        # One line per HTTP request to a TRON node is noise, and slows sync measurably.
        "httpx": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
        "health_check": {"level": "ERROR"},
        # Apprise logs the services it calls; their URLs may carry tokens.
        "apprise": {"level": "CRITICAL"},
        "urllib3": {"level": "WARNING"},
    },
}

# Prometheus scrapes /metrics with `Authorization: Bearer <METRICS_TOKEN>` (empty: no
# endpoint). Set PROMETHEUS_MULTIPROC_DIR (an empty directory) when several processes serve.
METRICS_TOKEN: str = env.str("METRICS_TOKEN", default="")

# Monitoring reads the detailed health endpoints with `X-Health-Token` (empty: staff only).
HEALTH_TOKEN: str = env.str("HEALTH_TOKEN", default="")
# Health: a beat heartbeat older than this marks the scheduler as down.
BEAT_STALE_AFTER = timedelta(seconds=env.int("BEAT_STALE_AFTER_SECONDS", default=120))

if TESTING:
    # Password hashing dominates test time and protects nothing in a test database.
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

"""Settings for the 医保帮扶经办系统 back office.

One module; every deployment knob comes from the environment so the same code runs the embedded demo
(SQLite, tasks in-process) and production (PostgreSQL, Celery on Redis).
"""

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


# DJANGO_ENV=production makes every secret mandatory; anything else is a developer's or CI's machine.
PRODUCTION = os.environ.get("DJANGO_ENV", "development") == "production"
DEBUG = env_bool("DEBUG", False)
if PRODUCTION and DEBUG:
    raise ImproperlyConfigured("DEBUG cannot be on when DJANGO_ENV=production.")

SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if PRODUCTION:
        raise ImproperlyConfigured("SECRET_KEY must be set when DJANGO_ENV=production.")
    SECRET_KEY = "django-insecure-local-development-only"  # noqa: S105 - never used in production (see above)

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost" if DEBUG else "")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_filters",
    "import_export",
    "simple_history",
    "axes",
    "django_celery_beat",
    "enrollment",
    "claims",
    "assistance",
    "monitoring",
]

# Demo data hooks run by `manage.py seed_demo` after enrollment's part, in this order (see the command).
# Each app above enrollment adds its own: "claims.demo.seed_demo", "assistance.demo.seed_demo", ….
DEMO_SEEDERS: list[str] = [
    "claims.demo.seed_demo",
    "assistance.demo.seed_demo",
    # Monitoring runs a night over everything the others seeded, so it stays last.
    "monitoring.demo.seed_demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # POST /api/eligibility/ takes a shorter path from here: only the middleware that protect it (claims/api_path.py).
    "claims.api_path.EligibilityApiMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # Query strings and upload names with a NUL or another control character get a 400 with the reason.
    "enrollment.middleware.RefuseControlCharactersMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    # Axes must be last: it answers locked-out logins before any view runs.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

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

DATABASES = {
    "default": dj_database_url.config(
        env="DATABASE_URL",
        default=f"sqlite:///{BASE_DIR / 'var' / 'db.sqlite3'}",
        conn_max_age=int(os.environ.get("DB_CONN_MAX_AGE", "60")),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    # Concurrent requests (admin + a background import) must wait for the writer instead of failing at once.
    DATABASES["default"].setdefault("OPTIONS", {}).update({"timeout": 30, "transaction_mode": "IMMEDIATE"})
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = False

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

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

# Chinese for everyone, whatever language the browser asks for (no LocaleMiddleware): a bureau's screens read the
# same on every desk. English exists as the msgid language only.
LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", BASE_DIR / "staticfiles"))
MEDIA_URL = "media/"
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", BASE_DIR / "var" / "media"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
# Uploaded rosters can be large; they are streamed to disk, not held in memory.
DATA_UPLOAD_MAX_NUMBER_FIELDS = 10000
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024

LOGIN_URL = "admin:login"

# --- Security: on by default whenever DEBUG is off, each overridable from the environment. ---
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("BEHIND_TLS_PROXY", not DEBUG) else None
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
# Probes call the health check on the plain-HTTP port inside the network; a redirect would read as a failure.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)
SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "0" if DEBUG else "31536000"))
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", not DEBUG)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", not DEBUG)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = int(os.environ.get("SESSION_COOKIE_AGE", str(8 * 3600)))
X_FRAME_OPTIONS = "DENY"

# --- Login lockout (django-axes) ---
AXES_FAILURE_LIMIT = int(os.environ.get("AXES_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = float(os.environ.get("AXES_COOLOFF_HOURS", "1"))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# The lockout page in the admin's look and in Chinese (axes' default is a line of English text).
AXES_LOCKOUT_TEMPLATE = "axes/lockout.html"

# --- Celery: a configured broker means real workers; none means tasks run in-process (embedded default). ---
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "")
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = True
if not CELERY_BROKER_URL:
    CELERY_BROKER_URL = "redis://127.0.0.1:6379/0"
CELERY_RESULT_BACKEND = os.environ.get("CELERY_RESULT_BACKEND") or None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
# The night's schedule is data staff edit in the admin (django-celery-beat's 周期任务 pages); run one beat process.
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"

# --- Import/export ---
IMPORT_EXPORT_SKIP_ADMIN_LOG = True
# Files with more data rows than this are imported by a Celery task, not inside the request.
ROSTER_BACKGROUND_THRESHOLD = int(os.environ.get("ROSTER_BACKGROUND_THRESHOLD", "2000"))
# Hours an export's file stays downloadable (enrollment.services.export_jobs); then it is deleted.
EXPORT_TTL_HOURS = float(os.environ.get("EXPORT_TTL_HOURS", "24"))
# Time a queue's tab counts may take (PostgreSQL) before each tab shows a bounded "超过 999" instead.
QUEUE_COUNT_BUDGET_MS = int(os.environ.get("QUEUE_COUNT_BUDGET_MS", "300"))
# How long one user's tab counts of one queue view are reused while paging (seconds; 0: counted on every page).
# Saving a case or batch renews them at once; imports and due-date recomputations show within this time.
QUEUE_COUNT_CACHE_SECONDS = int(os.environ.get("QUEUE_COUNT_CACHE_SECONDS", "60"))
# Time a large admin list's exact count may take (PostgreSQL) before it shows "超过 10000" instead.
LIST_COUNT_BUDGET_MS = int(os.environ.get("LIST_COUNT_BUDGET_MS", "300"))

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}

ADMIN_SITE_HEADER = _("Medical insurance assistance back office")

# --- Cache: per process by default; CACHE_URL=redis://host:6379/N shares it between server processes (rate
# limits, sessions, the hospital portal's per-session access and per-region-year policy data).
CACHE_URL = os.environ.get("CACHE_URL", "")
CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CACHE_URL}
        if CACHE_URL else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"})
}
# Sessions read from the cache, written through to the database: a session survives a cache flush or restart.
SESSION_ENGINE = os.environ.get("SESSION_ENGINE", "django.contrib.sessions.backends.cached_db")

# --- Hospital portal ---
# Eligibility look-ups a user may make (count/s, m, h or d): a hospital admits patients, it does not sweep ID numbers.
ELIGIBILITY_RATE_LIMIT = os.environ.get("ELIGIBILITY_RATE_LIMIT", "60/m")
# The look-up's two statements are prepared once per database connection (claims/standing_sql.py); turn off behind
# a pooler in transaction mode (PgBouncer), which does not keep prepared statements between transactions.
ELIGIBILITY_PREPARED_STATEMENTS = env_bool("ELIGIBILITY_PREPARED_STATEMENTS", True)

import gc
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_wsgi_application()

# Everything loaded so far (Django, the apps, the translations) lives as long as the process. Frozen, the cyclic
# garbage collector no longer rescans it: an oldest-generation collection took 71 ms in a web worker, stalling
# every request queued behind it, and takes about 1 ms frozen (bench/README.md, eligibility look-up).
gc.freeze()

from django.conf import settings
from django.conf.urls.static import static
from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from config.health import healthz

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="admin:index", permanent=False)),
    path("enrollment/", include("enrollment.urls")),
    path("claims/", include("claims.urls")),
    path("assistance/", include("assistance.urls")),
    path("monitoring/", include("monitoring.urls")),
    path("api/eligibility/", include("claims.eligibility")),
    path("hospital/", include("claims.portal.urls")),
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
]
if settings.DEBUG:
    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)

from django.urls import path
from django.views.generic import RedirectView

from assistance import views

app_name = "assistance"

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="assistance:application_queue", permanent=False), name="index"),
    path("applications/", views.application_queue_view, name="application_queue"),
    path("applications/register/", views.register_application_view, name="register_application"),
    path("applications/<int:pk>/", views.application_detail_view, name="application_detail"),
    path("applications/<int:pk>/slip/", views.application_slip_view, name="application_slip"),
    path("scans/<slug:kind>/<int:pk>/", views.scan_view, name="scan"),
    path("cases/meetings/<int:pk>/attachment/", views.meeting_attachment_view, name="meeting_attachment"),
    path("applications/<int:pk>/<slug:action>/", views.application_action_view, name="application_action"),
    path("cases/", views.case_queue_view, name="case_queue"),
    path("cases/open/", views.open_case_view, name="open_case"),
    path("cases/<int:pk>/", views.case_detail_view, name="case_detail"),
    path("cases/<int:pk>/<slug:action>/", views.case_action_view, name="case_action"),
]

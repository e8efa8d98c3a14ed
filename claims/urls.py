from django.urls import path
from django.views.generic import RedirectView

from claims import views, views_register

app_name = "claims"

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="claims:case_queue", permanent=False), name="index"),
    path("cases/", views.case_queue_view, name="case_queue"),
    path("cases/register/", views_register.register_case_view, name="register_case"),
    path("cases/<int:pk>/", views.case_detail_view, name="case_detail"),
    path("cases/<int:pk>/<slug:action>/", views.case_action_view, name="case_action"),
    path("batches/", views.batch_queue_view, name="batch_queue"),
    path("batches/<int:pk>/", views.batch_detail_view, name="batch_detail"),
    path("batches/<int:pk>/<slug:action>/", views.batch_action_view, name="batch_action"),
]

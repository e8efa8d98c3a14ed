from django.urls import path

from . import views

app_name = "monitoring"

urlpatterns = [
    path("", views.dashboard_view, name="dashboard"),
    path("items/", views.item_queue_view, name="items"),
    path("items/assign/", views.assign_view, name="assign"),
    path("items/<int:pk>/", views.item_detail_view, name="item"),
    path("items/<int:pk>/<slug:action>/", views.item_action_view, name="item_action"),
    path("export/", views.export_view, name="export"),
    path("answers/", views.answer_upload_view, name="answers"),
]

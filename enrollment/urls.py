from django.urls import path

from . import export_views
from .imports import views as import_views

app_name = "enrollment"

urlpatterns = [
    path("imports/", import_views.import_start, name="import-start"),
    path("imports/confirm/", import_views.import_confirm, name="import-confirm"),
    path("imports/<int:pk>/", import_views.import_result, name="import-result"),
    path("imports/<int:pk>/status/", import_views.import_status, name="import-status"),
    path("imports/templates/<slug:kind>.xlsx", import_views.import_template, name="import-template"),
    path("exports/", export_views.export_list, name="export-list"),
    path("exports/<int:pk>/", export_views.export_status, name="export-status"),
    path("exports/<int:pk>/download/", export_views.export_download, name="export-download"),
]

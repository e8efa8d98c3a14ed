from django.urls import path

from . import views

app_name = "hospital"

urlpatterns = [
    path("", views.home_view, name="home"),
    path("login/", views.HospitalLoginView.as_view(), name="login"),
    path("logout/", views.HospitalLogoutView.as_view(), name="logout"),
    path("eligibility/", views.eligibility_view, name="eligibility"),
    path("claims/", views.claims_view, name="claims"),
    path("claims/<int:pk>/slip/", views.claim_slip_view, name="slip"),
    path("batches/", views.batches_view, name="batches"),
    path("batches/new/", views.new_batch_view, name="batch_new"),
    path("batches/file/", views.batch_file_view, name="batch_file"),
    path("batches/<int:pk>/", views.batch_view, name="batch"),
]

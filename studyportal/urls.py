from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from studyportal import views

admin.site.site_header = "StudyPortal administration"
admin.site.site_title = "StudyPortal"

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(redirect_authenticated_user=True),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path(
        "accounts/password/",
        auth_views.PasswordChangeView.as_view(),
        name="password_change",
    ),
    path(
        "accounts/password/done/",
        auth_views.PasswordChangeDoneView.as_view(),
        name="password_change_done",
    ),
    path("instruments/", include("instruments.urls")),
    path("q/", include("instruments.patient_urls")),
    path("analysis/", include("analysis.urls")),
    path("interviews/", include("analysis.interview_urls")),
    path("coding/", include("analysis.coding_urls")),
    path("", include("participants.urls")),
    path("", include("participants.dashboard_urls")),
    path("", include("participants.worklist_urls")),
    path("admin/", admin.site.urls),
]

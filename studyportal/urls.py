from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from studyportal import current_study, two_factor_views, views
from studyportal.logins import AdminLoginForm, LoginForm

admin.site.site_header = "StudyPortal administration"
admin.site.site_title = "StudyPortal"
admin.site.login_form = AdminLoginForm

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("study/", current_study.choose, name="choose_study"),
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(
            authentication_form=LoginForm, redirect_authenticated_user=True
        ),
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
    path("accounts/two-step/", two_factor_views.overview, name="two_factor"),
    path(
        "accounts/two-step/set-up/",
        two_factor_views.set_up,
        name="two_factor_set_up",
    ),
    path(
        "accounts/two-step/turn-off/",
        two_factor_views.turn_off,
        name="two_factor_turn_off",
    ),
    path(
        "accounts/two-step/verify/",
        two_factor_views.verify,
        name="two_factor_verify",
    ),
    path("setup/", include("participants.builder_urls")),
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

handler400 = views.bad_request
handler500 = views.server_error

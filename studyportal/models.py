from django.conf import settings
from django.db import models


class LoginEventKind(models.TextChoices):
    LOGGED_IN = "logged_in", "Logged in"
    LOGGED_OUT = "logged_out", "Logged out"
    FAILED = "failed", "Login failed"
    LOCKED_OUT = "locked_out", "Locked out"
    OTP_SET_UP = "otp_set_up", "Two-step sign-in set up"
    OTP_TURNED_OFF = "otp_turned_off", "Two-step sign-in turned off"
    OTP_VERIFIED = "otp_verified", "Sign-in code accepted"
    OTP_FAILED = "otp_failed", "Sign-in code refused"


class LoginEvent(models.Model):
    """One login, logout, failed login or two-step sign-in event.

    Never the password or code that was tried, nor an authenticator secret.
    """

    kind = models.CharField(max_length=20, choices=LoginEventKind.choices)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    # As typed, so failures for names that match no account are recorded too.
    username = models.CharField(max_length=150, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=255, blank=True)
    at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        when = f"{self.at:%Y-%m-%d %H:%M}" if self.at else "?"
        return f"{self.get_kind_display()}: {self.username or '?'} at {when}"

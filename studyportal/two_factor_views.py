"""Pages of two-step sign-in: the overview, set-up, turning off, and the code step."""

from __future__ import annotations

import re

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render, resolve_url
from django.views.decorators.cache import never_cache

from participants.forms import DomainErrorMixin
from studyportal import two_factor
from studyportal.errors import DomainError
from studyportal.redirects import own_path

CODE_WIDGET_ATTRS = {
    "inputmode": "numeric",
    "autocomplete": "one-time-code",
    "autofocus": True,
    "class": "form-control form-control-lg otp-code",
}


def _six_digits(value: str) -> str:
    # Apps show the code as "123 456"; people copy it that way.
    code = re.sub(r"[\s-]", "", value)
    if not re.fullmatch(r"\d{6}", code):
        raise forms.ValidationError(
            "Enter the 6 digits your authenticator app shows, for example 123 456."
        )
    return code


class CodeForm(DomainErrorMixin, forms.Form):
    code = forms.CharField(
        label="6-digit code",
        max_length=20,
        widget=forms.TextInput(attrs=CODE_WIDGET_ATTRS),
    )

    def clean_code(self) -> str:
        return _six_digits(self.cleaned_data["code"])

    def add_domain_error(self, error: DomainError) -> None:
        super().add_domain_error(error)
        # A refused code is spent; the box is left empty for the next one.
        self.data = self.data.copy()
        self.data["code"] = ""


class TurnOffForm(DomainErrorMixin, forms.Form):
    code = forms.CharField(
        label="Code from your authenticator app",
        max_length=20,
        required=False,
        widget=forms.TextInput(
            attrs={**CODE_WIDGET_ATTRS, "autofocus": False, "class": "otp-code"}
        ),
    )
    password = forms.CharField(
        label="Or your password",
        required=False,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )

    def clean_code(self) -> str:
        code = self.cleaned_data["code"]
        return _six_digits(code) if code.strip() else ""


def _next_url(request) -> str:
    """The page asked for before a sign-in step, if it is one of this site's."""
    return own_path(request, request.POST.get("next") or request.GET.get("next") or "")


@login_required
def overview(request):
    context = {
        "device": two_factor.confirmed_device(request.user),
        "required": settings.STAFF_TWO_FACTOR_REQUIRED,
    }
    return render(request, "studyportal/two_factor/overview.html", context)


@never_cache
@login_required
def set_up(request):
    try:
        device = two_factor.start_set_up(request.user)
    except DomainError as error:
        messages.info(request, error.message)
        return redirect("two_factor")
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            two_factor.confirm_set_up(
                request, device=device, code=form.cleaned_data["code"]
            )
        except DomainError as error:
            form.add_domain_error(error)
        else:
            messages.success(
                request,
                "Two-step sign-in is on. From now on you will enter a code from "
                "your app after your password.",
            )
            return redirect(_next_url(request) or "two_factor")
    required = settings.STAFF_TWO_FACTOR_REQUIRED
    context = {
        "form": form,
        "key": two_factor.set_up_key(device),
        "required": required,
        "next": _next_url(request),
        # Until it is done, a required set-up is the only page there is.
        "signing_in": required,
    }
    return render(request, "studyportal/two_factor/set_up.html", context)


@never_cache
@login_required
def turn_off(request):
    if not two_factor.is_on(request.user):
        messages.info(request, "Two-step sign-in is already off for your account.")
        return redirect("two_factor")
    form = TurnOffForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            two_factor.turn_off(
                request,
                code=form.cleaned_data["code"],
                password=form.cleaned_data["password"],
            )
        except DomainError as error:
            form.add_domain_error(error)
        else:
            messages.success(request, "Two-step sign-in is off for your account.")
            return redirect("two_factor")
    context = {"form": form, "required": settings.STAFF_TWO_FACTOR_REQUIRED}
    return render(request, "studyportal/two_factor/turn_off.html", context)


@never_cache
@login_required
def verify(request):
    target = _next_url(request) or resolve_url(settings.LOGIN_REDIRECT_URL)
    if two_factor.pending_step(request.user, required=False) is None:
        return redirect(target)
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            two_factor.verify_sign_in(request, code=form.cleaned_data["code"])
        except DomainError as error:
            form.add_domain_error(error)
        else:
            return redirect(target)
    context = {"form": form, "next": _next_url(request), "signing_in": True}
    return render(request, "studyportal/two_factor/verify.html", context)

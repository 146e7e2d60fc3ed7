"""Login throttling (django-axes): after a few wrong passwords for one user name, or from one
address, logins are refused for a while, with a page in Chinese that says until when."""

from axes.backends import AxesStandaloneBackend
from axes.helpers import get_cool_off
from django.shortcuts import render
from django.utils import timezone


class LoginThrottleBackend(AxesStandaloneBackend):
    """axes' lockout check for logins that come with a request (the login page). A login without
    one (the test client, a management command) has no address to count: it is left to the next
    backend instead of failing."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)


def lockout_response(request, original_response=None, credentials=None):
    cool_off = get_cool_off(request)
    retry_at = timezone.localtime(timezone.now() + cool_off) if cool_off else None
    context = {
        "minutes": int(cool_off.total_seconds() // 60) if cool_off else None,
        "retry_at": retry_at,
        "site_header": "京东售后管理后台",
    }
    return render(request, "registration/lockout.html", context, status=429)
